// The Portcullis dashboard: reads /metrics (same origin) every two seconds
// and, with an admin token, the admin API's read endpoints through the
// relay at /dashboard/admin/. Nothing is loaded from anywhere else.
"use strict";

const POLL_MS = 2000;
const WINDOW_MS = 30000;
const TOKEN_KEY = "portcullis-admin-token";

// parseMetrics reads the Prometheus text exposition format into a list
// of {name, labels, value}.
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (line === "" || line[0] === "#") continue;
    let i = 0;
    while (i < line.length && line[i] !== "{" && line[i] !== " ") i++;
    const name = line.slice(0, i);
    const labels = {};
    if (line[i] === "{") {
      i++;
      while (i < line.length && line[i] !== "}") {
        let j = line.indexOf("=", i);
        const key = line.slice(i, j).trim();
        i = j + 2; // past ="
        let val = "";
        while (i < line.length && line[i] !== '"') {
          if (line[i] === "\\" && i + 1 < line.length) {
            const c = line[i + 1];
            val += c === "n" ? "\n" : c;
            i += 2;
          } else {
            val += line[i++];
          }
        }
        labels[key] = val;
        i++; // past the closing quote
        if (line[i] === ",") i++;
      }
      i++; // past }
    }
    const rest = line.slice(i).trim().split(/\s+/);
    const value = parseFloat(rest[0]);
    if (!Number.isNaN(value)) out.push({ name, labels, value });
  }
  return out;
}

function sumBy(samples, name, keyOf, filter) {
  const m = new Map();
  for (const s of samples) {
    if (s.name !== name || (filter && !filter(s.labels))) continue;
    const k = keyOf(s.labels);
    m.set(k, (m.get(k) || 0) + s.value);
  }
  return m;
}

// quantile interpolates q in cumulative buckets [[le, count], ...] as
// Prometheus's histogram_quantile does.
function quantile(q, buckets) {
  buckets.sort((a, b) => a[0] - b[0]);
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  let prevLe = 0, prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      if (count === prevCount) return le;
      return prevLe + (le - prevLe) * (rank - prevCount) / (count - prevCount);
    }
    prevLe = le; prevCount = count;
  }
  return prevLe;
}

function fmtDuration(s) {
  if (!Number.isFinite(s)) return "–";
  if (s < 0.001) return (s * 1e6).toFixed(0) + " µs";
  if (s < 1) return (s * 1000).toFixed(1) + " ms";
  return s.toFixed(2) + " s";
}

function fmtRate(v) { return v >= 10 ? v.toFixed(0) : v.toFixed(2); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function fillTable(id, rows) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren(...rows.map((cells) => {
    const tr = el("tr");
    for (const c of cells) tr.append(c instanceof Node && c.tagName === "TD" ? c : el("td", {}, c));
    tr.dataset.key = cells[0] instanceof Node ? cells[0].textContent : String(cells[0]);
    return tr;
  }));
}

function num(v) { return el("td", { class: "num" }, v); }

const routeName = (r) => (r === "" ? "(no route)" : r);

// history holds recent scrapes: {t, samples}.
const history = [];
let lastRefusals = null;
const feed = [];

