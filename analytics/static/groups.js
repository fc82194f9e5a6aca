/* Working groups' pages (/dashboard/groups): the posters' print button. Everything else is plain HTML. */
"use strict";

(function () {
  var button = document.getElementById("print");
  if (button) button.addEventListener("click", function () { window.print(); });
})();
