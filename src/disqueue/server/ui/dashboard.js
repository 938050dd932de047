// The Disqueue dashboard: an overview (totals, global rates, storage health) and every
// queue in a sortable, filterable table polled from GET /stats each second, with
// sparklines of the last 10 minutes on one shared scale (seeded from the server's own
// history, GET /stats?history=...); a page per queue (#queue=<name>) with its settings,
// its dead-letter links both ways, charts of the server's history, the head item, and
// the actions of API.md Part 3, each behind a confirmation. No library, no network
// beyond this server.
"use strict";

const POLL_MS = 1000;
const SPARK_S = 600; // the sparklines' longest span
const SPARK_MIN_S = 60; // and shortest: what has been seen, within these, for every row alike
const SPARK_STEP = 5; // one sparkline point per this many seconds
const SVG = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);
const state = {
  stats: null, // the last /stats
  last: null, // the one before, for rates
  spark: new Map(), // name -> [{t, v}] (ready), one point per SPARK_STEP
  rows: new Map(), // name -> {tr, cells, polyline, paused}
  sort: { field: "activity", down: true },
  filter: "",
  order: "",
  infos: new Map(), // name -> POST /queue payload (for dead-letter links)
  infosAt: 0,
  page: null, // the queue whose page is open
};

// -- the API ---------------------------------------------------------------------------

class Refused extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, params) {
  const init = { method, credentials: "same-origin" };
  if (params) init.body = new URLSearchParams(params);
  const response = await fetch(path, init);
  let envelope;
  try {
    envelope = await response.json();
  } catch {
    throw new Refused(`HTTP ${response.status}`, response.status);
  }
  if (!envelope.success) {
    throw new Refused(envelope.message || `HTTP ${response.status}`, response.status);
  }
  return envelope.payload;
}

function why(error) {
  if (error.status === 403) return `refused: ${error.message} (you lack the right for this)`;
  return error.status ? `${error.message} (${error.status})` : error.message;
}

