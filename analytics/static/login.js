/* Dashboard login. The link `python -m bot serve` prints carries the token in the URL fragment
 * (/dashboard/login#token=...): browsers never send a fragment to the server, so the token stays out of
 * access logs and Referer headers. Here it moves into the form, leaves the address bar and is submitted. */
"use strict";

(function () {
  var match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  var form = document.getElementById("login-form");
  if (!match || !form) return;
  history.replaceState(null, "", location.pathname + location.search);
  var token;
  try {
    token = decodeURIComponent(match[1]);
  } catch (e) {
    return;
  }
  form.elements.token.value = token;
  form.submit();
})();
