/* DigiGuide dashboard: loads each report section from /dashboard/api/section/<name> (in parallel, with the
 * page's filters), draws the charts with the vendored Chart.js and fills the tables.
 *
 * Everything from the server, above all citizens' questions, goes into the page as text (textContent,
 * createTextNode), never as HTML. The page's settings and words come from the JSON block #dash-data;
 * there is no inline script (the Content-Security-Policy forbids it).
 */
"use strict";

(function () {
  var block = document.getElementById("dash-data");
  if (!block) return;
  var D = JSON.parse(block.textContent);
  var T = D.t;
  var LOCALE = D.lang === "vi" ? "vi-VN" : "en-GB";
  var fmtN = new Intl.NumberFormat(LOCALE);
  var fmtP = new Intl.NumberFormat(LOCALE, { style: "percent", maximumFractionDigits: 1 });
  // Okabe–Ito: told apart with the common colour-vision deficiencies
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#8C6D1F", "#000000"];
  var CHANNEL_COLORS = { zalo: "#0068FF", telegram: "#27A7E7", web: "#7A4FBF", console: "#777777" };
  var KIND_COLORS = { answered: "#1f7a44", suggest: "#f0b429", fallback: "#c0392b" };
  var topicIds = Object.keys(D.topics);
  var entries = {};
  D.entries.forEach(function (e) { entries[e.id] = e; });
  var NARROW = window.matchMedia("screen and (max-width: 760px)").matches;
  var charts = {};
  var state = { period: D.period, data: {} };

  // -- small helpers -------------------------------------------------------------------------------------
  var el = DG.el;  // dom.js: elements built with DOM methods only, text as text
  function n(v) { return v === null || v === undefined ? "–" : fmtN.format(v); }
  function p(v) { return v === null || v === undefined ? "–" : fmtP.format(v); }
  function day(d) {
    if (!d) return "–";
    return D.lang === "vi" ? d.slice(8, 10) + "/" + d.slice(5, 7) + "/" + d.slice(0, 4) : d;
  }
  function shortDay(d) { return d.length === 10 ? d.slice(8, 10) + "/" + d.slice(5, 7) : d; }
  function topicName(id) { return id ? (D.topics[id] || id) : T.no_topic; }
  function topicColor(id) { var i = topicIds.indexOf(id); return i < 0 ? "#9aa5b1" : PALETTE[i % PALETTE.length]; }
  function channelName(id) { return id ? (D.channels[id] || id) : T.none; }
  function entryTitle(id) { return entries[id] ? entries[id].title : id; }
  function cut(text, max) { return text.length > max ? text.slice(0, max - 1) + "…" : text; }
  function status(text, isError) {
    var s = document.getElementById("status");
    s.textContent = text || "";
    s.classList.toggle("error", !!isError);
  }
  function sectionUrl(name) { return D.base + "/api/section/" + name + (D.query ? "?" + D.query : ""); }
  function csvUrl(name) { return D.base + "/export/" + name + ".csv" + (D.query ? "?" + D.query : ""); }

  function load(name) {
    return fetch(sectionUrl(name), { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (r.status === 401) {
        location.assign(D.base + "/login?next=" + encodeURIComponent(location.pathname + location.search));
        throw new Error("login required");
      }
      if (!r.ok) throw new Error(name + ": HTTP " + r.status);
      return r.json();
    }).then(function (body) {
      state.data[name] = body.data;
      return body.data;
    });
  }

  // -- charts --------------------------------------------------------------------------------------------
  if (window.Chart) {
    Chart.defaults.animation = false;
    Chart.defaults.maintainAspectRatio = false;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#333c47";
    Chart.defaults.plugins.legend.position = "bottom";
    Chart.defaults.plugins.legend.labels.boxWidth = 12;
    if (NARROW) {
      Chart.defaults.font.size = 11;
      Chart.defaults.plugins.legend.labels.boxWidth = 10;
    }
  }

  function draw(id, config) {
    if (!window.Chart) return;
    if (charts[id]) charts[id].destroy();
    charts[id] = new Chart(document.getElementById(id), config);
  }

  function stackedBar(labels, datasets, percentAxis) {
    return {
      type: "bar",
      data: { labels: labels, datasets: datasets },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: true, grid: { display: false } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }
        },
        plugins: { tooltip: { callbacks: percentAxis ? {} : { label: function (c) { return c.dataset.label + ": " + n(c.parsed.y); } } } }
      }
    };
  }

  function drawSeries(points) {
    var labels = [], seen = {}, topics = [], cells = {}, kinds = {};
    points.forEach(function (pt) {
      if (!seen[pt.period]) { seen[pt.period] = true; labels.push(pt.period); kinds[pt.period] = { answered: 0, suggest: 0, fallback: 0 }; }
      if (topics.indexOf(pt.topic) < 0) topics.push(pt.topic);
      cells[pt.period + "|" + pt.topic] = pt.questions;
      kinds[pt.period].answered += pt.answered;
      kinds[pt.period].suggest += pt.suggest;
      kinds[pt.period].fallback += pt.fallback;
    });
    topics.sort(function (a, b) { return topicOrder(a) - topicOrder(b); });
    var shown = labels.map(shortDay);
    draw("chart-time", stackedBar(shown, topics.map(function (tp) {
      return { label: topicName(tp), backgroundColor: topicColor(tp), data: labels.map(function (l) { return cells[l + "|" + tp] || 0; }) };
    })));
    draw("chart-answered", stackedBar(shown, ["answered", "suggest", "fallback"].map(function (k) {
      return { label: T[k], backgroundColor: KIND_COLORS[k], data: labels.map(function (l) { return kinds[l][k]; }) };
    })));
  }

  function doughnut(id, rows, name, color) {
    draw(id, {
      type: "doughnut",
      data: {
        labels: rows.map(function (r) { return name(r.value); }),
        datasets: [{ data: rows.map(function (r) { return r.questions; }), backgroundColor: rows.map(function (r) { return color(r.value); }), borderWidth: 1 }]
      },
      options: {
        cutout: "55%",
        plugins: {
          legend: { position: NARROW ? "bottom" : "right" },
          tooltip: {
            callbacks: {
              label: function (c) {
                var total = c.dataset.data.reduce(function (a, b) { return a + b; }, 0);
                return c.label + ": " + n(c.parsed) + " (" + p(total ? c.parsed / total : null) + ")";
              }
            }
          }
        }
      }
    });
  }

  function drawFunnels(funnels) {
    var longest = 0;
    funnels.forEach(function (f) { longest = Math.max(longest, f.steps.length); });
    var labels = [];
    for (var i = 0; i < longest; i++) labels.push(i === 0 ? T.overview : T.step + " " + i);
    draw("chart-funnels", {
      type: "line",
      data: {
        labels: labels,
        datasets: funnels.slice(0, 8).map(function (f, k) {
          return {
            label: cut(f.title || f.guide_id, 42),
            borderColor: PALETTE[k % PALETTE.length],
            backgroundColor: PALETTE[k % PALETTE.length],
            data: f.steps.map(function (s) { return f.users ? Math.round((s.users / f.users) * 1000) / 10 : 0; }),
            tension: 0.2
          };
        })
      },
      options: {
        scales: { y: { beginAtZero: true, max: 100, ticks: { callback: function (v) { return v + " %"; } } } },
        plugins: { tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + c.parsed.y + " %"; } } } }
      }
    });
  }

  // -- tables --------------------------------------------------------------------------------------------
  function table(id, columns, rows) {
    var t = document.getElementById(id);
    t.replaceChildren();
    t.appendChild(el("thead", {}, [el("tr", {}, columns.map(function (c) { return el("th", { text: c.label, class: c.num ? "num" : "", scope: "col" }); }))]));
    var body = el("tbody");
    if (!rows.length) body.appendChild(el("tr", {}, [el("td", { text: T.empty, colSpan: columns.length, class: "muted" })]));
    rows.forEach(function (row) {
      var tr = el("tr", { class: row._class || "" });
      columns.forEach(function (c) {
        var href = c.href ? c.href(row) : null;  // a cell that links (the lowest-rated answer to its editor)
        var cell = el("td", { text: href ? null : c.value(row), class: c.cls ? c.cls(row) : (c.num ? "num" : "") }, href ? [el("a", { href: href, text: c.value(row) })] : []);
        tr.appendChild(cell);
      });
      body.appendChild(tr);
    });
    t.appendChild(body);
  }

  function renderKpis(t) {
    var box = document.getElementById("kpis");
    box.replaceChildren();
    [["questions", T.questions, n(t.questions)], ["answer_rate", T.answer_rate, p(t.answer_rate)],
     ["fallback_rate", T.fallback_rate, p(t.fallback_rate)], ["acceptance", T.acceptance, p(t.suggestion_acceptance)],
     ["users", T.users, n(t.unique_users)], ["feedback", T.feedback, n(t.feedback)]].forEach(function (k) {
      box.appendChild(el("div", { class: "kpi" }, [el("div", { class: "kpi-label", text: k[1] }), el("div", { class: "kpi-value", text: k[2], "data-kpi": k[0] }),
        el("div", { class: "kpi-hint", text: T[k[0] + "_hint"] || "" })]));  // what the figure counts
    });
  }

  function topicOrder(id) { var i = topicIds.indexOf(id); return i < 0 ? (id ? 90 : 99) : i; }

  function renderTop(rows) {
    rows = rows.slice().sort(function (a, b) { return topicOrder(a.topic) - topicOrder(b.topic) || a.rank - b.rank; });
    var last = null;
    rows.forEach(function (r) { r._class = r.topic !== last ? "group-start" : ""; last = r.topic; });
    table("top-table", [
      { label: T.topic, value: function (r) { return r.rank === 1 ? topicName(r.topic) : ""; }, cls: function () { return "topic"; } },
      { label: T.rank, value: function (r) { return String(r.rank); }, num: true },
      { label: T.question, value: function (r) { return r.example; } },
      { label: T.count, value: function (r) { return n(r.count); }, num: true },
      { label: T.last_day, value: function (r) { return day(r.last_day); }, num: true }
    ], rows);
  }

  function renderLowest(rows) {
    table("lowest-table", [
      { label: T.entry, value: function (r) { return r.title || r.entry_id; },
        href: function (r) { var e = entries[r.entry_id]; return e ? D.base + "/content/" + e.kind + "/" + encodeURIComponent(e.id) : null; } },
      { label: T.topic, value: function (r) { return topicName(r.topic); }, cls: function () { return "topic"; } },
      { label: T.up, value: function (r) { return n(r.up); }, num: true },
      { label: T.down, value: function (r) { return n(r.down); }, num: true },
      { label: T.helpful, value: function (r) { return p(r.helpful_share); }, cls: function (r) { return r.helpful_share < 0.5 ? "num bad" : "num"; } }
    ], rows.slice(0, 10));
  }

  function renderFunnelTable(rows) {
    table("funnel-table", [
      { label: T.guide, value: function (r) { return (r.title || r.guide_id); } },
      { label: T.topic, value: function (r) { return topicName(r.topic); }, cls: function () { return "topic"; } },
      { label: T.started, value: function (r) { return n(r.users); }, num: true },
      { label: T.finished, value: function (r) { return n(r.finished); }, num: true },
      { label: T.completion, value: function (r) { return p(r.completion_rate); }, num: true },
      {
        label: T.biggest_drop, value: function (r) {
          var worst = null;
          r.steps.forEach(function (s) { if (s.dropped && (!worst || s.dropped > worst.dropped)) worst = s; });
          return worst ? (worst.step === 0 ? T.overview : T.step + " " + worst.step) + " (" + p(worst.drop_off_rate) + ")" : "–";
        }
      }
    ], rows);
  }

  // -- the unanswered inbox ------------------------------------------------------------------------------
  function entrySelect(cluster) {
    var select = el("select", { "aria-label": T.choose_entry });
    select.appendChild(el("option", { value: "", text: T.choose_entry }));
    var order = topicIds.slice().sort(function (a, b) { return (a === cluster.topic ? -1 : 0) - (b === cluster.topic ? -1 : 0); });
    order.forEach(function (tp) {
      var group = el("optgroup", { label: topicName(tp) });
      D.entries.forEach(function (e) { if (e.topic === tp) group.appendChild(el("option", { value: e.id, text: e.title })); });
      if (group.children.length) select.appendChild(group);
    });
    if (cluster.entry_id) select.value = cluster.entry_id;
    return select;
  }

  function mark(cluster, statusName, entryId, item) {
    item.querySelectorAll("button, select").forEach(function (b) { b.disabled = true; });
    return fetch(D.base + "/api/mark", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": D.csrf },
      body: JSON.stringify({ keys: cluster.keys, status: statusName, entry_id: entryId || null })
    }).then(function (r) {
      if (r.status === 401) { location.reload(); throw new Error("login required"); }
      if (!r.ok) throw new Error("mark: HTTP " + r.status);
      return load("unanswered");
    }).then(function (rows) {
      renderInbox(rows);
      status(T.saved);
    }).catch(function (err) {
      status(T.error, true);
      item.querySelectorAll("button, select").forEach(function (b) { b.disabled = false; });
      throw err;
    });
  }

  /* "Add as a phrasing of <the chosen entry>" and "New entry from this question": links to the content
   * editor (analytics/web/content.py) with the group's question and its keys (the most asked first), so
   * that publishing marks the group resolved. */
  function editorLinks(cluster, select) {
    var question = cluster.example || cluster.examples[0] || cluster.key;
    var keys = cluster.keys.slice(0, 20).map(function (k) { return "&resolves=" + encodeURIComponent(k); }).join("");
    var add = el("a", { class: "edit-link", "data-action": "add-phrasing", hidden: true });
    var fresh = el("a", { class: "edit-link", "data-action": "new-entry", text: T.new_entry_from,
                          href: D.base + "/content/new?kind=faq&question=" + encodeURIComponent(question) + keys });
    function update() {
      var e = entries[select.value];
      add.hidden = !e;
      if (!e) return;
      add.textContent = T.add_phrasing + ": " + cut(e.title, 60);
      add.href = D.base + "/content/" + e.kind + "/" + encodeURIComponent(e.id) + "?add=" + encodeURIComponent(question) + keys;
    }
    update();
    return { node: el("span", { class: "edit-links" }, [add, fresh]), update: update };
  }

  function renderInbox(rows) {
    var list = document.getElementById("inbox-list");
    list.replaceChildren();
    if (!rows.length) list.appendChild(el("li", { class: "muted", text: T.empty }));
    rows.forEach(function (c) {
      var item = el("li", { class: "cluster " + c.status, "data-key": c.key });
      var examples = el("ul", { class: "examples" }, c.examples.map(function (x) { return el("li", { text: "“" + x + "”" }); }));
      if (!c.examples.length) examples.appendChild(el("li", { text: c.key }));
      var meta = el("p", { class: "meta", text: [
        topicName(c.topic),
        day(c.first_day) + " – " + day(c.last_day),
        T.fallback + ": " + n(c.fallback),
        T.suggest + ": " + n(c.suggest)
      ].join(" · ") });
      var badge = el("span", { class: "badge " + c.status, text: T[c.status], "data-status": c.status });
      var markLine = null;
      if (c.status !== "open") {
        var bits = [badge];
        if (c.entry_id) bits.push(" " + T.answered_by + ": " + entryTitle(c.entry_id));
        if (c.marked_on) bits.push(" (" + T.marked_on + " " + day(c.marked_on) + ")");
        if (c.status === "resolved" && c.after_mark > 0) bits.push(el("span", { class: "bad", text: " · " + n(c.after_mark) + " " + T.after_mark }));
        markLine = el("p", { class: "mark" }, bits);
      }
      var actions = el("div", { class: "actions" });
      if (!D.can_mark) {
        actions = null;  // a viewer reads the inbox; marking is an editor's (the server refuses it too)
      } else if (c.status === "open") {
        var select = entrySelect(c);
        var resolve = el("button", { type: "button", text: T.resolve, disabled: true, "data-action": "resolve" });
        var ignore = el("button", { type: "button", class: "secondary", text: T.ignore, "data-action": "ignore" });
        var edits = editorLinks(c, select);  // the content editor, pre-filled with this question
        select.addEventListener("change", function () { resolve.disabled = !select.value; edits.update(); });
        resolve.addEventListener("click", function () { if (select.value) mark(c, "resolved", select.value, item); });
        ignore.addEventListener("click", function () { mark(c, "ignored", null, item); });
        actions.append(select, resolve, ignore, edits.node);
      } else {
        var reopen = el("button", { type: "button", class: "secondary", text: T.reopen, "data-action": "reopen" });
        reopen.addEventListener("click", function () { mark(c, "open", null, item); });
        actions.append(reopen);
      }
      var count = el("div", { class: "count" }, [el("b", { text: n(c.count) }), el("small", { text: T.times })]);
      var body = el("div", { class: "body" }, [c.status === "open" ? badge : null, examples, meta, markLine, actions]);
      item.append(count, body);
      list.appendChild(item);
    });
  }

  // -- loading -------------------------------------------------------------------------------------------
  function seriesName() { return state.period === "day" ? "daily" : "weekly"; }

  function loadSeries() {
    var name = seriesName();
    ["chart-time", "chart-answered"].forEach(function (id) {
      var link = document.getElementById(id).closest(".card").querySelector("a.csv");
      if (link) link.href = csvUrl(name);
    });
    return load(name).then(drawSeries);
  }

  document.querySelectorAll(".toggle [data-period]").forEach(function (button) {
    button.addEventListener("click", function () {
      state.period = button.getAttribute("data-period");
      document.querySelectorAll(".toggle [data-period]").forEach(function (b) {
        b.setAttribute("aria-pressed", String(b === button));
      });
      loadSeries().catch(function () { status(T.error, true); });
    });
  });

  if (D.error) {
    status("");
    return;
  }
  var jobs = [
    load("totals").then(renderKpis),
    loadSeries(),
    load("by_topic").then(function (rows) { doughnut("chart-topics", rows, topicName, topicColor); }),
    load("by_channel").then(function (rows) { doughnut("chart-channels", rows, channelName, function (c) { return CHANNEL_COLORS[c] || "#9aa5b1"; }); }),
    load("funnels").then(function (rows) { drawFunnels(rows); renderFunnelTable(rows); }),
    load("top_questions").then(renderTop),
    load("unanswered").then(renderInbox),
    load("helpfulness").then(renderLowest)
  ];
  Promise.all(jobs).then(function () {
    var totals = state.data.totals;
    status(totals && totals.questions === 0 ? T.empty : "");
    document.body.setAttribute("data-loaded", "true");
  }).catch(function (err) {
    status(T.error, true);
    document.body.setAttribute("data-loaded", "error");
    if (window.console) console.error(err);
  });
})();
