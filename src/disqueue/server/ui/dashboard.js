// The Disqueue dashboard: polls GET /stats, keeps five minutes of history per queue in
// the page, draws it as plain SVG, and calls the API for peek, purge and delete.
// No library and no network beyond this server.
"use strict";

const POLL_MS = 1000;
const HISTORY_S = 300;
const SVG = "http://www.w3.org/2000/svg";

const history = new Map(); // queue name -> [{t, ready, inFlight, delayed, putRate, takeRate}]
let last = null; // the previous /stats payload, for rates
let selected = null;

const $ = (id) => document.getElementById(id);

async function api(method, path, params) {
  const init = { method, credentials: "same-origin" };
  if (params) {
    init.body = new URLSearchParams(params);
  }
  const response = await fetch(path, init);
  const envelope = await response.json();
  if (!envelope.success) {
    throw new Error(envelope.message || `HTTP ${response.status}`);
  }
  return envelope.payload;
}

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${seconds.toFixed(0)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function rate(value) {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

function record(stats) {
  const before = new Map((last ? last.queues : []).map((q) => [q.name, q]));
  const dt = last ? Math.max(stats.time - last.time, 0.001) : 0;
  const names = new Set();
  for (const queue of stats.queues) {
    names.add(queue.name);
    const prev = before.get(queue.name);
    queue.putRate = prev && dt ? Math.max(queue.put - prev.put, 0) / dt : 0;
    queue.takeRate = prev && dt ? Math.max(queue.taken - prev.taken, 0) / dt : 0;
    const points = history.get(queue.name) || [];
    points.push({ t: stats.time, ready: queue.ready, inFlight: queue.in_flight,
                  putRate: queue.putRate, takeRate: queue.takeRate });
    while (points.length && points[0].t < stats.time - HISTORY_S) points.shift();
    history.set(queue.name, points);
  }
  for (const name of history.keys()) {
    if (!names.has(name)) history.delete(name);
  }
  last = stats;
}

function cell(text, field) {
  const td = document.createElement("td");
  td.textContent = text;
  if (field) td.dataset.field = field;
  return td;
}

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

function render(stats) {
  const body = document.querySelector("#queues tbody");
  const rows = [];
  for (const queue of stats.queues) {
    const tr = document.createElement("tr");
    tr.dataset.queue = queue.name;
    if (queue.name === selected) tr.className = "selected";
    const name = document.createElement("td");
    name.className = "name";
    name.innerHTML = "<code></code>";
    name.firstChild.textContent = queue.name;
    if (queue.paused) {
      const mark = document.createElement("span");
      mark.className = "paused";
      mark.textContent = "paused";
      name.append(" ", mark);
    }
    if (queue.retry_delays) name.title = `retry delays: ${queue.retry_delays.join(", ")} s`;
    tr.append(
      name,
      cell(queue.ready, "ready"),
      cell(queue.in_flight, "in_flight"),
      cell(queue.delayed, "delayed"),
      cell(queue.consumers, "consumers"),
      cell(age(queue.oldest_age), "oldest_age"),
      cell(rate(queue.putRate), "put_rate"),
      cell(rate(queue.takeRate), "take_rate"),
    );
    const spark = document.createElement("td");
    spark.className = "spark";
    spark.append(sparkline(history.get(queue.name) || []));
    const actions = document.createElement("td");
    const buttons = document.createElement("div");
    buttons.className = "actions";
    actions.append(buttons);
    buttons.append(
      button("Peek", "peek", queue.name),
      queue.paused ? button("Resume", "resume", queue.name) : button("Pause", "pause", queue.name),
      button("Purge", "purge", queue.name, true),
      button("Delete", "delete", queue.name, true),
    );
    tr.append(spark, actions);
    tr.addEventListener("click", () => select(queue.name));
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  $("empty").hidden = stats.queues.length > 0;
  const total = stats.queues.reduce((sum, q) => sum + q.ready, 0);
  $("summary").textContent =
    `${stats.queues.length} queue${stats.queues.length === 1 ? "" : "s"} · ` +
    `${total} ready · storage ${stats.storage}`;
  if (selected && !history.has(selected)) selected = null;
  if (!selected && stats.queues.length) selected = stats.queues[0].name;
  drawDetail();
}

function el(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

// The time shown: what the page has seen, from 30 s up to HISTORY_S.
function span(points) {
  if (points.length < 2) return 30;
  return Math.min(HISTORY_S, Math.max(30, points[points.length - 1].t - points[0].t));
}

function sparkline(points) {
  const svg = el("svg", { viewBox: "0 0 140 28", preserveAspectRatio: "none" });
  const top = Math.max(1, ...points.map((p) => p.ready));
  const now = points.length ? points[points.length - 1].t : 0;
  const shown = span(points);
  const xy = points.map((p) => `${(140 * (1 - (now - p.t) / shown)).toFixed(1)},` +
                               `${(26 - 24 * p.ready / top).toFixed(1)}`);
  svg.append(el("polyline", { points: xy.join(" "), class: "line",
                              stroke: "var(--ready)" }));
  return svg;
}

function niceMax(value) {
  if (value <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * power) return step * power;
  }
  return 10 * power;
}

function chart(svg, points, series) {
  const W = 600, H = 180, L = 48, R = 8, T = 10, B = 22;
  const top = niceMax(Math.max(0, ...points.flatMap((p) => series.map((s) => p[s.field]))));
  const now = points.length ? points[points.length - 1].t : 0;
  const shown = span(points);
  const x = (t) => L + (W - L - R) * (1 - (now - t) / shown);
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const nodes = [];
  for (const fraction of [0, 0.5, 1]) {
    const v = top * fraction;
    nodes.push(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    const label = el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "label" });
    label.textContent = Number.isInteger(v) ? v : v.toFixed(1);
    nodes.push(label);
  }
  for (const [fraction, anchor] of [[1, "start"], [0.5, "middle"], [0, "end"]]) {
    const ago = shown * fraction;
    const label = el("text", { x: x(now - ago), y: H - 6, "text-anchor": anchor,
                               class: "label" });
    label.textContent = !ago ? "now" : ago < 120 ? `-${ago.toFixed(0)} s`
                                                 : `-${(ago / 60).toFixed(1)} min`;
    nodes.push(label);
  }
  for (const s of series) {
    const xy = points.map((p) => `${x(p.t).toFixed(1)},${y(p[s.field]).toFixed(1)}`);
    nodes.push(el("polyline", { points: xy.join(" "), class: "line", stroke: s.color }));
  }
  svg.replaceChildren(...nodes);
}

function drawDetail() {
  const panel = $("detail");
  if (!selected) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  $("detail-name").textContent = selected;
  const points = history.get(selected) || [];
  chart($("chart-depth"), points, [
    { field: "ready", color: "var(--ready)" },
    { field: "inFlight", color: "var(--flight)" },
  ]);
  chart($("chart-rate"), points, [
    { field: "putRate", color: "var(--put)" },
    { field: "takeRate", color: "var(--take)" },
  ]);
}

function select(name) {
  if (selected !== name) $("peeked").hidden = true;
  selected = name;
  for (const tr of document.querySelectorAll("#queues tbody tr")) {
    tr.classList.toggle("selected", tr.dataset.queue === name);
  }
  drawDetail();
}

function confirmAction(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

const ACTIONS = {
  async peek(name) {
    select(name);
    try {
      const item = await api("POST", "/peek", { name });
      $("peek-result").textContent = JSON.stringify(item, null, 2);
    } catch (error) {
      $("peek-result").textContent = error.message;
    }
    $("peeked").hidden = false;
  },
  async purge(name) {
    if (!(await confirmAction(`Purge queue ${name}? Every ready and delayed item is dropped.`))) {
      return;
    }
    try {
      const result = await api("POST", "/purge", { name });
      toast(`Purged ${result.purged} item(s) from ${name}`);
    } catch (error) {
      toast(`Purge failed: ${error.message}`);
    }
    poll();
  },
  async pause(name) {
    await settle("/pause", name, `Paused ${name}: nothing is delivered until it is resumed`);
  },
  async resume(name) {
    await settle("/resume", name, `Resumed ${name}`);
  },
  async delete(name) {
    if (!(await confirmAction(`Delete queue ${name} and all its items?`))) return;
    try {
      await api("DELETE", "/queue", { name });
      toast(`Deleted ${name}`);
    } catch (error) {
      toast(`Delete failed: ${error.message}`);
    }
    poll();
  },
};

async function settle(path, name, done) {
  try {
    await api("POST", path, { name });
    toast(done);
  } catch (error) {
    toast(`${path.slice(1)} failed: ${error.message}`);
  }
  poll();
}

let polling = false;
async function poll() {
  if (polling) return;
  polling = true;
  try {
    const stats = await api("GET", "/stats");
    record(stats);
    render(stats);
    $("status").className = "status";
    $("status").title = `updated ${new Date(stats.time * 1000).toLocaleTimeString()}`;
    document.body.dataset.updated = String(stats.time);
  } catch (error) {
    $("status").className = "status stale";
    $("status").title = `not updated: ${error.message}`;
  } finally {
    polling = false;
  }
}

poll();
setInterval(poll, POLL_MS);
