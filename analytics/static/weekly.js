/* Weekly summary: the print button (the page itself needs no script). */
"use strict";

(function () {
  var button = document.getElementById("print");
  if (button) button.addEventListener("click", function () { window.print(); });
})();
