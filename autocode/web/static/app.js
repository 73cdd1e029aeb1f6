// autocode annotation page. No framework, no CDN: served from the package.
// Every request carries the per-session token; all transcript text is set with textContent (never innerHTML).
"use strict";
(() => {
  const params = new URLSearchParams(location.search);
  const TOKEN = params.get("token") || sessionStorage.getItem("autocode-token") || "";
  sessionStorage.setItem("autocode-token", TOKEN);
  history.replaceState(null, "", location.pathname);  // keep the token out of the address bar and history

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
  let state = { task: null, ticked: new Set(), codes: new Map(), chips: [], busy: false };

  async function api(path, body) {
    const res = await fetch(path, {
      method: body === undefined ? "GET" : "POST",
      headers: { "X-Autocode-Token": TOKEN, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    const data = await res.json().catch(() => ({ error: res.statusText }));
    if (!res.ok) throw new Error(data.error || res.statusText);
    return data;
  }

  function status(msg, error) { const s = $("status"); s.textContent = msg || ""; s.className = error ? "error" : ""; }

  function renderTree(codebook) {
    const tree = $("tree"); tree.textContent = "";
    for (const group of codebook) {
      tree.appendChild(el("div", "group", group.name + (group.exclusive ? " (one code)" : "")));
      const ul = el("ul");
      for (const code of group.codes) {
        state.codes.set(code.path, code);
        const li = el("li"); li.style.paddingLeft = (code.depth - 1) + "rem"; li.dataset.search = (code.path + " " + (code.description || "")).toLowerCase();
        if (code.codable) {
          const label = el("label"); const box = el("input"); box.type = "checkbox"; box.dataset.path = code.path;
          box.addEventListener("change", () => toggle(code.path, box.checked));
          label.appendChild(box); label.appendChild(document.createTextNode(" " + code.name));
          if (code.description) label.title = code.description;
          li.appendChild(label);
        } else { li.appendChild(el("span", "notcodable", code.name)); }
        ul.appendChild(li);
      }
      tree.appendChild(ul);
    }
  }

  function syncTree() {
    for (const box of document.querySelectorAll("#tree input[type=checkbox]")) box.checked = state.ticked.has(box.dataset.path);
    for (const chip of document.querySelectorAll(".chip")) chip.classList.toggle("on", state.ticked.has(chip.dataset.path));
  }

  function toggle(path, on) {
    if (on === undefined) on = !state.ticked.has(path);
    if (on) state.ticked.add(path); else state.ticked.delete(path);
    if (on && !state.chips.includes(path)) { state.chips.push(path); renderChips(); }
    syncTree();
  }

  function renderChips() {
    const box = $("suggestions"); box.textContent = "";
    const probs = new Map((state.task?.suggestions || []).map((s) => [s.path, s.probability]));
    state.chips.forEach((path, i) => {
      const code = state.codes.get(path) || { name: path };
      const chip = el("button", "chip"); chip.type = "button"; chip.dataset.path = path;
      if (i < 9) chip.appendChild(el("kbd", null, String(i + 1)));
      chip.appendChild(el("span", null, code.name));
      if (probs.has(path)) chip.appendChild(el("span", "p", Math.round(probs.get(path) * 100) + "%"));
      chip.addEventListener("click", () => toggle(path));
      box.appendChild(chip);
    });
    syncTree();
  }

  function renderContext(list, turns) {
    list.textContent = "";
    for (const t of turns) { const li = el("li"); li.appendChild(el("span", "who", (t.speaker || "") + ":")); li.appendChild(document.createTextNode(t.text)); list.appendChild(li); }
  }

  function renderProgress(p) {
    if (!p) return;
    const parts = [`${p.answered} coded this session`, `${p.remaining} left in the pool`];
    if (p.stability !== null && p.stability !== undefined) parts.push(`predictions stable: ${Math.round(p.stability * 100)}%`);
    if (p.cv_kappa !== null && p.cv_kappa !== undefined) parts.push(`cross-validated kappa so far: ${p.cv_kappa.toFixed(2)}`);
    if (p.advice) parts.push(p.advice);
    $("progress").textContent = parts.join(" · ");
  }

  function renderTask(task) {
    state.task = task;
    $("memo").value = "";
    const parts = ["meta", "before", "segment", "after", "suggestions", "reason", "memo", "accept", "skip"];
    $("done").hidden = !!task;
    for (const id of parts) $(id).hidden = !task;
    if (!task) { $("segment").textContent = ""; return; }
    $("meta").textContent = `${task.group} · ${task.speaker || "unknown speaker"} · segment ${task.position + 1}`;
    renderContext($("before"), task.before);
    renderContext($("after"), task.after);
    const seg = $("segment"); seg.textContent = "";
    seg.appendChild(el("span", "who", task.speaker || "")); seg.appendChild(document.createTextNode(task.text));
    state.ticked = new Set(task.suggestions.filter((s) => s.suggested).map((s) => s.path));
    state.chips = task.suggestions.map((s) => s.path);
    renderChips();
    const reason = $("reason"); reason.textContent = "";
    if (task.words && task.words.length) reason.appendChild(el("div", null, "Words behind the top suggestion: " + task.words.join(", ")));
    if (task.similar && task.similar.length) {
      reason.appendChild(el("div", null, "Most similar coded segments:"));
      const ul = el("ul");
      for (const s of task.similar) ul.appendChild(el("li", null, `“${s.text}” → ${s.codes.join("; ") || "no code"} (${Math.round(s.similarity * 100)}%)`));
      reason.appendChild(ul);
    }
    $("footer").textContent = `Suggestions by model ${task.model_version || "(none yet)"} · coder ${state.coder}`;
  }

  async function send(action) {
    if (state.busy || !state.task) return;
    state.busy = true;
    status(action === "skip" ? "Skipping…" : "Saving…");
    try {
      const data = await api("/api/answer", { segment_id: state.task.segment_id, action, codes: [...state.ticked], memo: $("memo").value });
      status(action === "skip" ? "Skipped." : `Saved (${data.source}).`);
      renderTask(data.task); renderProgress(data.progress);
    } catch (e) { status("Not saved: " + e.message, true); }
    finally { state.busy = false; }
  }

  async function undo() {
    if (state.busy) return;
    state.busy = true;
    status("Undoing…");
    try {
      const data = await api("/api/undo", {});
      status(data.undone ? "Undone: the last answer was removed." : "Nothing to undo.");
      if (data.task) renderTask(data.task);
      renderProgress(data.progress);
    } catch (e) { status("Undo failed: " + e.message, true); }
    finally { state.busy = false; }
  }

  $("accept").addEventListener("click", () => send("accept"));
  $("skip").addEventListener("click", () => send("skip"));
  $("undo").addEventListener("click", undo);
  $("search").addEventListener("input", (ev) => {
    const q = ev.target.value.trim().toLowerCase();
    for (const li of document.querySelectorAll("#tree li")) li.classList.toggle("hidden", q !== "" && !li.dataset.search.includes(q));
  });
  $("search").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault(); ev.stopPropagation();
      const first = [...document.querySelectorAll("#tree li:not(.hidden) input")][0];
      if (first) { toggle(first.dataset.path, true); ev.target.value = ""; ev.target.dispatchEvent(new Event("input")); ev.target.blur(); }
    } else if (ev.key === "Escape") { ev.target.blur(); }
  });
  document.addEventListener("keydown", (ev) => {
    const typing = ["INPUT", "TEXTAREA"].includes(document.activeElement?.tagName);
    if (typing) { if (ev.key === "Escape") document.activeElement.blur(); return; }
    if (ev.key === "Enter" || ev.key === "a") { ev.preventDefault(); send("accept"); }
    else if (ev.key === "s") send("skip");
    else if (ev.key === "u" || ev.key === "Backspace") { ev.preventDefault(); undo(); }
    else if (ev.key === "/") { ev.preventDefault(); $("search").focus(); }
    else if (ev.key === "m") { ev.preventDefault(); $("memo").focus(); }
    else if (/^[1-9]$/.test(ev.key)) { const path = state.chips[Number(ev.key) - 1]; if (path) toggle(path); }
  });

  api("/api/state").then((data) => {
    state.coder = data.coder;
    renderTree(data.codebook); renderTask(data.task); renderProgress(data.progress);
  }).catch((e) => status("Could not load the session: " + e.message, true));
})();
