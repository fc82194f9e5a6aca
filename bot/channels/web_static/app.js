/* DigiGuide web chat.
 *
 * Plain JavaScript, no framework and nothing from the internet, so the page works on a cheap phone on a
 * local network. Everything the server or the citizen wrote is put into the page as text nodes
 * (textContent, createTextNode), never parsed as HTML: a typed "<img onerror=...>" stays text. Web
 * addresses and phone numbers in the bot's words become links built the same way (createElement).
 * The engine decides everything; this file only sends what the citizen did and shows the replies.
 * What arrives later (an official's reply to the citizen's question, an answer they asked to be told) is
 * fetched from /api/chat/pending: when the page opens on a session it had before, and every 20 s while the
 * tab is visible (not at all while it is hidden: a phone's data and battery are the citizen's).
 */
"use strict";

(function () {
  var SESSION_KEY = "digiguide.session";
  var LANG_KEY = "digiguide.lang";
  var SESSION_RE = /^[A-Za-z0-9_-]{8,64}$/;
  var START_RE = /^[A-Za-z0-9_-]{1,64}$/;
  var URL_RE = /https?:\/\/[^\s<>"'“”‘’]+/g;
  var TIMEOUT_MS = 20000;
  var POLL_MS = 20000;  // a look for arrivals while the tab is visible
  var POLL_BUSY_MS = 2000;  // a look put off while a message is on its way
  var POLL_MAX_MS = 300000;  // after failures the looks space out (doubling), up to 5 minutes

  // Phone numbers as the content writes them, made tap-to-call. Linked wherever they appear: 1800/1900
  // lines ("1900 0368", "19006769", "1900 54 54 54") and numbers of 10 or 11 digits starting with 0 or +84
  // ("0912 345 678", "024 3823 4567"). A short number (113, 156, 5656, 1022) only when written as a
  // hotline: a pair like "156 / 5656", after a word such as "gọi", "tổng đài", "call", "report ... to"
  // (at most four words between, no punctuation), heading a list entry ("• 113: cảnh sát"), or after
  // another linked number and "hoặc"/"or".
  // Never linked: amounts (10.000.000 đồng), years (2025, 1975), dates (15/12/2025), document numbers
  // (2345/QĐ), 12-digit ID numbers, digits inside words. No lookbehind: older phones' Safari lacks it.
  var LETTER = "A-Za-z\\u00C0-\\u024F\\u0300-\\u036F\\u1E00-\\u1EFF";  // Latin letters, Vietnamese included
  var WORDISH_RE = new RegExp("[" + LETTER + "0-9_+]");
  var PHONE_END = "(?![" + LETTER + "0-9_]|[.,/-][" + LETTER + "0-9])";
  var LONG_PHONE = "1[89]00(?:[ .-]?\\d{4}|[ .-]?\\d{2}[ .-]?\\d{2}(?:[ .-]?\\d{2})?|[ .-]?\\d{3}[ .-]?\\d{3})" +
    "|(?:\\+84[ .]?|0)\\d(?:[ .-]?\\d){8,9}";
  var SHORT_PHONE = "(?:1[0-7]\\d{2}|1\\d{2}|(?!20)[2-9]\\d{3})";
  var PHONE_RE = new RegExp("(" + LONG_PHONE + ")" + PHONE_END + "|(" + SHORT_PHONE + "(?:\\s*/\\s*" + SHORT_PHONE + ")*)" + PHONE_END, "g");
  var HOTLINE_CUE_RE = new RegExp("(?:^|[^" + LETTER + "])(?:gọi|điện thoại|tổng đài|đường dây nóng|đầu số|hotline|helpline|nhắn tin|liên hệ|báo" +
    "|call|dial|phone|sms|report|contact)(?:\\s+[" + LETTER + "'’/-]+){0,4}\\s*:?\\s*$");
  var ALSO_RE = /^\s*(?:,|\/|hoặc|or)\s*$/;
  var LIST_HEAD_RE = /^[ \t]*(?:[•*·–-][ \t]*)?$/;  // the start of a line, perhaps a bullet

  // The page's own words (the bot's words come from the server, from content/messages.yaml).
  var UI = {
    vi: {
      title: "DigiGuide – Trợ lý kỹ năng số",
      hotline: "📞 Tổng đài",
      switchLang: "English",
      switchAction: "l:en",
      label: "Câu hỏi của bạn",
      placeholder: "Gõ câu hỏi của bạn…",
      send: "Gửi",
      typing: "DigiGuide đang trả lời…",
      logLabel: "Cuộc trò chuyện",
      you: "Bạn: ",
      offline: "Chưa gửi được, có thể do mạng yếu. Bạn kiểm tra mạng rồi bấm “Thử lại” nhé.",
      retry: "↻ Thử lại"
    },
    en: {
      title: "DigiGuide – Digital skills assistant",
      hotline: "📞 Helplines",
      switchLang: "Tiếng Việt",
      switchAction: "l:vi",
      label: "Your question",
      placeholder: "Type your question…",
      send: "Send",
      typing: "DigiGuide is answering…",
      logLabel: "Conversation",
      you: "You: ",
      offline: "Could not send, perhaps the connection is weak. Check your connection, then tap “Try again”.",
      retry: "↻ Try again"
    }
  };

  var page = {};
  var state = { lang: "vi", busy: false, session: "" };
  var poll = { timer: 0, failures: 0, inFlight: false };

  // -- storage and session ------------------------------------------------------------------------------
  function storageGet(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }

  function storageSet(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* private mode: keep it in memory */ }
  }

  function randomId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  /** The opaque id the server keys this conversation by; a new one if missing or tampered with. */
  function sessionId() {
    var id = storageGet(SESSION_KEY);
    if (!id || !SESSION_RE.test(id)) {
      id = randomId();
      storageSet(SESSION_KEY, id);
    }
    return id;
  }

  // -- language -----------------------------------------------------------------------------------------
  function applyLang(lang) {
    if (!UI[lang]) return;
    var words = UI[lang];
    state.lang = lang;
    storageSet(LANG_KEY, lang);
    document.documentElement.lang = lang;
    document.title = words.title;
    document.querySelectorAll("[data-i18n]").forEach(function (node) { node.textContent = words[node.dataset.i18n]; });
    document.querySelectorAll("[data-i18n-placeholder]").forEach(function (node) { node.placeholder = words[node.dataset.i18nPlaceholder]; });
    document.querySelectorAll("[data-i18n-aria-label]").forEach(function (node) { node.setAttribute("aria-label", words[node.dataset.i18nAriaLabel]); });
    page.lang.lang = lang === "vi" ? "en" : "vi";  // the switch is labelled in the other language
  }

  // -- rendering (text nodes only) ----------------------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  /** A link only for a well-formed http(s) URL; anything else stays plain text. */
  function link(url) {
    var parsed;
    try { parsed = new URL(url); } catch (e) { return document.createTextNode(url); }
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return document.createTextNode(url);
    var a = el("a", "", url);
    a.href = parsed.href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }

  /** A tap-to-call link showing the number exactly as written; the href keeps its digits (and a leading +). */
  function callLink(shown) {
    var a = el("a", "tel", shown);
    a.href = "tel:" + shown.replace(/[^\d+]/g, "");
    return a;
  }

  /** Whether the short number text[index, end) is written as a hotline: "gọi 113", "report it to 156", or
   *  heading an entry of a list of numbers ("• 113: cảnh sát").  */
  function hotlineCue(text, index, end) {
    var head = text.slice(text.lastIndexOf("\n", index - 1) + 1, index);
    if (LIST_HEAD_RE.test(head) && /^[ \t]*:/.test(text.slice(end))) return true;
    var before = text.slice(Math.max(0, index - 80), index).toLowerCase();
    return HOTLINE_CUE_RE.test(before.normalize ? before.normalize("NFC") : before);
  }

  /** Append text[from, to), turning phone numbers into tap-to-call links; the text around them is kept. */
  function appendPhones(parent, text, from, to) {
    var segment = text.slice(from, to);
    var last = 0;
    var linkedEnd = -1;  // where the last linked number ended: "gọi 113 hoặc 115" links both
    var match;
    PHONE_RE.lastIndex = 0;
    while ((match = PHONE_RE.exec(segment)) !== null) {
      var at = match.index;
      var before = segment.charAt(at - 1);
      if (WORDISH_RE.test(before) || (/[.,\/-]/.test(before) && /\d/.test(segment.charAt(at - 2)))) {
        PHONE_RE.lastIndex = at + 1;  // inside a word or a longer number (10.000.000, 15/12/2025)
        continue;
      }
      var parts = match[1] ? [match[1]] : match[2].split(/(\s*\/\s*)/);  // "156 / 5656": two numbers
      var linked = match[1] || parts.length > 1 || hotlineCue(text, from + at, from + at + match[0].length) ||
        (linkedEnd >= 0 && ALSO_RE.test(segment.slice(linkedEnd, at).toLowerCase()));
      if (!linked) continue;
      parent.appendChild(document.createTextNode(segment.slice(last, at)));
      parts.forEach(function (part, i) {
        parent.appendChild(i % 2 ? document.createTextNode(part) : callLink(part));  // odd parts: " / "
      });
      last = linkedEnd = at + match[0].length;
    }
    parent.appendChild(document.createTextNode(segment.slice(last)));
  }

  /** Append text, turning web addresses and phone numbers into links (trailing punctuation stays outside). */
  function appendText(parent, text) {
    var last = 0;
    var match;
    URL_RE.lastIndex = 0;
    while ((match = URL_RE.exec(text)) !== null) {
      var url = match[0].replace(/[.,;:!?)\]]+$/, "");
      appendPhones(parent, text, last, match.index);
      parent.appendChild(link(url));
      last = match.index + url.length;
      URL_RE.lastIndex = last;
    }
    appendPhones(parent, text, last, text.length);
  }

  function choiceButton(label, onClick) {
    var button = el("button", "choice", label);
    button.type = "button";
    button.addEventListener("click", onClick);
    return button;
  }

  /** The engine's button rows ("rows"), or the flat contract list ("buttons") one per row. */
  function rowsOf(reply) {
    if (Array.isArray(reply.rows) && reply.rows.length) return reply.rows;
    return (Array.isArray(reply.buttons) ? reply.buttons : []).map(function (b) { return [b]; });
  }

  function choices(rows) {
    var group = el("div", "choices");
    rows.forEach(function (row) {
      var line = el("div", "row");
      (Array.isArray(row) ? row : []).forEach(function (b) {
        if (!b || typeof b.label !== "string" || typeof b.action !== "string") return;
        line.appendChild(choiceButton(b.label, function () { send({ action: b.action }, b.label, true); }));
      });
      if (line.childNodes.length) group.appendChild(line);
    });
    return group;
  }

  function addUser(text) {
    var item = el("div", "msg user");
    item.appendChild(el("span", "visually-hidden", UI[state.lang].you));
    item.appendChild(el("p", "text", text));
    page.log.appendChild(item);
  }

  function addBot(text, rows) {
    var item = el("div", "msg bot");
    item.tabIndex = -1;  // focus target after a tapped button disappears
    item.appendChild(el("span", "visually-hidden", "DigiGuide: "));
    var body = el("p", "text");
    appendText(body, text);
    item.appendChild(body);
    if (rows.length) item.appendChild(choices(rows));
    page.log.appendChild(item);
    return item;
  }

  function addRetry(payload) {
    var words = UI[state.lang];
    var item = addBot(words.offline, []);
    item.appendChild(el("div", "choices")).appendChild(el("div", "row"))
      .appendChild(choiceButton(words.retry, function () { send(payload, "", true); }));
    return item;
  }

  /** Older buttons go once new ones arrive: "s:2" means the 2nd of the *latest* suggestions. */
  function clearChoices() {
    page.log.querySelectorAll(".choices").forEach(function (node) { node.remove(); });
  }

  function reveal(item, moveFocus) {
    if (!item) return;
    if (moveFocus) item.focus({ preventScroll: true });
    item.scrollIntoView({ block: "start" });  // long answers are read from their first line
  }

  /** A start link (a poster's QR code) promises one thing: a guide, a topic, an answer. The engine greets
   *  first, then sends it. Show the arrival from the greeting when all of it fits on the screen; otherwise
   *  start the screen at the promised reply, so it is never below the fold behind the welcome's menu. */
  function revealArrival(items) {
    var first = items[0];
    var end = items[items.length - 1].getBoundingClientRect().bottom;
    var fits = end - first.getBoundingClientRect().top <= page.main.clientHeight;
    reveal(fits ? first : items[1], false);
  }

  function setBusy(on) {
    state.busy = on;
    page.log.setAttribute("aria-busy", on ? "true" : "false");
    page.app.classList.toggle("busy", on);
    page.typing.hidden = !on;
    if (on) page.typing.scrollIntoView({ block: "end" });
  }

  // -- talking to the server ----------------------------------------------------------------------------
  async function post(payload) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : 0;
    try {
      var response = await fetch("/api/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(Object.assign({ session: state.session }, payload)),
        cache: "no-store",
        credentials: "same-origin",
        signal: controller ? controller.signal : undefined
      });
      var data = await response.json().catch(function () { return null; });
      return { ok: response.ok, data: data };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Send one thing the citizen did; `echo` is what to show as their message ("" for nothing). */
  async function send(payload, echo, fromButton) {
    if (state.busy) return;
    if (echo) addUser(echo);
    setBusy(true);
    var result = null;
    try { result = await post(payload); } catch (e) { result = null; }
    setBusy(false);
    var data = result && result.data;
    if (!data || !Array.isArray(data.replies)) {
      reveal(addRetry(payload), fromButton);
      return;
    }
    if (result.ok) clearChoices();  // on 429/500 keep the old buttons so a tap can try again
    if (data.lang === "vi" || data.lang === "en") applyLang(data.lang);
    var items = data.replies.map(function (reply) {
      return addBot(String(reply && reply.text || ""), rowsOf(reply || {}));
    });
    if (payload.start && result.ok && items.length > 1) revealArrival(items);
    else reveal(items[0], fromButton);
  }

  // -- arrivals (GET /api/chat/pending) ------------------------------------------------------------------
  async function getPending() {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : 0;
    try {
      var response = await fetch("/api/chat/pending?session=" + encodeURIComponent(state.session), {
        cache: "no-store",
        credentials: "same-origin",
        signal: controller ? controller.signal : undefined
      });
      var data = await response.json().catch(function () { return null; });
      return response.ok && data && Array.isArray(data.replies) ? data.replies : null;
    } finally {
      clearTimeout(timer);
    }
  }

  function schedulePoll(ms) {
    clearTimeout(poll.timer);
    poll.timer = document.visibilityState === "hidden" ? 0 : setTimeout(checkArrivals, ms);
  }

  /** Look for arrivals and show them as the bot's messages (their text names who wrote them). */
  async function checkArrivals() {
    clearTimeout(poll.timer);
    poll.timer = 0;
    if (poll.inFlight || document.visibilityState === "hidden") return;  // a visible tab starts again
    if (state.busy) { schedulePoll(POLL_BUSY_MS); return; }
    poll.inFlight = true;
    var replies = null;
    try { replies = await getPending(); } catch (e) { replies = null; }
    poll.inFlight = false;
    if (replies) {
      poll.failures = 0;
      var items = replies.map(function (reply) {
        return addBot(String(reply && reply.text || ""), rowsOf(reply || {}));
      });
      if (items.length) reveal(items[0], false);
    } else {
      poll.failures = Math.min(poll.failures + 1, 4);
    }
    schedulePoll(Math.min(POLL_MS * Math.pow(2, poll.failures), POLL_MAX_MS));
  }

  function onVisibility() {
    if (document.visibilityState === "hidden") {
      clearTimeout(poll.timer);
      poll.timer = 0;
    } else {
      checkArrivals();  // back on the page: what came meanwhile, at once
    }
  }

  function startPayload() {
    var params = new URLSearchParams(window.location.search);
    var payload = params.get("start") || "";
    if (params.has("start") && window.history.replaceState) {
      window.history.replaceState(null, "", window.location.pathname);  // a reload shows the welcome
    }
    return START_RE.test(payload) ? payload : "";
  }

  // -- wiring -------------------------------------------------------------------------------------------
  function init() {
    ["main", "log", "typing", "composer", "q", "hotline", "lang"].forEach(function (id) { page[id] = document.getElementById(id); });
    page.app = document.querySelector(".app");
    var returning = SESSION_RE.test(storageGet(SESSION_KEY) || "");  // a session that may have arrivals
    state.session = sessionId();
    applyLang(storageGet(LANG_KEY) === "en" ? "en" : "vi");

    page.composer.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = page.q.value.trim();
      if (!text || state.busy) return;
      page.q.value = "";
      send({ text: text }, text, false);
    });
    page.hotline.addEventListener("click", function () { send({ action: "h" }, page.hotline.textContent, true); });
    page.lang.addEventListener("click", function () {
      send({ action: UI[state.lang].switchAction }, page.lang.textContent, true);
    });
    document.addEventListener("visibilitychange", onVisibility);
    send({ start: startPayload() }, "", false).then(function () {
      if (returning) checkArrivals();  // after the welcome, so what arrived is the last thing on the screen
      else schedulePoll(POLL_MS);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
