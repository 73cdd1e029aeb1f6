// autocode team server: the owner's page. Coders' progress, the double-coding share, a retrain
// button, and the agreement table, refreshed every few seconds. Every write carries the login's
// CSRF token; all text is set with textContent (never innerHTML).
"use strict";
(() => {
  const CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const REFRESH_MS = 5000;
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const isNum = (x) => typeof x === "number" && Number.isFinite(x);
  const num = (x, digits = 2) => (isNum(x) ? x.toFixed(digits) : "–");
  const ci = (pair) => (Array.isArray(pair) && pair.length === 2 && isNum(pair[0]) && isNum(pair[1])
    ? `${pair[0].toFixed(2)} to ${pair[1].toFixed(2)}` : "–");
  const pct = (x) => (isNum(x) ? `${Math.round(x * 100)}%` : "–");

  async function api(path, body) {
    const res = await fetch(path, {
      method: body === undefined ? "GET" : "POST",
      headers: { "X-CSRF-Token": CSRF, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    const data = await res.json().catch(() => ({}));
    if (res.status === 401) location.assign("/login");
    if (!res.ok) {
      const err = new Error(data.error || `${res.status} ${res.statusText}`.trim());
      err.status = res.status;
      throw err;
    }
    return data;
  }

  function status(msg, kind) {
    $("status").textContent = msg || "";
    $("status").className = kind || "";
  }

  function row(cells) {
    const tr = el("tr");
    for (const [text, cls] of cells) tr.appendChild(el("td", cls, text));
    return tr;
  }

  function renderOverview(o) {
    $("pool").textContent = `Pool: ${o.pool} segments, ${o.remaining} not yet coded, ${o.double_coded} double-coded.`;
    const body = $("coders").querySelector("tbody");
    body.textContent = "";
    for (const c of o.coders || []) body.appendChild(row([[c.name], [String(c.answered), "num"], [String(c.leased), "num"]]));
    const list = $("overlap");
    list.textContent = "";
    for (const [group, share] of Object.entries(o.overlap || {})) {
      list.appendChild(el("li", null, `${group === "" ? "Every group" : group}: ${pct(share)}`));
    }
  }

  function renderAgreement(a) {
    const pairs = (a.pairs || []).map((p) => `${(p.coders || []).join(" and ")}: ${p.segments}`);
    const coders = pairs.length ? pairs.join("; ") : (a.coders || []).join(", ") || "none yet";
    const o = a.overall || {};
    let summary = `${a.segments} segments double-coded (${coders}).`;
    const kappa = isNum(o.kappa) ? o.kappa : o.mean_kappa;
    if (isNum(kappa)) summary += ` Mean kappa ${num(kappa)}` + (o.kappa_ci ? ` (${ci(o.kappa_ci)}).` : ".");
    if (isNum(o.ac1)) summary += ` AC1 ${num(o.ac1)}` + (o.ac1_ci ? ` (${ci(o.ac1_ci)}).` : ".");
    if (isNum(o.alpha)) summary += ` Krippendorff's alpha ${num(o.alpha)}.`;
    if (isNum(o.exact_match)) summary += ` Same codes on ${Math.round(o.exact_match)}% of segments.`;
    if (a.note) summary += ` ${a.note}.`;
    if (a.updated_at) summary += ` Updated ${a.updated_at}.`;
    $("agreement-summary").textContent = summary;
    const body = $("agreement").querySelector("tbody");
    body.textContent = "";
    for (const c of a.per_code || []) {
      body.appendChild(row([[c.code], [String(c.n), "num"], [num(c.kappa), "num"], [ci(c.kappa_ci)],
        [num(c.ac1), "num"], [ci(c.ac1_ci)]]));
    }
  }

  async function refresh() {
    try {
      const [o, a] = await Promise.all([api("/api/owner/overview"), api("/api/owner/agreement")]);
      renderOverview(o);
      renderAgreement(a);
    } catch (e) {
      status(`Could not refresh: ${e.message}`, "error");
    }
  }

  $("overlap-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const share = Number($("share").value) / 100;
    const group = $("group").value.trim();
    try {
      await api("/api/owner/overlap", group ? { share, group } : { share });
      status(`Double coding set to ${pct(share)} for ${group || "every group"}.`, "ok");
      await refresh();
    } catch (e) {
      status(`Not set: ${e.message}`, "error");
    }
  });
  $("retrain").addEventListener("click", async () => {
    try {
      await api("/api/owner/retrain", {});
      status("Retraining the suggestions: the coders get them when it is done.", "ok");
    } catch (e) {
      status(`Not started: ${e.message}`, "error");
    }
  });
  $("logout").addEventListener("click", async () => {
    try { await api("/logout", {}); } catch (e) { /* ended already */ }
    location.assign("/login");
  });

  refresh();
  setInterval(refresh, REFRESH_MS);
})();