function render(now, samples) {
  history.push({ t: now, samples });
  while (history.length > 2 && now - history[1].t >= WINDOW_MS) history.shift();
  const old = history[0];
  const dt = Math.max((now - old.t) / 1000, 0.001);

  // Traffic per route.
  const byRouteClass = sumBy(samples, "portcullis_requests_total", (l) => l.route + "\u0000" + l.status_class);
  const oldByRoute = sumBy(old.samples, "portcullis_requests_total", (l) => l.route);
  const oldErr = sumBy(old.samples, "portcullis_requests_total", (l) => l.route, (l) => l.status_class === "4xx" || l.status_class === "5xx");
  const routes = new Map();
  for (const [k, v] of byRouteClass) {
    const [route, cls] = k.split("\u0000");
    const r = routes.get(route) || { total: 0, cls: {} };
    r.total += v; r.cls[cls] = (r.cls[cls] || 0) + v;
    routes.set(route, r);
  }
  const bucketsNow = new Map(), bucketsOld = new Map();
  for (const [set, list] of [[bucketsNow, samples], [bucketsOld, old.samples]]) {
    for (const s of list) {
      if (s.name !== "portcullis_request_duration_seconds_bucket") continue;
      const le = s.labels.le === "+Inf" ? Infinity : parseFloat(s.labels.le);
      const m = set.get(s.labels.route) || new Map();
      m.set(le, (m.get(le) || 0) + s.value);
      set.set(s.labels.route, m);
    }
  }
  const rows = [];
  for (const route of [...routes.keys()].sort()) {
    const r = routes.get(route);
    const errs = (r.cls["4xx"] || 0) + (r.cls["5xx"] || 0);
    const rps = (r.total - (oldByRoute.get(route) || 0)) / dt;
    const eps = (errs - (oldErr.get(route) || 0)) / dt;
    // Percentiles over the window; over everything since start when the
    // window saw no request.
    const cur = bucketsNow.get(route) || new Map(), prev = bucketsOld.get(route) || new Map();
    let b = [...cur].map(([le, c]) => [le, c - (prev.get(le) || 0)]);
    if (b.reduce((m, x) => Math.max(m, x[1]), 0) <= 0) b = [...cur];
    rows.push([routeName(route), num(fmtRate(rps)), num(fmtRate(eps)), num(fmtDuration(quantile(0.5, b))), num(fmtDuration(quantile(0.99, b))),
      num(r.total), num(r.cls["2xx"] || 0), num(r.cls["3xx"] || 0), num(r.cls["4xx"] || 0), num(r.cls["5xx"] || 0)]);
  }
  fillTable("traffic", rows);

  // Refusals: each increase of a refusal counter since the last scrape is
  // a feed entry; the first scrape lists what happened since start.
  const refusals = new Map();
  for (const s of samples) {
    let key = null;
    if (s.name === "portcullis_policy_refusals_total") key = `route ${routeName(s.labels.route)}: refused by ${s.labels.policy} (${s.labels.phase} phase)`;
    else if (s.name === "portcullis_requests_total" && s.labels.route === "" && s.labels.status_class === "4xx") key = "no route matched or refused before routing (4xx)";
    else if (s.name === "portcullis_requests_total" && s.labels.status_class === "5xx") key = `route ${routeName(s.labels.route)}: 5xx`;
    if (key) refusals.set(key, (refusals.get(key) || 0) + s.value);
  }
  const stamp = new Date(now).toLocaleTimeString();
  for (const [k, v] of refusals) {
    const before = lastRefusals ? (lastRefusals.get(k) || 0) : 0;
    if (v > before) feed.unshift({ when: lastRefusals ? stamp : "since start", text: k, n: v - before });
  }
  lastRefusals = refusals;
  feed.length = Math.min(feed.length, 100);
  const ul = document.getElementById("refusals");
  if (feed.length) {
    ul.replaceChildren(...feed.map((f) => el("li", { class: "refusal" }, el("span", { class: "muted" }, f.when + " "), f.text, el("strong", {}, " ×" + f.n))));
  }

  // Security events (intrusion detection's classes) and bans.
  const events = sumBy(samples, "portcullis_security_events_total", (l) => l.event);
  fillTable("events", [...events].filter(([, v]) => v > 0).sort().map(([k, v]) => [k, num(v)]));
  const ab = samples.find((s) => s.name === "portcullis_active_bans");
  document.getElementById("active-bans").textContent = ab ? ab.value : 0;

  // Upstreams.
  const targets = new Map();
  const tkey = (l) => l.service + "\u0000" + l.target;
  const t = (l) => { const k = tkey(l); if (!targets.has(k)) targets.set(k, { service: l.service, target: l.target }); return targets.get(k); };
  for (const s of samples) {
    const l = s.labels;
    switch (s.name) {
      case "portcullis_upstream_target_healthy": t(l).healthy = s.value; break;
      case "portcullis_upstream_target_ejected": t(l).ejected = s.value; break;
      case "portcullis_upstream_breaker_state": if (s.value === 1) t(l).breaker = l.state; break;
      case "portcullis_upstream_requests_in_flight": t(l).inflight = s.value; break;
      case "portcullis_upstream_connections": t(l)[l.state] = s.value; break;
    }
  }
  fillTable("upstreams", [...targets.values()].sort((a, b) => (a.service + a.target).localeCompare(b.service + b.target)).map((x) => {
    const health = x.healthy === 0 ? el("span", { class: "bad" }, "down") : x.ejected === 1 ? el("span", { class: "warn" }, "ejected") : el("span", { class: "ok" }, "up");
    const br = !x.breaker ? el("span", { class: "muted" }, "none") : el("span", { class: x.breaker === "closed" ? "ok" : x.breaker === "open" ? "bad" : "warn" }, x.breaker);
    return [x.service, x.target, el("td", {}, health), el("td", {}, br), num(x.inflight || 0), num(`${x.open || 0} / ${x.idle || 0}`)];
  }));
}

