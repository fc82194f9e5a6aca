/* DigiGuide web chat.
 *
 * Plain JavaScript, no framework and nothing from the internet, so the page works on a cheap phone on a
 * local network. Everything the server or the citizen wrote is put into the page as text nodes
 * (textContent, createTextNode), never parsed as HTML: a typed "<img onerror=...>" stays text.
 * The engine decides everything; this file only sends what the citizen did and shows the replies.
 */
"use strict";

(function () {
  var SESSION_KEY = "digiguide.session";
  var LANG_KEY = "digiguide.lang";
  var SESSION_RE = /^[A-Za-z0-9_-]{8,64}$/;
  var START_RE = /^[A-Za-z0-9_-]{1,64}$/;
  var URL_RE = /https?:\/\/[^\s<>"'“”‘’]+/g;
  var TIMEOUT_MS = 20000;

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

  /** Append text, turning web addresses into links (trailing punctuation stays outside the link). */
  function appendText(parent, text) {
    var last = 0;
    var match;
    URL_RE.lastIndex = 0;
    while ((match = URL_RE.exec(text)) !== null) {
      var url = match[0].replace(/[.,;:!?)\]]+$/, "");
      parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      parent.appendChild(link(url));
      last = match.index + url.length;
      URL_RE.lastIndex = last;
    }
    parent.appendChild(document.createTextNode(text.slice(last)));
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
    var first = null;
    data.replies.forEach(function (reply) {
      var item = addBot(String(reply && reply.text || ""), rowsOf(reply || {}));
      first = first || item;
    });
    reveal(first, fromButton);
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
    ["log", "typing", "composer", "q", "hotline", "lang"].forEach(function (id) { page[id] = document.getElementById(id); });
    page.app = document.querySelector(".app");
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
    send({ start: startPayload() }, "", false);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
