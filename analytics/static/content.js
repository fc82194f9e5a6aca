/* DigiGuide dashboard, content editors' pages (analytics/web/content.py): one entry's editor, the locality
 * values and the revision history. The page's values and words come from the JSON block #content-data;
 * the drafts go to /dashboard/api/content/... (content_api.py), with the session's CSRF token.
 *
 * Everything from the server (entries, citizens' questions, previews, diffs) goes into the page as text
 * (textContent, createTextNode, input values), never as HTML; no inline script or style (the CSP).
 *
 * The form: each control has data-path (the YAML key path, "answer.vi") and data-type (text, lines,
 * sources, legal); guides' steps and problems are lists of items cloned from <template>s. `collect()`
 * starts from the entry as it was loaded and writes back what the form covers, so keys the form does
 * not show, and structured sources ({url, checked}), are kept as they were.
 */
"use strict";

(function () {
  var block = document.getElementById("content-data");
  if (!block) return;
  var D = JSON.parse(block.textContent);
  var T = D.t;
  var LOCALE = D.lang === "vi" ? "vi-VN" : "en-GB";
  var API = D.base + "/api/content";

  // -- small helpers -------------------------------------------------------------------------------------
  var el = DG.el;  // dom.js: elements built with DOM methods only, text as text
  function $(id) { return document.getElementById(id); }
  function clone(v) { return v === undefined ? undefined : JSON.parse(JSON.stringify(v)); }
  function fill(text, values) {
    return String(text).replace(/\{(\w+)\}/g, function (m, k) { return values[k] !== undefined ? values[k] : m; });
  }
  function status(text, bad) {
    var s = $("edit-status");
    if (!s) return;
    s.textContent = text || "";
    s.classList.toggle("error", !!bad);
  }
  function when(ts) { return new Date(ts * 1000).toLocaleString(LOCALE, { dateStyle: "short", timeStyle: "short" }); }
  function unescapeHtml(s) { return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, "\"").replace(/&#x27;/g, "'").replace(/&amp;/g, "&"); }

  /* One call to the content API: resolves to {status, data} whatever the status (the callers decide). */
  function api(method, path, body) {
    var init = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (method !== "GET" && D.csrf) init.headers["X-CSRF-Token"] = D.csrf;
    return fetch(API + path, init).then(function (r) {
      if (r.status === 401) { location.reload(); throw new Error("login required"); }
      return r.json().catch(function () { return {}; }).then(function (data) { return { status: r.status, data: data }; });
    });
  }

  function busy(on) {
    document.querySelectorAll("#tools button, .tools-row button").forEach(function (b) { b.disabled = on; });
    document.body.setAttribute("data-busy", on ? "true" : "false");
  }

  // -- key paths -----------------------------------------------------------------------------------------
  function getPath(obj, path) {
    return path.split(".").reduce(function (o, k) { return o === null || o === undefined ? undefined : o[k]; }, obj);
  }
  function setPath(obj, path, value) {
    var keys = path.split("."), o = obj;
    keys.slice(0, -1).forEach(function (k) {
      if (typeof o[k] !== "object" || o[k] === null || Array.isArray(o[k])) o[k] = {};
      o = o[k];
    });
    o[keys[keys.length - 1]] = value;
  }
  function deletePath(obj, path) {
    var keys = path.split("."), o = getPath(obj, keys.slice(0, -1).join(".")) || (keys.length === 1 ? obj : null);
    if (o && typeof o === "object") delete o[keys[keys.length - 1]];
  }

  // -- problems next to their fields ---------------------------------------------------------------------
  function clearProblems(root) {
    root.querySelectorAll(".field-problems").forEach(function (ul) { ul.replaceChildren(); });
    root.querySelectorAll(".has-problem").forEach(function (n) { n.classList.remove("has-problem"); });
    if ($("problems")) $("problems").replaceChildren();
    if ($("conflict")) $("conflict").hidden = true;
  }
  function boxFor(root, field) {
    if (!field) return null;
    var parts = field.split(".");
    for (var n = parts.length; n > 0; n--) {
      var found = root.querySelector('[data-field="' + CSS.escape(parts.slice(0, n).join(".")) + '"]');
      if (found) return found;
    }
    return null;
  }
  /* Each problem under its field (the deepest box whose data-field starts its field), else in the list
   * at the top of the tools, with file and line as `bot check` prints them. */
  function showProblems(root, problems) {
    clearProblems(root);
    problems.forEach(function (p) {
      var box = boxFor(root, p.field);
      var list = box ? box.querySelector(":scope > .field-problems") : null;
      if (list) {
        list.appendChild(el("li", { text: p.message }));
        box.classList.add("has-problem");
      } else if ($("problems")) {
        $("problems").appendChild(el("li", { text: p.file + ":" + p.line + ": " + p.message }));
      }
    });
    var first = root.querySelector(".has-problem");
    if (first && first.scrollIntoView) first.scrollIntoView({ block: "center" });
  }
  function showConflict(data) {
    var box = $("conflict");
    if (!box) return;
    $("conflict-text").textContent = T.conflict + " " + (data.error || "");
    $("conflict-reload").href = location.pathname;
    box.hidden = false;
  }
  /* The usual answers to a write: 422 problems, 409 conflict, 403, other errors. */
  function refused(root, r) {
    if (r.status === 422) {
      showProblems(root, r.data.problems || []);
      status(fill(T.problems_found, { n: (r.data.problems || []).length }), true);
    } else if (r.status === 409) {
      showConflict(r.data);
      status(T.not_published, true);
    } else if (r.status === 403) {
      status(T.forbidden, true);
    } else {
      status(r.data.error || T.error, true);
    }
  }

  // -- the revision history ------------------------------------------------------------------------------
  function diffView(diff) {
    var pre = el("pre", { class: "diff" });
    diff.split("\n").forEach(function (line) {
      var cls = line.indexOf("@@") === 0 ? "hunk" : line.indexOf("+++") === 0 || line.indexOf("---") === 0 ? "meta" : line[0] === "+" ? "add" : line[0] === "-" ? "del" : "";
      pre.appendChild(el("span", { class: cls, text: line + "\n" }));
    });
    return pre;
  }
  function historyFilter() {
    if (D.page === "entry") return D.id ? "?kind=" + encodeURIComponent(D.kind) + "&id=" + encodeURIComponent(D.id) : null;
    if (D.page === "locality") return "?kind=locality";
    return "";
  }
  function loadHistory(afterRevert) {
    var list = $("history-list"), query = historyFilter();
    if (!list || query === null) return Promise.resolve();
    return api("GET", "/revisions" + query).then(function (r) {
      list.replaceChildren();
      var rows = (r.data && r.data.revisions) || [];
      if (!rows.length) list.appendChild(el("li", { class: "muted", text: T.no_history }));
      rows.forEach(function (rev) {
        var what = T["action_" + rev.action] || rev.action;
        var target = rev.kind === "locality" ? "locality.yaml" : rev.kind + ":" + rev.entry_id;
        var head = el("p", { class: "rev-head" }, [
          el("b", { text: "#" + rev.id }), " " + when(rev.ts) + " · " + rev.actor + " · " + what + " · ",
          D.page === "history" && rev.kind !== "locality" ? el("a", { href: D.base + "/content/" + rev.kind + "/" + rev.entry_id, text: target }) : target,
          rev.meta && rev.meta.reverts ? " (" + fill(T.reverts, { n: rev.meta.reverts }) + ")" : ""
        ]);
        var item = el("li", { class: "revision", "data-revision": String(rev.id), "data-action": rev.action }, [head]);
        var details = el("details", {}, [el("summary", { text: T.show_diff }), diffView(rev.diff || "")]);
        item.appendChild(details);
        if (D.can_edit) {
          var note = el("span", { class: "rev-note", role: "status" });
          var button = el("button", { type: "button", class: "secondary", text: T.revert, "data-revert": String(rev.id) });
          button.addEventListener("click", function () { revert(rev.id, button, note); });
          item.appendChild(el("p", { class: "rev-actions" }, [button, " ", note]));
        }
        list.appendChild(item);
      });
      list.setAttribute("data-loaded", "true");
    });
  }
  function revert(revId, button, note) {
    button.disabled = true;
    note.textContent = T.working;
    return api("POST", "/revisions/" + revId + "/revert", {}).then(function (r) {
      button.disabled = false;
      if (r.status !== 200) {
        note.textContent = r.status === 409 || r.status === 422 ? T.revert_refused + " " + (r.data.error || (r.data.problems || []).map(function (p) { return p.message; }).join("; ")) : (r.data.error || T.error);
        note.classList.add("error");
        return;
      }
      note.textContent = "";
      status(fill(T.reverted, { n: revId, version: r.data.version }));
      if (D.page === "entry") return reloadEntry();
      if (D.page === "locality") return reloadLocality();
      return loadHistory();
    });
  }

  // -- the entry editor ----------------------------------------------------------------------------------
  var form = $("entry-form");

  function sourceLabel(s) { return typeof s === "string" ? s : (s && s.url) || ""; }
  function legalLabel(x) { return typeof x === "string" ? x : (x && (x.id || x.title || x.url)) || ""; }
  function lines(text) { return text.split("\n").map(function (l) { return l.trim(); }).filter(function (l) { return l; }); }
  /* Lines back to items: a line equal to an original item's label gives that item back (a structured
   * source keeps its checked date and fingerprint), a new line is a plain text. */
  function keepItems(text, originals, label) {
    var byLabel = {};
    (Array.isArray(originals) ? originals : []).forEach(function (o) { byLabel[label(o)] = o; });
    return lines(text).map(function (l) { return byLabel[l] !== undefined ? clone(byLabel[l]) : l; });
  }

  /* A text box as tall as its text (up to 18 lines), never shorter than the template made it. */
  function fit(ctl) {
    if (ctl.tagName !== "TEXTAREA") return;
    if (!ctl._rows) ctl._rows = ctl.rows;
    var wanted = ctl.value.split("\n").length + 1;
    ctl.rows = Math.min(18, Math.max(ctl._rows, wanted));
  }

  function fillControl(ctl, value) {
    var type = ctl.getAttribute("data-type");
    if (type === "lines") ctl.value = Array.isArray(value) ? value.join("\n") : (value === undefined || value === null ? "" : String(value));
    else if (type === "sources") ctl.value = Array.isArray(value) ? value.map(sourceLabel).join("\n") : "";
    else if (type === "legal") ctl.value = Array.isArray(value) ? value.map(legalLabel).join("\n") : (value ? String(value) : "");
    else {
      var text = value === undefined || value === null ? "" : String(value);
      if (ctl.tagName === "SELECT" && text && !Array.prototype.some.call(ctl.options, function (o) { return o.value === text; })) {
        ctl.appendChild(el("option", { value: text, text: text }));  // a value the menus do not know: shown, kept
      }
      ctl.value = text;
    }
    fit(ctl);
  }

  function repeatItem(name, value) {
    var list = form.querySelector('[data-repeat="' + name + '"]');
    var node = $(list.getAttribute("data-template")).content.firstElementChild.cloneNode(true);
    node._original = value || {};
    node.querySelectorAll("[data-key]").forEach(function (ctl) {
      var v = getPath(value || {}, ctl.getAttribute("data-key"));
      ctl.value = v === undefined || v === null ? "" : String(v);
      fit(ctl);
    });
    node.querySelectorAll("[data-move]").forEach(function (b) {
      b.addEventListener("click", function () {
        var step = Number(b.getAttribute("data-move"));
        var other = step < 0 ? node.previousElementSibling : node.nextElementSibling;
        if (!other) return;
        if (step < 0) list.insertBefore(node, other); else list.insertBefore(other, node);
        numberItems(list);
      });
    });
    node.querySelectorAll("[data-remove]").forEach(function (b) {
      b.addEventListener("click", function () { node.remove(); numberItems(list); });
    });
    list.appendChild(node);
    numberItems(list);
    return node;
  }
  /* Name each item's fields by its position ("steps.2.vi"), for problems and for labels. */
  function numberItems(list) {
    var name = list.getAttribute("data-repeat");
    Array.prototype.forEach.call(list.children, function (node, i) {
      node.setAttribute("data-field", name + "." + i);
      node.querySelectorAll("[data-sub]").forEach(function (box) {
        var path = name + "." + i + "." + box.getAttribute("data-sub");
        box.setAttribute("data-field", path);
        var ctl = box.querySelector("[data-key]"), label = box.querySelector("label");
        ctl.id = "f-" + path.replace(/\./g, "-");
        label.setAttribute("for", ctl.id);
        label.setAttribute("data-n", String(i + 1));
      });
    });
  }

  function fillForm(entry) {
    form.querySelectorAll("[data-path]").forEach(function (ctl) { fillControl(ctl, getPath(entry, ctl.getAttribute("data-path"))); });
    form.querySelectorAll("[data-repeat]").forEach(function (list) {
      list.replaceChildren();
      var items = entry[list.getAttribute("data-repeat")];
      (Array.isArray(items) ? items : []).forEach(function (item) { repeatItem(list.getAttribute("data-repeat"), item); });
    });
  }

  /* The entry as the form has it, on top of the entry as it was loaded (see the file's comment). */
  function collect() {
    var entry = clone(D.entry) || {};
    form.querySelectorAll("[data-path]").forEach(function (ctl) {
      var path = ctl.getAttribute("data-path"), type = ctl.getAttribute("data-type");
      var optional = ctl.hasAttribute("data-optional"), before = getPath(D.entry, path), value;
      if (type === "lines") value = lines(ctl.value);
      else if (type === "sources") value = keepItems(ctl.value, before, sourceLabel);
      else if (type === "legal") value = keepItems(ctl.value, before, legalLabel);
      else value = ctl.value;
      var empty = Array.isArray(value) ? value.length === 0 : String(value).trim() === "";
      if (optional && empty) deletePath(entry, path);
      else setPath(entry, path, value);
    });
    form.querySelectorAll("[data-repeat]").forEach(function (list) {
      entry[list.getAttribute("data-repeat")] = Array.prototype.map.call(list.children, function (node) {
        var item = clone(node._original) || {};
        node.querySelectorAll("[data-key]").forEach(function (ctl) { setPath(item, ctl.getAttribute("data-key"), ctl.value); });
        return item;
      });
    });
    return entry;
  }

  function draftBody(extra) {
    var body = { kind: D.kind, id: D.id, entry: collect() };
    Object.keys(extra || {}).forEach(function (k) { body[k] = extra[k]; });
    return body;
  }

  function readOnly() {
    form.querySelectorAll("input, textarea").forEach(function (c) { c.readOnly = true; });
    form.querySelectorAll("select").forEach(function (c) { c.disabled = true; });
    form.querySelectorAll(".edit-only").forEach(function (c) { c.remove(); });
  }

  // Check -----------------------------------------------------------------------------------------------
  function check() {
    busy(true);
    status(T.checking);
    return api("POST", "/check", draftBody()).then(function (r) {
      busy(false);
      if (r.status !== 200) return refused(form, r);
      showProblems(form, r.data.problems);
      status(r.data.ok ? T.check_ok : fill(T.problems_found, { n: r.data.problems.length }), !r.data.ok);
    });
  }

  // Preview ---------------------------------------------------------------------------------------------
  function buttonRow(row, cls) {
    return el("div", { class: cls + "-row" }, row.map(function (b) { return el("span", { class: cls, text: b.label }); }));
  }
  function renderPreview(data) {
    var tg = $("pv-telegram").querySelector(".pv-body"), zl = $("pv-zalo").querySelector(".pv-body"), web = $("pv-web").querySelector(".pv-body");
    tg.replaceChildren();
    zl.replaceChildren();
    web.replaceChildren();
    data.telegram.forEach(function (m) {
      var msg = el("div", { class: "bubble tg-msg", text: unescapeHtml(m.html) });
      var keyboard = el("div", { class: "tg-keyboard" }, m.buttons.map(function (row) { return buttonRow(row, "tg-button"); }));
      tg.append(msg, keyboard);
    });
    data.zalo.forEach(function (text, i) {
      zl.appendChild(el("div", { class: "bubble zl-msg", text: text }));
      zl.appendChild(el("p", { class: "count" + (text.length > 2000 ? " bad" : ""), text: fill(T.zalo_count, { i: i + 1, n: data.zalo.length, chars: text.length }) }));
    });
    data.web.forEach(function (reply) {
      web.appendChild(el("div", { class: "bubble web-msg", text: reply.text }));
      if (reply.rows && reply.rows.length) web.appendChild(el("div", { class: "web-buttons" }, reply.rows.map(function (row) { return buttonRow(row, "web-button"); })));
    });
  }
  function preview() {
    busy(true);
    status(T.working);
    return api("POST", "/preview", draftBody({ lang: $("preview-lang").value })).then(function (r) {
      busy(false);
      if (r.status !== 200) return refused(form, r);
      clearProblems(form);
      renderPreview(r.data);
      $("preview").hidden = false;
      $("preview").setAttribute("data-loaded", "true");
      status(T.preview_ready);
      $("preview").scrollIntoView({ block: "start" });
    });
  }

  // Try a question --------------------------------------------------------------------------------------
  function decision(name) { return T["decision_" + name] || name; }
  function routeLabel(route) { return route.entry ? route.entry + " (" + decision(route.decision) + ")" : decision(route.decision); }
  function tryQuestion() {
    var text = $("try-text").value.trim(), out = $("try-result");
    if (!text) { $("try-text").focus(); return Promise.resolve(); }
    busy(true);
    out.replaceChildren(el("p", { class: "muted", text: T.working }));
    return api("POST", "/try", draftBody({ text: text })).then(function (r) {
      busy(false);
      out.replaceChildren();
      if (r.status !== 200) return refused(form, r);
      var a = r.data, ex = a.explain || {};
      out.setAttribute("data-decision", ex.decision || a.kind);
      out.setAttribute("data-entry", a.id || "");
      out.appendChild(el("p", { class: "try-verdict" }, [
        el("b", { text: decision(ex.decision || a.kind) }), a.id ? " · " + a.id : "", " · " + T.score + " " + Number(a.score).toFixed(2)
      ]));
      if (ex.reason) out.appendChild(el("p", { class: "muted", text: ex.reason }));
      if (a.suggestions && a.suggestions.length) {
        out.appendChild(el("ul", { class: "suggestions" }, a.suggestions.map(function (s) { return el("li", { text: s.id + " – " + s.title }); })));
      }
      out.appendChild(el("div", { class: "bubble web-msg small", text: a.text }));
    });
  }

  // Impact ----------------------------------------------------------------------------------------------
  function impact() {
    var out = $("impact-result");
    busy(true);
    status(T.impact_running);
    out.replaceChildren();
    return api("POST", "/impact", draftBody()).then(function (r) {
      busy(false);
      if (r.status !== 200) return refused(form, r);
      var m = r.data;
      clearProblems(form);
      status("");
      out.setAttribute("data-changed", String(m.changed));
      out.appendChild(el("h3", { text: T.impact_title }));
      out.appendChild(el("p", { class: "impact-summary", text: m.changed ? fill(T.impact_summary, { n: m.changed, total: m.questions, better: m.better, worse: m.worse }) : fill(T.impact_none, { total: m.questions }) }));
      var list = el("ul", { class: "moves" });
      m.moves.forEach(function (move) {
        var cls = move.worse ? "move worse" : move.better ? "move better" : "move";
        var item = el("li", { class: cls }, [
          el("p", { text: fill(T.move, { n: move.count, a: routeLabel(move.before), b: routeLabel(move.after) }) }),
          el("p", { class: "muted", text: fill(T.move_counts, { better: move.better, worse: move.worse }) }),
          el("ul", { class: "examples" }, move.examples.map(function (e) { return el("li", { text: "“" + e.q + "” (" + e.set + ")" }); }))
        ]);
        list.appendChild(item);
      });
      out.appendChild(list);
    });
  }

  // Publish, retire, restore ----------------------------------------------------------------------------
  function publish() {
    var extra = { version: D.version };
    if (D.prefill && D.prefill.resolves && D.prefill.resolves.length) extra.resolves = D.prefill.resolves;
    if (D.prefill && D.prefill.ticket) extra.ticket = D.prefill.ticket;  // an official's question: recorded as turned into content
    var body = draftBody(extra), entry = body.entry;
    busy(true);
    status(T.publishing);
    var call = D.id === null ? api("POST", "/" + D.kind, body) : api("PUT", "/" + D.kind + "/" + encodeURIComponent(D.id), body);
    return call.then(function (r) {
      busy(false);
      if (r.status !== 200 && r.status !== 201) return refused(form, r);
      clearProblems(form);
      if (D.id === null) {
        location.assign(D.base + "/content/" + D.kind + "/" + encodeURIComponent(r.data.id) + "?published=" + encodeURIComponent(r.data.version));
        return;
      }
      D.version = r.data.version;
      D.entry = entry;
      $("version").textContent = D.version;
      if (D.prefill) {
        D.prefill = null;
        if ($("prefill-note")) $("prefill-note").remove();
        if ($("prefill-answer")) $("prefill-answer").remove();
      }
      status(r.data.revisions.length ? fill(T.published, { version: D.version }) : T.nothing_changed);
      document.body.setAttribute("data-published", D.version);
      return loadHistory();
    });
  }
  function lifecycle(action) {
    busy(true);
    status(T.working);
    return api("POST", "/" + D.kind + "/" + encodeURIComponent(D.id) + "/" + action, { version: D.version }).then(function (r) {
      busy(false);
      if (r.status !== 200) return refused(form, r);
      location.reload();
    });
  }
  function reloadEntry() {
    return api("GET", "/" + D.kind + "/" + encodeURIComponent(D.id)).then(function (r) {
      if (r.status === 404) { location.assign(D.base + "/content"); return; }
      D.entry = r.data.entry;
      D.version = r.data.version;
      $("version").textContent = D.version;
      clearProblems(form);
      fillForm(D.entry);
      return loadHistory();
    });
  }

  function entryPage() {
    fillForm(D.entry);
    if (!D.can_edit || D.retired) { readOnly(); }
    form.querySelectorAll("[data-add]").forEach(function (b) {
      b.addEventListener("click", function () {
        var name = b.getAttribute("data-add");
        var node = repeatItem(name, name === "steps" ? { vi: "", en: "" } : { problem: { vi: "", en: "" }, fix: { vi: "", en: "" } });
        node.querySelector("[data-key]").focus();
      });
    });
    var on = function (id, fn) { if ($(id)) $(id).addEventListener("click", function () { fn().catch(function (e) { busy(false); status(T.error, true); throw e; }); }); };
    on("btn-check", check);
    on("btn-preview", preview);
    on("btn-impact", impact);
    on("btn-publish", publish);
    on("btn-try", tryQuestion);
    on("btn-retire", function () { return lifecycle("retire"); });
    on("btn-restore", function () { return lifecycle("restore"); });
    if ($("try-text")) {
      $("try-text").addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); $("btn-try").click(); } });
      if (D.prefill && D.prefill.question) $("try-text").value = D.prefill.question;
    }
    if ($("preview-lang")) {
      $("preview-lang").value = D.lang;
      $("preview-lang").addEventListener("change", function () { if (!$("preview").hidden) preview(); });
    }
    var published = new URLSearchParams(location.search).get("published");
    if (published) status(fill(T.published, { version: published }));
    return loadHistory();
  }

  // -- locality values ------------------------------------------------------------------------------------
  /* Columns per section: [label, key path inside the item, kind]; hotlines and offices are mappings keyed
   * by id (the key is not editable: answers name it in placeholders), wards and working groups lists. */
  var LOCALITY = {
    hotlines: { map: true, cols: [[T.loc_key, null], [T.loc_number, "number"], [T.loc_label + " (vi)", "label.vi"], [T.loc_label + " (en)", "label.en"]] },
    offices: { map: true, cols: [[T.loc_key, null], [T.loc_name + " (vi)", "name.vi"], [T.loc_name + " (en)", "name.en"]] },
    wards: { cols: [[T.loc_id, "id"], [T.loc_name + " (vi)", "name.vi"], [T.loc_name + " (en)", "name.en"]] },
    working_groups: { cols: [[T.loc_id, "id"], [T.loc_name + " (vi)", "name.vi"], [T.loc_name + " (en)", "name.en"], [T.loc_ward, "ward"], [T.loc_code, "code"]] }
  };
  var locForm = $("locality-form");

  function locRow(section, key, item) {
    var spec = LOCALITY[section], tr = el("tr", { class: "loc-row" });
    tr._original = clone(item) || {};
    tr._key = key;
    spec.cols.forEach(function (col) {
      var td = el("td", { class: "field-box" });
      if (col[1] === null) td.appendChild(el("code", { text: key }));
      else {
        var v = getPath(item || {}, col[1]);
        var input = el("input", { type: "text", value: v === undefined || v === null ? "" : String(v), "aria-label": col[0] });
        input.setAttribute("data-key", col[1]);
        td.setAttribute("data-sub", col[1]);
        td.append(input, el("ul", { class: "field-problems" }));
      }
      tr.appendChild(td);
    });
    if (!spec.map && D.can_edit) {
      var remove = el("button", { type: "button", class: "secondary", text: T.remove });
      remove.addEventListener("click", function () { tr.remove(); numberRows(); });
      tr.appendChild(el("td", {}, [remove]));
    }
    return tr;
  }
  function numberRows() {
    Object.keys(LOCALITY).forEach(function (section) {
      var rows = $("loc-" + section).querySelectorAll("tbody tr");
      Array.prototype.forEach.call(rows, function (tr, i) {
        var base = section + "." + (LOCALITY[section].map ? tr._key : i);
        tr.setAttribute("data-field", base);
        tr.querySelectorAll("[data-sub]").forEach(function (td) { td.setAttribute("data-field", base + "." + td.getAttribute("data-sub")); });
      });
    });
  }
  function fillLocality(loc) {
    Object.keys(LOCALITY).forEach(function (section) {
      var spec = LOCALITY[section], box = $("loc-" + section);
      box.querySelector("thead").replaceChildren(el("tr", {}, spec.cols.map(function (c) { return el("th", { text: c[0], scope: "col" }); })));
      var body = box.querySelector("tbody");
      body.replaceChildren();
      var value = loc[section];
      if (spec.map) {
        Object.keys(value || {}).forEach(function (key) {
          if (value[key] && typeof value[key] === "object") body.appendChild(locRow(section, key, value[key]));
        });
      } else {
        (Array.isArray(value) ? value : []).forEach(function (item) { body.appendChild(locRow(section, null, item)); });
      }
    });
    numberRows();
    if (!D.can_edit) locForm.querySelectorAll("input").forEach(function (c) { c.readOnly = true; });
  }
  function collectLocality() {
    var loc = clone(D.locality) || {};
    Object.keys(LOCALITY).forEach(function (section) {
      var spec = LOCALITY[section], rows = $("loc-" + section).querySelectorAll("tbody tr");
      var items = Array.prototype.map.call(rows, function (tr) {
        var item = clone(tr._original) || {};
        tr.querySelectorAll("[data-key]").forEach(function (input) { setPath(item, input.getAttribute("data-key"), input.value.trim()); });
        return [tr._key, item];
      });
      if (spec.map) {
        var map = loc[section] || {};
        items.forEach(function (pair) { map[pair[0]] = pair[1]; });
        loc[section] = map;
      } else if (items.length || loc[section] !== undefined) {
        loc[section] = items.map(function (pair) { return pair[1]; });
      }
    });
    return loc;
  }
  function publishLocality() {
    var loc = collectLocality();
    busy(true);
    status(T.publishing);
    return api("PUT", "/locality", { version: D.version, locality: loc }).then(function (r) {
      busy(false);
      if (r.status !== 200) return refused(locForm, r);
      clearProblems(locForm);
      D.version = r.data.version;
      D.locality = loc;
      $("version").textContent = D.version;
      status(fill(T.published, { version: D.version }));
      document.body.setAttribute("data-published", D.version);
      return loadHistory();
    });
  }
  function reloadLocality() {
    return api("GET", "/locality").then(function (r) {
      D.locality = r.data.locality;
      D.version = r.data.version;
      $("version").textContent = D.version;
      fillLocality(D.locality);
      return loadHistory();
    });
  }
  function localityPage() {
    fillLocality(D.locality);
    locForm.querySelectorAll("[data-add-row]").forEach(function (b) {
      b.addEventListener("click", function () {
        var section = b.getAttribute("data-add-row");
        var blank = section === "wards" ? { id: "", name: { vi: "", en: "" } } : { id: "", name: { vi: "", en: "" }, ward: "", code: "" };
        var tr = locRow(section, null, blank);
        $("loc-" + section).querySelector("tbody").appendChild(tr);
        numberRows();
        tr.querySelector("input").focus();
      });
    });
    if ($("btn-publish")) $("btn-publish").addEventListener("click", function () { publishLocality().catch(function (e) { busy(false); status(T.error, true); throw e; }); });
    return loadHistory();
  }

  var started = D.page === "entry" ? entryPage() : D.page === "locality" ? localityPage() : loadHistory();
  Promise.resolve(started).then(function () {
    document.body.setAttribute("data-loaded", "true");
  }).catch(function (err) {
    document.body.setAttribute("data-loaded", "error");
    status(T.error, true);
    if (window.console) console.error(err);
  });
})();