function toast(text, bad) {
  const box = $("toast");
  box.textContent = text;
  box.className = bad ? "bad" : "";
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

// -- formatting --------------------------------------------------------------------------

function age(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${seconds.toFixed(0)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function rate(value) {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

function count(value) {
  return value >= 10000 ? `${(value / 1000).toFixed(value >= 100000 ? 0 : 1)}k` : String(value);
}

function niceMax(value) {
  if (!(value > 1)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * power) return step * power;
  }
  return 10 * power;
}

function el(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  return node;
}

// -- polling and the overview -------------------------------------------------------------

function withRates(stats) {
  const before = new Map((state.stats ? state.stats.queues : []).map((q) => [q.name, q]));
  const dt = state.stats ? Math.max(stats.time - state.stats.time, 0.001) : 0;
  for (const q of stats.queues) {
    const p = before.get(q.name);
    const per = (field) => (p && dt ? Math.max(q[field] - p[field], 0) / dt : 0);
    q.putRate = per("put");
    q.takeRate = per("taken");
    q.ackRate = per("acked");
    q.redeliverRate = per("redelivered");
    q.deadRate = per("dead_lettered");
    q.activity = q.putRate + q.takeRate + q.ready + q.in_flight;
  }
}

function remember(stats) {
  const names = new Set();
  for (const q of stats.queues) {
    names.add(q.name);
    const points = state.spark.get(q.name) || [];
    const lastPoint = points[points.length - 1];
    if (!lastPoint || stats.time - lastPoint.t >= SPARK_STEP) points.push({ t: stats.time, v: q.ready });
    else lastPoint.v = Math.max(lastPoint.v, q.ready);
    while (points.length && points[0].t < stats.time - SPARK_S) points.shift();
    state.spark.set(q.name, points);
  }
  for (const name of state.spark.keys()) if (!names.has(name)) state.spark.delete(name);
}

// The server's history of every queue's depth, once, so the sparklines start full.
async function seedSparklines() {
  try {
    const asked = performance.now();
    const payload = await api("GET", `/stats?history=${SPARK_S}&fields=ready`);
    document.body.dataset.seedFetchMs = (performance.now() - asked).toFixed(1);
    const { times, queues } = payload.history;
    for (const [name, series] of Object.entries(queues)) {
      const points = [];
      for (let i = 0; i < times.length; i++) {
        const v = series.ready[i];
        if (v === null) continue;
        const lastPoint = points[points.length - 1];
        if (!lastPoint || times[i] - lastPoint.t >= SPARK_STEP) points.push({ t: times[i], v });
        else lastPoint.v = Math.max(lastPoint.v, v);
      }
      const live = state.spark.get(name) || [];
      state.spark.set(name, [...points.filter((p) => !live.length || p.t < live[0].t), ...live]);
    }
  } catch (error) {
    toast(`no server history: ${why(error)}`, true);
  }
}

function totals(stats) {
  const sum = (field) => stats.queues.reduce((s, q) => s + q[field], 0);
  const values = {
    queues: count(stats.queues.length), ready: count(sum("ready")),
    in_flight: count(sum("in_flight")), delayed: count(sum("delayed")),
    consumers: count(sum("consumers")), put_rate: rate(sum("putRate")),
    take_rate: rate(sum("takeRate")), ack_rate: rate(sum("ackRate")),
    redelivery_rate: rate(sum("redeliverRate")), dead_letter_rate: rate(sum("deadRate")),
  };
  for (const node of document.querySelectorAll("[data-total]")) {
    node.textContent = values[node.dataset.total];
  }
  $("summary").textContent = `${stats.queues.length} queue${stats.queues.length === 1 ? "" : "s"}` +
    ` · ${values.ready} ready · storage ${stats.storage}`;
}

async function health() {
  let body;
  try {
    const response = await fetch("/health", { credentials: "same-origin" });
    body = await response.json();
  } catch (error) {
    body = { payload: null, message: error.message };
  }
  const payload = body.payload || {};
  const storage = payload.storage || {};
  $("storage-kind").textContent = storage.kind || "?";
  const ready = storage.ready === true;
  $("storage-health").textContent = ready ? "ready" : `not ready${body.message ? `: ${body.message}` : ""}`;
  $("storage-card").classList.toggle("bad", !ready);
}

// The nodes sharing the storage: in /stats on PostgreSQL only (hidden otherwise).
function renderNodes(stats) {
  const nodes = stats.nodes;
  $("nodes").hidden = !nodes;
  if (!nodes) return;
  $("nodes-count").textContent = `${nodes.length} node${nodes.length === 1 ? "" : "s"}`;
  $("nodes-list").replaceChildren(...nodes.map((node) => {
    const item = document.createElement("li");
    item.dataset.node = node.id;
    item.classList.toggle("this", node.this);
    item.textContent = `${node.host} · pid ${node.pid} · started ${age(stats.time - node.started)} ago` +
      ` · seen ${age(Math.max(0, stats.time - node.last_seen))} ago${node.this ? " · this node" : ""}`;
    return item;
  }));
}

// -- the table ------------------------------------------------------------------------------

const FIELDS = ["ready", "in_flight", "delayed", "consumers", "oldest_age", "putRate", "takeRate",
                "ackRate", "deadRate"];
const SHOW = { oldest_age: age, putRate: rate, takeRate: rate, ackRate: rate, deadRate: rate };
const WIRE = { putRate: "put_rate", takeRate: "take_rate", ackRate: "ack_rate", deadRate: "dead_rate" };

function button(label, action, name, danger) {
  const b = document.createElement("button");
  b.textContent = label;
  b.dataset.action = action;
  if (danger) b.className = "danger";
  b.addEventListener("click", (event) => {
    event.stopPropagation();
    ACTIONS[action](name);
  });
  return b;
}

function newRow(name) {
  const tr = document.createElement("tr");
  tr.dataset.queue = name;
  const first = document.createElement("td");
  first.className = "name";
  const link = document.createElement("a");
  link.href = `#queue=${encodeURIComponent(name)}`;
  link.textContent = name;
  const mark = document.createElement("span");
  mark.className = "paused";
  mark.textContent = "paused";
  mark.hidden = true;
  first.append(link, " ", mark);
  tr.append(first);
  const cells = {};
  for (const field of FIELDS) {
    const td = document.createElement("td");
    td.dataset.field = WIRE[field] || field;
    cells[field] = td;
    tr.append(td);
  }
  const spark = document.createElement("td");
  spark.className = "spark";
  const svg = el("svg", { viewBox: "0 0 140 28", preserveAspectRatio: "none" });
  const polyline = el("polyline", { class: "line", stroke: "var(--ready)" });
  svg.append(polyline);
  spark.append(svg);
  const actions = document.createElement("td");
  const buttons = document.createElement("div");
  buttons.className = "actions";
  const pause = button("Pause", "pause", name);
  const resume = button("Resume", "resume", name);
  buttons.append(button("Peek", "peek", name), pause, resume, button("Purge", "purge", name, true),
                 button("Delete", "delete", name, true));
  actions.append(buttons);
  tr.append(spark, actions);
  tr.addEventListener("click", () => { location.hash = `queue=${encodeURIComponent(name)}`; });
  return { tr, cells, polyline, mark, pause, resume, shown: {} };
}

function compare(a, b) {
  const { field, down } = state.sort;
  let x = a[field], y = b[field];
  if (field === "name") return down ? y.localeCompare(x) : x.localeCompare(y);
  x = x === null || x === undefined ? -1 : x;
  y = y === null || y === undefined ? -1 : y;
  return (down ? y - x : x - y) || a.name.localeCompare(b.name);
}

function renderTable(stats) {
  const body = document.querySelector("#queues tbody");
  const present = new Set();
  for (const q of stats.queues) {
    present.add(q.name);
    let row = state.rows.get(q.name);
    if (!row) state.rows.set(q.name, (row = newRow(q.name)));
    for (const field of FIELDS) {
      const text = (SHOW[field] || String)(q[field]);
      if (row.shown[field] !== text) row.cells[field].textContent = row.shown[field] = text;
    }
    if (row.shown.paused !== q.paused) {
      row.shown.paused = q.paused;
      row.mark.hidden = !q.paused;
      row.pause.hidden = q.paused;
      row.resume.hidden = !q.paused;
    }
  }
  for (const [name, row] of state.rows) {
    if (!present.has(name)) {
      row.tr.remove();
      state.rows.delete(name);
    }
  }
  const needle = state.filter.toLowerCase();
  const shown = stats.queues.filter((q) => !needle || q.name.toLowerCase().includes(needle));
  shown.sort(compare);
  const order = shown.map((q) => q.name).join("\n");
  if (order !== state.order) {
    state.order = order;
    body.replaceChildren(...shown.map((q) => state.rows.get(q.name).tr));
  }
  drawSparklines(shown);
  $("empty").hidden = stats.queues.length > 0;
  $("shown").textContent = needle ? `${shown.length} of ${stats.queues.length} queues` : "";
  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.classList.toggle("sorted", th.dataset.sort === state.sort.field);
    th.classList.toggle("up", th.dataset.sort === state.sort.field && !state.sort.down);
  }
}

// One scale for every sparkline (the largest depth shown) and one span (what has been
// seen, from 1 to 10 minutes), both said in the column's header.
function drawSparklines(queues) {
  // Time moves the lines by whole steps only: between steps no polyline changes, so a
  // poll repaints only the cells whose numbers changed.
  const now = Math.ceil(state.stats.time / SPARK_STEP) * SPARK_STEP;
  let top = 1, first = now;
  for (const q of queues) {
    for (const p of state.spark.get(q.name) || []) {
      if (p.v > top) top = p.v;
      if (p.t < first) first = p.t;
    }
  }
  top = niceMax(top);
  const span = Math.min(SPARK_S, Math.max(SPARK_MIN_S, Math.ceil((now - first) / 60) * 60));
  $("spark-scale").textContent = `${span / 60} min, 0–${count(top)}`;
  for (const q of queues) {
    const points = state.spark.get(q.name) || [];
    const xy = points.map((p) => `${(140 * (1 - (now - p.t) / span)).toFixed(1)},` +
                                 `${(27 - 25 * p.v / top).toFixed(1)}`).join(" ");
    const row = state.rows.get(q.name);
    if (row.shown.spark !== xy) row.polyline.setAttribute("points", (row.shown.spark = xy));
  }
}

function sortBy(field) {
  state.sort = state.sort.field === field ? { field, down: !state.sort.down }
                                           : { field, down: field !== "name" };
  if (state.stats) renderTable(state.stats);
}

// -- the queue page ----------------------------------------------------------------------------

const SETTINGS = ["lease", "max_attempts", "dead_letter", "max_items", "retry_delays", "delay", "ttl"];

function settingText(value) {
  if (value === null || value === undefined) return "";
  return Array.isArray(value) ? value.join(", ") : String(value);
}

async function openPage(name) {
  state.page = name;
  $("overview").hidden = true;
  $("queue-page").hidden = false;
  $("detail-name").textContent = name;
  $("peek-result").textContent = "–";
  $("dlq-from").textContent = "";
  await refreshPage(true);
  if (state.page === name) await referrers(name);
}

function closePage() {
  state.page = null;
  $("queue-page").hidden = true;
  $("overview").hidden = false;
}

async function refreshPage(full) {
  const name = state.page;
  if (!name) return;
  try {
    const info = await api("POST", "/queue", { name });
    if (state.page !== name) return;
    state.infos.set(name, info);
    showInfo(info, full);
  } catch (error) {
    $("facts").textContent = `no information: ${why(error)}`;
  }
  await drawCharts(name);
}

function showInfo(info, full) {
  $("detail-paused").hidden = !info.paused;
  document.querySelector('#queue-actions [data-action="pause"]').hidden = info.paused;
  document.querySelector('#queue-actions [data-action="resume"]').hidden = !info.paused;
  const form = $("settings");
  if (full) for (const field of SETTINGS) form.elements[field].value = settingText(info[field]);
  const facts = [["size", info.size], ["delayed", info.delayed], ["in flight", info.in_flight],
                 ["consumers", info.consumers], ["created", info.created], ["put", info.put],
                 ["taken", info.taken], ["acked", info.acked], ["expired", info.expired],
                 ["dead lettered", info.dead_lettered]];
  if ("ordered" in info) facts.push(["ordered", String(info.ordered)]);
  const dl = $("facts");
  dl.replaceChildren();
  for (const [term, value] of facts) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dd.dataset.fact = term;
    dl.append(dt, dd);
  }
  const to = $("dlq-to");
  to.replaceChildren();
  if (info.dead_letter) {
    to.append("Dead letters go to ", queueLink(info.dead_letter), ".");
  } else {
    to.append(info.max_attempts ? "Items past max_attempts are dropped (no dead-letter queue)."
                                : "No max_attempts: items are delivered until acknowledged.");
  }
}

function queueLink(name) {
  const a = document.createElement("a");
  a.href = `#queue=${encodeURIComponent(name)}`;
  a.textContent = name;
  a.className = "queue-link";
  return a;
}

// Which queues send their dead letters here: every queue's information, fetched a few at a
// time and kept for 30 s.
async function referrers(name) {
  const from = $("dlq-from");
  if (Date.now() - state.infosAt > 30000) {
    from.textContent = "looking for queues that send dead letters here…";
    const names = state.stats ? state.stats.queues.map((q) => q.name) : [];
    const queue = [...names];
    const worker = async () => {
      while (queue.length) {
        const next = queue.pop();
        try {
          state.infos.set(next, await api("POST", "/queue", { name: next }));
        } catch {
          // deleted meanwhile, or not readable by this user: not a link to show
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    state.infosAt = Date.now();
  }
  if (state.page !== name) return;
  const sources = [...state.infos.values()].filter((i) => i.dead_letter === name).map((i) => i.name);
  from.replaceChildren();
  if (sources.length) {
    from.append("Receives the dead letters of ");
    sources.sort().forEach((source, index) => {
      if (index) from.append(", ");
      from.append(queueLink(source));
    });
    from.append(". Redrive sends them back.");
  } else {
    from.append("No queue sends its dead letters here.");
  }
}

async function drawCharts(name) {
  const seconds = $("window").value;
  let history;
  try {
    const payload = await api("GET", `/stats?history=${seconds}&queue=${encodeURIComponent(name)}`);
    history = payload.history;
  } catch (error) {
    toast(`no history: ${why(error)}`, true);
    return;
  }
  if (state.page !== name) return;
  $("step").textContent = history.step;
  const series = history.queues[name] || {};
  const times = history.times;
  const points = times.map((t, i) => {
    const point = { t };
    for (const [field, values] of Object.entries(series)) point[field] = values[i];
    return point;
  });
  const span = Number(seconds);
  chart($("chart-depth"), points, span, [
    { field: "ready", color: "var(--ready)" }, { field: "in_flight", color: "var(--flight)" },
    { field: "delayed", color: "var(--delayed)" },
  ]);
  chart($("chart-rate"), points, span, [
    { field: "put_rate", color: "var(--put)" }, { field: "take_rate", color: "var(--take)" },
    { field: "ack_rate", color: "var(--ack)" }, { field: "dead_letter_rate", color: "var(--dead)" },
    { field: "expiry_rate", color: "var(--expiry)" },
    { field: "redelivery_rate", color: "var(--redelivery)" },
  ]);
  chart($("chart-age"), points, span, [
    { field: "oldest_age", color: "var(--age)" }, { field: "consumers", color: "var(--consumers)" },
  ]);
}

function chart(svg, points, shown, series) {
  const W = 600, H = 180, L = 48, R = 8, T = 10, B = 22;
  let top = 0;
  for (const p of points) for (const s of series) if (p[s.field] > top) top = p[s.field];
  top = niceMax(top);
  const now = state.stats ? state.stats.time : points.length ? points[points.length - 1].t : 0;
  const x = (t) => L + (W - L - R) * (1 - (now - t) / shown);
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const nodes = [];
  for (const fraction of [0, 0.5, 1]) {
    const v = top * fraction;
    nodes.push(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    const label = el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "label" });
    label.textContent = Number.isInteger(v) ? count(v) : v.toFixed(1);
    nodes.push(label);
  }
  for (const [fraction, anchor] of [[1, "start"], [0.5, "middle"], [0, "end"]]) {
    const ago = shown * fraction;
    const label = el("text", { x: x(now - ago), y: H - 6, "text-anchor": anchor, class: "label" });
    label.textContent = !ago ? "now" : ago < 120 ? `-${ago.toFixed(0)} s`
      : ago < 7200 ? `-${(ago / 60).toFixed(0)} min` : `-${(ago / 3600).toFixed(0)} h`;
    nodes.push(label);
  }
  for (const s of series) {
    // A gap (null: not sampled) breaks the line.
    let run = [];
    const flush = () => {
      if (run.length) nodes.push(el("polyline", { points: run.join(" "), class: "line", stroke: s.color,
                                                  "data-series": s.field }));
      run = [];
    };
    for (const p of points) {
      const v = p[s.field];
      if (v === null || v === undefined) flush();
      else run.push(`${x(p.t).toFixed(1)},${y(v).toFixed(1)}`);
    }
    flush();
  }
  svg.replaceChildren(...nodes);
}

// -- actions ------------------------------------------------------------------------------------

function confirmAction(text, extra) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-extra").replaceChildren(...(extra || []));
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

function field(label, name, value) {
  const wrap = document.createElement("label");
  const input = document.createElement("input");
  input.name = name;
  input.id = `confirm-${name}`;
  if (value !== undefined) input.value = value;
  wrap.append(label, " ", input);
  return wrap;
}

async function act(what, run, done) {
  try {
    const result = await run();
    toast(done(result));
  } catch (error) {
    toast(`${what} failed: ${why(error)}`, true);
  }
  await poll();
  if (state.page) await refreshPage(false);
}

const ACTIONS = {
  async peek(name) {
    if (state.page !== name) location.hash = `queue=${encodeURIComponent(name)}`;
    try {
      const item = await api("POST", "/peek", { name });
      $("peek-result").textContent = JSON.stringify(item, null, 2);
    } catch (error) {
      $("peek-result").textContent = why(error);
    }
  },
  async pause(name) {
    if (!(await confirmAction(`Pause ${name}? Puts go on; nothing is delivered until it is resumed.`))) return;
    await act("Pause", () => api("POST", "/pause", { name }), () => `Paused ${name}`);
  },
  async resume(name) {
    if (!(await confirmAction(`Resume ${name}? Its items are delivered again at once.`))) return;
    await act("Resume", () => api("POST", "/resume", { name }), () => `Resumed ${name}`);
  },
  async redrive(name) {
    const to = field("to (empty: back where each came from)", "to");
    const many = field("at most (empty: all)", "count");
    if (!(await confirmAction(`Redrive the dead letters of ${name}?`, [to, many]))) return;
    const params = { name };
    const target = to.querySelector("input").value.trim();
    const limit = many.querySelector("input").value.trim();
    if (target) params.to = target;
    if (limit) params.count = limit;
    await act("Redrive", () => api("POST", "/redrive", params),
              (r) => `Redrove ${r.moved} item(s) from ${name}`);
  },
  async purge(name) {
    const inFlight = document.createElement("label");
    inFlight.innerHTML = '<input type="checkbox" id="confirm-in-flight"> the items in flight too';
    if (!(await confirmAction(`Purge queue ${name}? Every ready and delayed item is dropped.`, [inFlight]))) {
      return;
    }
    const params = { name };
    if (inFlight.querySelector("input").checked) params.in_flight = "1";
    await act("Purge", () => api("POST", "/purge", params), (r) => `Purged ${r.purged} item(s) from ${name}`);
  },
  async delete(name) {
    if (!(await confirmAction(`Delete queue ${name} and all its items?`))) return;
    await act("Delete", () => api("DELETE", "/queue", { name }), () => {
      if (state.page === name) location.hash = "";
      return `Deleted ${name}`;
    });
  },
  async settings(name) {
    const info = state.infos.get(name) || {};
    const form = $("settings");
    const changes = {};
    for (const f of SETTINGS) {
      const value = form.elements[f].value.trim();
      if (value !== settingText(info[f])) changes[f] = value;
    }
    const list = Object.entries(changes).map(([k, v]) => `${k} = ${v === "" ? "(cleared)" : v}`);
    if (!list.length) {
      toast("No setting changed");
      return;
    }
    if (!(await confirmAction(`Change the settings of ${name}: ${list.join(", ")}?`))) return;
    await act("Settings", () => api("POST", "/queue/settings", { name, ...changes }),
              () => `Changed ${list.join(", ")}`);
    state.infosAt = 0;
    if (state.page === name) {
      await refreshPage(true);
      await referrers(name);
    }
  },
};

// -- the loop ---------------------------------------------------------------------------------

let polling = false;
async function poll() {
  if (polling) return;
  polling = true;
  try {
    const stats = await api("GET", "/stats");
    const started = performance.now();
    withRates(stats);
    state.last = state.stats;
    state.stats = stats;
    remember(stats);
    totals(stats);
    renderNodes(stats);
    renderTable(stats);
    document.body.dataset.renderMs = (performance.now() - started).toFixed(1);
    requestAnimationFrame(() => setTimeout(() => {
      document.body.dataset.paintMs = (performance.now() - started).toFixed(1);
    }));
    if (!document.body.dataset.firstRenderMs) {
      document.body.dataset.firstRenderMs = performance.now().toFixed(1);
      // After the style, layout and paint of that first render too (the next frame).
      requestAnimationFrame(() => setTimeout(() => {
        document.body.dataset.firstPaintMs = performance.now().toFixed(1);
      }));
    }
    $("status").className = "status";
    $("status").title = `updated ${new Date(stats.time * 1000).toLocaleTimeString()}`;
    document.body.dataset.updated = String(stats.time);
  } catch (error) {
    $("status").className = "status stale";
    $("status").title = `not updated: ${why(error)}`;
  } finally {
    polling = false;
  }
}

function route() {
  const match = /^#queue=(.+)$/.exec(location.hash);
  if (match) openPage(decodeURIComponent(match[1]));
  else closePage();
}

for (const th of document.querySelectorAll("th[data-sort]")) {
  th.addEventListener("click", () => sortBy(th.dataset.sort));
}
$("filter").addEventListener("input", (event) => {
  state.filter = event.target.value;
  if (state.stats) renderTable(state.stats);
});
for (const b of document.querySelectorAll("#queue-actions button")) {
  b.addEventListener("click", () => ACTIONS[b.dataset.action](state.page));
}
$("settings").addEventListener("submit", (event) => {
  event.preventDefault();
  ACTIONS.settings(state.page);
});
$("window").addEventListener("change", () => state.page && drawCharts(state.page));
window.addEventListener("hashchange", route);

let ticks = 0;
(async () => {
  await poll();
  route();
  health();
  const seeding = performance.now();
  await seedSparklines();
  if (state.stats) renderTable(state.stats);
  document.body.dataset.seededMs = (performance.now() - seeding).toFixed(1);
  setInterval(async () => {
    ticks += 1;
    await poll();
    if (state.page && ticks % 2 === 0) refreshPage(false);
    if (ticks % 5 === 0) health();
  }, POLL_MS);
})();