async function pollMetrics() {
  const st = document.getElementById("status");
  try {
    const resp = await fetch("/metrics", { cache: "no-store" });
    if (!resp.ok) throw new Error("/metrics answered " + resp.status);
    render(Date.now(), parseMetrics(await resp.text()));
    st.textContent = "live · updated " + new Date().toLocaleTimeString();
    st.className = "";
  } catch (e) {
    st.textContent = "metrics unavailable: " + e.message;
    st.className = "bad";
  }
}

// The admin API, through the relay; the token stays in sessionStorage.
async function admin(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const resp = await fetch("/dashboard/admin/" + path, { headers: { Authorization: "Bearer " + token }, cache: "no-store" });
  if (!resp.ok) {
    let detail = resp.status + "";
    try { const p = await resp.json(); detail = p.detail || p.title || detail; } catch (e) { /* not JSON */ }
    const err = new Error(detail); err.status = resp.status; throw err;
  }
  return resp.json();
}

async function pollAdmin() {
  const state = document.getElementById("admin-state");
  const sections = document.querySelectorAll("section.admin");
  if (!sessionStorage.getItem(TOKEN_KEY)) {
    state.textContent = "metrics only";
    sections.forEach((s) => s.classList.add("off"));
    return;
  }
  try {
    const [routes, bans, consumers, keys, cusage] = await Promise.all([
      admin("routes"), admin("bans?limit=200"), admin("consumers?limit=200"), admin("usage/keys?limit=200"), admin("usage/consumers?limit=200")]);
    fillTable("routes", routes.items.map((r) => [r.name, r.paths.join(" "), r.service,
      el("td", {}, ...(r.phases || []).map((p) => el("span", { class: "phase" }, el("b", {}, p.phase), p.policies.join(" → "))))]));
    fillTable("bans", bans.items.map((b) => [b.address, b.until, b.source, b.reason || ""]));
    const used = new Map(cusage.items.map((u) => [u.consumer, u.requests]));
    fillTable("consumers", consumers.items.map((c) => [c.name, (c.groups || []).join(", "), num(used.get(c.name) || 0)]));
    fillTable("keys", keys.items.map((k) => [k.key_id || "", k.consumer, num(k.requests), num(k.refused), k.last_used || "never", k.last_client || ""]));
    state.textContent = "admin API: connected";
    state.className = "";
    sections.forEach((s) => s.classList.remove("off"));
  } catch (e) {
    state.textContent = "admin API: " + e.message;
    state.className = "bad";
    if (e.status === 401) sessionStorage.removeItem(TOKEN_KEY);
  }
}

function poll() {
  pollMetrics();
  pollAdmin();
}

document.getElementById("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = document.getElementById("token");
  if (input.value.trim() !== "") sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  input.value = "";
  pollAdmin();
});
document.getElementById("token-clear").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  for (const id of ["routes", "bans", "consumers", "keys"]) fillTable(id, []);
  pollAdmin();
});

poll();
setInterval(poll, POLL_MS);
