/* DigiGuide dashboard: the DOM helper every dashboard script shares (load it before them).
 *
 * el(tag, props, kids) builds an element with DOM methods only: "text" becomes textContent, "class" the
 * className, data-/aria-/role/for attributes are set as attributes, anything else as a property; kids are
 * nodes or strings (text nodes). Nothing is ever parsed as HTML, so citizens' questions stay text.
 */
"use strict";

window.DG = window.DG || {};
(function () {
  function el(tag, props, kids) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      var v = props[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.indexOf("data-") === 0 || k.indexOf("aria-") === 0 || k === "role" || k === "for") node.setAttribute(k, v);
      else node[k] = v;
    });
    (kids || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }
  window.DG.el = el;
})();
