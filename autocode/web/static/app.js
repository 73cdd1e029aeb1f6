// autocode annotation page. No framework, no CDN: served from the package.
// Served by `autocode annotate`, every request carries the per-session token (X-Autocode-Token);
// served by `autocode serve` (a team server: a <meta name="csrf-token"> in the page), the login cookie
// goes along by itself and every request carries the login's CSRF token (X-CSRF-Token).
// All transcript text is set with textContent (never innerHTML).
"use strict";
(() => {
  const meta = (name) => (document.querySelector(`meta[name="${name}"]`) || {}).content || "";
  const CSRF = meta("csrf-token");
  const TEAM = CSRF !== "";
  const ROLE = meta("autocode-role");
  const params = new URLSearchParams(location.search);
  const TOKEN = TEAM ? "" : params.get("token") || sessionStorage.getItem("autocode-token") || "";
  if (!TEAM) {
    sessionStorage.setItem("autocode-token", TOKEN);
    history.replaceState(null, "", location.pathname);  // keep the token out of the address bar and history
  }

  const RETRY_MS = 2000;
  const TOKEN_REFUSED = TEAM
    ? "Refused: this page's login has changed (you may have logged in again elsewhere): reload the page."
    : "The session token is no longer valid (the server may have been restarted): "
      + "open the link that `autocode annotate` printed.";
  const LOGGED_OUT = "Your login has ended: log in again (an answer not yet saved is sent after you do).";
  const NOT_CONFIRMED = "Not confirmed: the server did not answer. Retrying when it is back…";
  const NOTHING_TICKED = "Nothing is ticked: tick a code, or press 0 to save ‘no code’";
  const THRESHOLD_NOTE = "Each code has its own threshold, chosen on the coded data.";
  const MEASURE = "Do new answers still change the model's predictions?";
  const TEXT_INPUTS = new Set(["text", "search", "email", "url", "number", "password", "tel"]);

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const pct = (x) => Math.round(x * 100) + "%";
  const isNum = (x) => typeof x === "number" && Number.isFinite(x);

  const state = {
    task: null, progress: null, coder: "", ticked: new Set(), codes: new Map(), chips: [],
    busy: false, pending: null, nodes: new Map(),
  };

  function newId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // ------------------------------------------------------------------ requests
  async function api(path, body) {
    let res;
    try {
      res = await fetch(path, {
        method: body === undefined ? "GET" : "POST",
        headers: TEAM ? { "X-CSRF-Token": CSRF, "Content-Type": "application/json" }
          : { "X-Autocode-Token": TOKEN, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (e) {  // no answer at all: the server stopped, is restarting, or the network failed
      const err = new Error("the server did not answer");
      err.network = true;
      throw err;
    }
    const data = await res.json().catch(() => ({}));
    if (TEAM && res.status === 401) setTimeout(() => location.assign("/login"), 1500);  // after the message shows
    if (!res.ok) {
      const err = new Error(data.error || `${res.status} ${res.statusText}`.trim());
      err.status = res.status;
      err.field = data.field;
      throw err;
    }
    return data;
  }

  function status(msg, kind) {
    const s = $("status");
    s.textContent = msg || "";
    s.className = kind || "";
  }

  function errorText(e, what) {
    if (TEAM && e.status === 401) return LOGGED_OUT;
    if (e.status === 403) return TOKEN_REFUSED;
    if (e.network) return NOT_CONFIRMED;
    if (e.status === 413) return `${what}: ${e.message}`;
    if (e.status >= 500) return `${what}: the server failed (${e.message}).`;
    return `${what}: ${e.message}` + (e.field ? ` (${e.field})` : "");
  }

  // ------------------------------------------------------------------ code names
  function shortPath(path) {
    const parts = path.split("/");
    return parts.length > 2 ? `${parts[0]}/…/${parts[parts.length - 1]}` : path;
  }
  const codeName = (path) => (state.codes.get(path) || {}).name || path.split("/").pop();
  const codeList = (codes) => (codes && codes.length ? codes.map(shortPath).join("; ") : "no code");

  // ------------------------------------------------------------------ codebook tree
  function renderTree(codebook) {
    const tree = $("tree");
    tree.textContent = "";
    state.nodes = new Map();
    for (const group of codebook || []) {
      const box = el("div", "group");
      const head = el("button", "group-toggle");
      head.type = "button";
      head.setAttribute("aria-expanded", "true");
      head.appendChild(el("span", "twist", "▾"));
      head.appendChild(el("span", "group-name", group.name + (group.exclusive ? " (one code)" : "")));
      head.title = `Collapse or expand the group ${group.name}`;
      head.addEventListener("click", () => setOpen(box, head, box.classList.contains("collapsed")));
      box.appendChild(head);
      const root = el("ul", "codes");
      box.appendChild(root);
      const stack = [];  // [{depth, ul, node}]
      for (const code of group.codes) {
        state.codes.set(code.path, code);
        while (stack.length && stack[stack.length - 1].depth >= code.depth) stack.pop();
        const parent = stack.length ? stack[stack.length - 1] : null;
        let ul = root;
        if (parent) {
          if (!parent.node.childList) {  // the parent gets its children list and its toggle now
            parent.node.childList = el("ul", "codes");
            parent.node.li.appendChild(parent.node.childList);
            parent.node.li.classList.add("branch");
            const t = parent.node.toggle;
            t.hidden = false;
            t.addEventListener("click", () => setOpen(parent.node.li, t, parent.node.li.classList.contains("collapsed")));
          }
          ul = parent.node.childList;
        }
        const li = el("li");
        const row = el("div", "row");
        const toggle = el("button", "twisty");
        toggle.type = "button";
        toggle.hidden = true;
        toggle.setAttribute("aria-expanded", "true");
        toggle.setAttribute("aria-label", `Collapse or expand ${code.name}`);
        toggle.appendChild(el("span", "twist", "▾"));
        row.appendChild(toggle);
        if (code.codable) {
          const label = el("label");
          const check = el("input");
          check.type = "checkbox";
          check.dataset.path = code.path;
          check.addEventListener("change", () => toggle_(code.path, check.checked));
          label.appendChild(check);
          label.appendChild(document.createTextNode(" " + code.name));
          if (code.description) label.title = code.description;
          row.appendChild(label);
        } else {
          const span = el("span", "notcodable", code.name);
          if (code.description) span.title = code.description;
          row.appendChild(span);
        }
        li.appendChild(row);
        li.dataset.path = code.path;
        ul.appendChild(li);
        const node = { li, toggle, childList: null, parent: parent ? parent.node : null, group: box,
                       text: (code.name + " " + (code.description || "")).toLowerCase() };
        state.nodes.set(code.path, node);
        stack.push({ depth: code.depth, node });
      }
      tree.appendChild(box);
    }
  }

  function setOpen(container, button, open) {
    container.classList.toggle("collapsed", !open);
    button.setAttribute("aria-expanded", String(open));
  }

  function search(q) {
    q = q.trim().toLowerCase();
    const tree = $("tree");
    tree.classList.toggle("searching", q !== "");
    const shown = new Set();
    const matched = new Set();
    for (const [path, node] of state.nodes) {
      if (q && node.text.includes(q)) {
        matched.add(path);
        for (let n = node; n; n = n.parent) shown.add(n);  // a match keeps its theme and domain
      }
    }
    for (const [path, node] of state.nodes) {
      let under = false;  // a match's own sub-codes stay visible under it
      for (let n = node.parent; n && !under; n = n.parent) under = matched.has(n.li.dataset.path);
      const visible = !q || shown.has(node) || under;
      node.li.classList.toggle("hidden", !visible);
      node.li.classList.toggle("match", !!q && matched.has(path));
      if (q && shown.has(node) && node.childList && !matched.has(path)) setOpen(node.li, node.toggle, true);  // open to show a match
      if (q && matched.has(path) && node.childList && node.li.classList.contains("collapsed")) setOpen(node.li, node.toggle, true);
    }
    for (const group of tree.querySelectorAll(".group")) {
      const any = !!group.querySelector("li:not(.hidden)");
      group.classList.toggle("hidden", !!q && !any);  // no empty headings
      if (q && any) setOpen(group, group.querySelector(".group-toggle"), true);
    }
  }

  function firstMatch() {
    for (const li of $("tree").querySelectorAll("li:not(.hidden)")) {
      let ok = li.classList.contains("match");
      for (let p = li.parentElement; !ok && p && p.id !== "tree"; p = p.parentElement) ok = p.classList.contains("match");
      const box = li.querySelector(":scope > .row input[type=checkbox]");
      if (ok && box) return box.dataset.path;
    }
    return null;
  }

  // ------------------------------------------------------------------ ticks and chips
  function syncTicks() {
    for (const box of document.querySelectorAll("#tree input[type=checkbox]")) box.checked = state.ticked.has(box.dataset.path);
    for (const chip of document.querySelectorAll(".chip")) {
      const on = state.ticked.has(chip.dataset.path);
      chip.classList.toggle("on", on);
      chip.setAttribute("aria-pressed", String(on));
    }
  }

  function tickedSummary() {
    const n = state.ticked.size;
    return n ? `${n} ticked: Enter saves ${codeList([...state.ticked])}.` : NOTHING_TICKED;
  }

  function toggle_(path, on) {
    if (!state.task) { syncTicks(); return; }
    if (on === undefined) on = !state.ticked.has(path);
    if (on) state.ticked.add(path); else state.ticked.delete(path);
    if (on && !state.chips.includes(path)) renderChips();
    else syncTicks();
    if (!state.busy) status(`${on ? "Ticked" : "Unticked"} ${codeName(path)}. ${tickedSummary()}`);
  }

  function chip(path, i, suggestion) {
    const c = el("button", "chip");
    c.type = "button";
    c.dataset.path = path;
    if (i < 9) c.appendChild(el("kbd", null, String(i + 1)));
    c.appendChild(el("span", "name", codeName(path)));
    let title = path;
    if (suggestion && isNum(suggestion.probability)) {
      const th = isNum(suggestion.threshold) ? suggestion.threshold : null;
      c.appendChild(el("span", "p", pct(suggestion.probability) + (th !== null ? ` · ticks at ${pct(th)}` : "")));
      title += `\nThe model gives ${pct(suggestion.probability)}. `
        + (th !== null ? `This code is pre-ticked when it reaches ${pct(th)}. ` : "This code has no threshold of its own yet. ")
        + THRESHOLD_NOTE;
    }
    c.title = title;
    c.addEventListener("click", () => toggle_(path));
    return c;
  }

  function renderChips() {
    const suggestions = (state.task && state.task.suggestions) || [];
    const byPath = new Map(suggestions.map((s) => [s.path, s]));
    const suggested = suggestions.filter((s) => s.suggested).map((s) => s.path);
    const possible = suggestions.filter((s) => !s.suggested).map((s) => s.path);
    const added = [...state.ticked].filter((p) => !byPath.has(p));
    for (const p of state.chips) if (!byPath.has(p) && !added.includes(p)) added.push(p);  // stays, once added
    state.chips = [...suggested, ...possible, ...added];
    let i = 0;
    for (const [id, paths] of [["row-suggested", suggested], ["row-possible", possible], ["row-added", added]]) {
      const row = $(id);
      const box = row.querySelector(".chips");
      box.textContent = "";
      for (const p of paths) box.appendChild(chip(p, i++, byPath.get(p)));
      row.hidden = paths.length === 0;
    }
    $("no-suggestions").hidden = state.chips.length > 0;
    syncTicks();
  }

  // ------------------------------------------------------------------ task, progress
  function renderContext(list, turns) {
    list.textContent = "";
    for (const t of turns || []) {
      const li = el("li");
      li.appendChild(el("span", "who", (t.speaker || "") + ":"));
      li.appendChild(document.createTextNode(" " + t.text));
      li.title = "Click to show all of this turn";
      li.addEventListener("click", () => li.classList.toggle("open"));
      list.appendChild(li);
    }
  }

  function quoteItem(text, tail, title) {
    const li = el("li");
    li.appendChild(el("span", "quote", `“${text}”`));
    li.appendChild(el("span", "codes", tail));
    li.title = title || "Click to show all of this segment";
    li.addEventListener("click", () => li.classList.toggle("open"));
    return li;
  }

  const byWhom = (coders) => (coders && coders.length ? ` · ${coders.join(", ")}` : "");
  const similarity = (x) => (isNum(x.similarity) ? ` (${pct(x.similarity)} similar)` : "");

  // each ticked code: the words behind it, then on one row the two most similar coded segments
  // that carry it (with who coded them) and the most similar one that does not
  function renderEvidence(reason, s) {
    const ev = s.evidence;
    const box = el("div", "evidence");
    const head = el("div", "head");
    head.appendChild(el("span", "label", codeName(s.path)));
    if (ev.words && ev.words.length) head.appendChild(el("span", "words", ` · words: ${ev.words.join(", ")}`));
    box.appendChild(head);
    const ul = el("ul", "similar");
    for (const x of ev.like || []) ul.appendChild(quoteItem(x.text, byWhom(x.coders), `${pct(x.similarity)} similar, coded ${codeName(s.path)}: click to show all of it`));
    if (ev.unlike) {
      const u = ev.unlike;
      const li = quoteItem(u.text, ` → ${(u.codes || []).join("; ") || "no code"}${byWhom(u.coders)}`,
        `${pct(u.similarity)} similar, not coded ${codeName(s.path)}: click to show all of it`);
      li.classList.add("unlike");
      li.prepend(el("span", "not", "not:"));
      ul.appendChild(li);
    }
    box.appendChild(ul);
    reason.appendChild(box);
  }

  function renderReasons(task) {
    const reason = $("reason");
    reason.textContent = "";
    const explained = (task.suggestions || []).filter((s) => s.suggested && s.evidence);
    if (explained.length) {
      for (const s of explained) renderEvidence(reason, s);
      reason.hidden = false;
      return;
    }
    if (task.words && task.words.length) {
      const w = el("div", "words");
      w.appendChild(el("span", "label", "Words behind the top suggestion: "));
      w.appendChild(document.createTextNode(task.words.join(", ")));
      reason.appendChild(w);
    }
    if (task.similar && task.similar.length) {
      reason.appendChild(el("div", "label", "Most similar coded segments:"));
      const ul = el("ul", "similar");
      for (const s of task.similar) {
        ul.appendChild(quoteItem(s.text, `→ ${(s.codes || []).join("; ") || "no code"}` + similarity(s)));
      }
      reason.appendChild(ul);
    }
    reason.hidden = !reason.firstChild;
  }

  function canUndo() {
    const p = state.progress || {};
    const answered = p.session_answered ?? p.answered ?? 0;
    return answered + (p.skipped || 0) + (p.coder_answered || 0) > 0;
  }

  function renderTask(task) {
    state.task = task || null;
    $("memo").value = "";
    const parts = ["meta", "before", "segment", "after", "suggestions", "reason", "memo-row", "accept", "none", "skip"];
    $("done").hidden = !!task;
    for (const id of parts) $(id).hidden = !task;
    document.body.classList.toggle("finished", !task);
    for (const box of document.querySelectorAll("#tree input[type=checkbox]")) box.disabled = !task;
    if (!task) {
      $("segment").textContent = "";
      state.ticked = new Set(); state.chips = [];
      syncTicks();
      renderDone();
      return;
    }
    $("meta").textContent = `${task.group} · ${task.speaker || "unknown speaker"} · turn ${task.position + 1}`
      + ` · segment #${task.segment_id}`;
    renderContext($("before"), task.before);
    renderContext($("after"), task.after);
    const seg = $("segment");
    seg.textContent = "";
    seg.appendChild(el("span", "who", task.speaker || ""));
    seg.appendChild(document.createTextNode(task.text));
    const suggestions = task.suggestions || [];
    state.ticked = new Set(suggestions.filter((s) => s.suggested).map((s) => s.path));
    state.chips = [];
    renderChips();
    renderReasons(task);
    $("model").textContent = `Suggestions by: ${task.model_version || "(no model yet)"}`;
    $("undo").hidden = false;
  }

  function renderDone() {
    const p = state.progress || {};
    const answered = p.session_answered ?? p.answered ?? 0;
    const skipped = p.skipped || 0;
    $("done-counts").textContent = `This session: ${answered} answered, ${skipped} skipped.`;
    $("done-skipped").textContent = skipped
      ? "Skipped segments are not coded; run the session again to see them." : "";
    $("done-skipped").hidden = !skipped;
    $("done-title").textContent = skipped
      ? "Nothing left to show in this session. Every answer is saved."
      : "Nothing left to code here. Every answer is saved.";
    $("undo").hidden = !canUndo();
  }

  function line(id, text, title) {
    const e = $(id);
    e.textContent = text || "";
    e.hidden = !text;
    if (title !== undefined) e.title = title;
  }

  function renderProgress(p) {
    if (!p) return;
    state.progress = p;
    const answered = p.session_answered ?? p.answered ?? 0;
    line("count-session", `This session: ${answered} answered`
      + (isNum(p.coder_answered) ? ` (${p.coder_answered} by you in all sessions)` : ""));
    line("count-pool", isNum(p.remaining) ? `Left in the pool: ${p.remaining}` + (p.skipped ? ` (${p.skipped} skipped)` : "") : "");
    line("count-training", isNum(p.training) ? `Learning from ${p.training} coded segments` : "",
      "Segments already coded (by you or other coders) that the model learns from besides your answers here");
    const s = p.signal || {  // an older server: the flat fields
      measure: MEASURE, stability: p.stability ?? null, target: null, comparisons: null, needed: null, every: null,
      check_kappa: null, checks: 0, stop: !!p.stop, verdict: p.stop ? "predictions have stabilised" : "keep going",
      message: p.advice || "",
    };
    const m = $("signal-measure");
    m.textContent = "";
    m.appendChild(el("span", "label", "When to stop: "));
    m.appendChild(document.createTextNode(s.measure || MEASURE));
    const target = isNum(s.target) ? s.target.toFixed(2) : null;
    line("signal-stands", isNum(s.stability)
      ? `Stability ${s.stability.toFixed(3)}` + (target ? ` of ${target} needed` : "")
      : "Stability: not measured yet" + (target ? ` (${target} needed)` : ""));
    let needs = "";
    if (isNum(s.comparisons) && isNum(s.needed)) {
      needs = `${s.comparisons} of ${s.needed} comparisons so far`;
      if (isNum(s.every)) needs += `; one every ${s.every} answers`;
    } else if (s.message) {
      needs = s.message;
    }
    line("signal-needs", needs);
    const checks = isNum(s.checks) ? s.checks : 0;
    const kappaText = isNum(s.check_kappa) && checks >= (s.min_checks || 0)
      ? `Agreement with you on ${checks} random checks: kappa ${s.check_kappa.toFixed(2)}`
        + (isNum(s.check_low) ? ` (95% interval ${s.check_low.toFixed(2)}-${s.check_high.toFixed(2)})` : "")
      : `Random checks answered: ${checks}` + (s.min_checks ? ` of ${s.min_checks} needed for an estimate` : "");
    line("signal-kappa", kappaText,
      "1 question in 10 is a segment drawn at random (not chosen for being unusual), so the model's agreement " +
      "with your answers on those estimates how it codes the rest");
    renderCodes(p.estimate);
    const stop = !!s.stop;
    const v = $("verdict");
    v.textContent = stop ? "You can stop: predictions have stabilised" : "Keep going";
    v.className = stop ? "stop" : "go";
    v.title = s.message || "";
    $("signal").title = s.message || "";
    if (!state.task) renderDone();
  }

  function renderCodes(est) {
    const box = $("codes-progress");
    if (!box) return;
    box.hidden = !est;
    if (!est) return;
    const rows = $("codes-progress-rows");
    rows.textContent = "";
    const fmt = (v) => (isNum(v) ? v.toFixed(2) : "-");
    const add = (c, valence) => {
      const tr = el("tr", (valence ? "valence " : "") + (c.positives === 0 ? "unseen" : ""));
      const interval = isNum(c.low) ? ` (${fmt(c.low)}-${fmt(c.high)})` : "";
      [c.name || c.code, String(c.positives), fmt(c.kappa) + interval, fmt(c.recent_kappa), c.status]
        .forEach((text) => tr.appendChild(el("td", "", text)));
      tr.title = c.code;
      rows.appendChild(tr);
    };
    (est.codes || []).forEach((c) => add(c, false));
    (est.valence || []).forEach((c) => add(c, true));
    $("codes-progress-note").textContent = `Codes never seen come first. A code needs ${est.min_positives} examples `
      + `before the model can learn it; "needs" projects how many more answers would bring it to kappa `
      + `${isNum(est.target) ? est.target.toFixed(1) : "0.6"} (rough: from how its agreement has grown). `
      + `"Recent": the suggestions against your last answers.`;
  }

  // ------------------------------------------------------------------ answers
  function savedMessage(data, body) {
    const saved = data.saved || {  // an older server: what was sent, and its "source"
      action: body.action === "skip" ? "skipped" : body.action === "none" || !body.codes.length ? "no code"
        : (data.source || "saved"),
      codes: body.codes, segment_id: body.segment_id,
    };
    let msg;
    if (saved.action === "skipped") msg = "Skipped";
    else if (saved.action === "no code" || !(saved.codes || []).length) msg = "Saved: no code";
    else msg = `Saved: ${codeList(saved.codes)} (${saved.action})`;
    if (data.duplicate) msg = msg.replace(/^(Saved|Skipped)/, "$1 (it had reached the server before it stopped)");
    return msg + (isNum(saved.segment_id) ? ` · segment #${saved.segment_id}` : "");
  }

  async function waitForServer() {
    for (;;) {
      await sleep(RETRY_MS);
      try {
        return await api("/api/state");
      } catch (e) {
        if (!e.network) throw e;
      }
    }
  }

  // An answer not yet confirmed is kept in the tab's sessionStorage too, so a reload (or the
  // browser restoring the tab) sends it again instead of losing it.
  // On a team server the key names the coder: another login in this tab never sends it as theirs.
  const pendingKey = () => "autocode-pending" + (TEAM ? ":" + state.coder : "");
  function keepPending(p) {
    try {
      if (p) sessionStorage.setItem(pendingKey(), JSON.stringify(p)); else sessionStorage.removeItem(pendingKey());
    } catch (e) { /* storage full or disabled: the answer is still kept in memory */ }
  }

  function setBusy(on) {
    state.busy = on;
    document.body.classList.toggle("busy", on);
  }

  async function send(action) {
    if (!state.task) return;
    if (state.busy) { status(state.pending ? NOT_CONFIRMED : "Wait: the last request is still on its way.", "warn"); return; }
    const codes = action === "accept" ? [...state.ticked] : [];
    if (action === "accept" && codes.length === 0) { status(NOTHING_TICKED, "warn"); return; }
    const seg = state.task.segment_id;
    // an answer not confirmed before (a server error) keeps its id: the server recognises it if it had committed it
    const id = state.pending && state.pending.segment_id === seg ? state.pending.answer_id : newId();
    state.pending = { answer_id: id, segment_id: seg, action, codes, memo: $("memo").value };
    keepPending(state.pending);
    await deliver(state.pending);
  }

  async function deliver(body) {
    setBusy(true);
    status(body.action === "skip" ? "Skipping…" : "Saving…");
    let retrying = false;
    try {
      for (;;) {
        try {
          const data = await api("/api/answer", body);
          state.pending = null;
          keepPending(null);
          renderProgress(data.progress);
          renderTask(data.task);
          status(savedMessage(data, body), "ok");
          return;
        } catch (e) {
          if (!e.network) throw e;
          retrying = true;
          status(NOT_CONFIRMED, "warn");
          await waitForServer();  // then send the very same answer (same answer_id) again
          status("The server is back: sending the answer again…", "warn");
        }
      }
    } catch (e) {
      // refused: nothing was saved (but a team login that ended keeps it, to send after logging in again)
      if (e.status && e.status < 500 && !(TEAM && e.status === 401)) { state.pending = null; keepPending(null); }
      let msg = e.status >= 500 ? `Not confirmed: the server failed (${e.message}). Press the key again to retry.`
        : errorText(e, "Not saved");
      if (retrying && e.status === 403) msg = "Not confirmed: the server came back but refused this page. " + msg;
      status(msg, "error");
      if (e.field === "memo") $("memo").focus();
    } finally {
      setBusy(false);
    }
  }

  function undoneMessage(u) {
    if (u === null || u === undefined) return "Nothing to undo.";
    if (typeof u !== "object") return `Undone: the answer on segment #${u} is removed; it is shown again.`;
    const what = /^skip/.test(u.action || "") ? "the skip" : codeList(u.codes);
    return `Undone: ${what} on segment #${u.segment_id} is removed; it is shown again.`;
  }

  async function undo() {
    if (state.busy) { status(state.pending ? NOT_CONFIRMED : "Wait: the last request is still on its way.", "warn"); return; }
    setBusy(true);
    status("Undoing…");
    try {
      const data = await api("/api/undo", {});
      renderProgress(data.progress);
      if (data.undone || data.task) renderTask(data.task);
      status(undoneMessage(data.undone), data.undone ? "ok" : "");
    } catch (e) {
      status(e.network ? "Undo not confirmed: the server did not answer. Reload the page when it is back."
        : errorText(e, "Undo failed"), "error");
    } finally {
      setBusy(false);
    }
  }

  // ------------------------------------------------------------------ keys
  function typingIn(e) {
    if (!e) return false;
    if (e.tagName === "TEXTAREA" || e.isContentEditable) return true;
    return e.tagName === "INPUT" && TEXT_INPUTS.has(e.type);  // a checkbox does not swallow the keys
  }

  $("accept").addEventListener("click", () => send("accept"));
  $("none").addEventListener("click", () => send("none"));
  $("skip").addEventListener("click", () => send("skip"));
  $("undo").addEventListener("click", undo);
  $("search").addEventListener("input", (ev) => search(ev.target.value));
  $("search").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault(); ev.stopPropagation();
      const path = firstMatch();
      if (path) {
        toggle_(path, true);
        ev.target.value = ""; search(""); ev.target.blur();
      } else {
        status(`No code matches “${ev.target.value}”.`, "warn");
      }
    } else if (ev.key === "Escape") { ev.stopPropagation(); ev.target.blur(); }
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const active = document.activeElement;
    if (typingIn(active)) { if (ev.key === "Escape") active.blur(); return; }
    if (ev.key === "Enter" || ev.key === "a") { ev.preventDefault(); send("accept"); }
    else if (ev.key === "0") { ev.preventDefault(); send("none"); }
    else if (ev.key === "s") { ev.preventDefault(); send("skip"); }
    else if (ev.key === "u" || ev.key === "Backspace") { ev.preventDefault(); undo(); }
    else if (ev.key === "/") { ev.preventDefault(); $("search").focus(); }
    else if (ev.key === "m") { if (state.task) { ev.preventDefault(); $("memo").focus(); } }
    else if (ev.key === "Escape") { if (active && active !== document.body) active.blur(); }
    else if (/^[1-9]$/.test(ev.key)) {
      const path = state.chips[Number(ev.key) - 1];
      if (path) toggle_(path);
      else status(`There is no chip ${ev.key}.`, "warn");
    }
  });

  // ------------------------------------------------------------------ team server: owner page, log out
  function teamLinks() {
    const box = $("coder");
    if (ROLE === "owner") {
      const a = el("a", "team-link", "Owner page");
      a.href = "/owner";
      box.append(" · ", a);
    }
    const out = el("button", "team-link", "Log out");
    out.type = "button";
    out.id = "logout";
    out.addEventListener("click", async () => {
      try { await api("/logout", {}); } catch (e) { /* ended already */ }
      location.assign("/login");
    });
    box.append(" · ", out);
  }

  async function start() {
    let data;
    for (;;) {  // a reload while the server is down waits for it, as an unconfirmed answer does
      try { data = await api("/api/state"); break; } catch (e) {
        if (!e.network) throw e;
        status(`Could not reach the server: is \`autocode ${TEAM ? "serve" : "annotate"}\` still running? Retrying…`, "warn");
        await sleep(RETRY_MS);
      }
    }
    state.coder = data.coder;
    $("coder").textContent = data.coder ? `Coder: ${data.coder}` : "";
    if (TEAM) teamLinks();
    renderTree(data.codebook);
    renderProgress(data.progress);
    renderTask(data.task);
    let kept = null;
    try { kept = JSON.parse(sessionStorage.getItem(pendingKey()) || "null"); } catch (e) { kept = null; }
    if (kept && kept.answer_id) {
      state.pending = kept;
      await deliver(kept);  // the server recognises it by its id if it had saved it
    }
  }

  start().catch((e) => status(e.status === 403 || e.status === 401 ? errorText(e, "")
    : "Could not load the session: " + e.message, "error"));
})();
