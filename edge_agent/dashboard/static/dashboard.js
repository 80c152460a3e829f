// The edge-agent dashboard page: applies the server's events (/events) to the tables and charts.
// Every value comes from the fleet and is untrusted: it is written with textContent, never as HTML.
"use strict";

const agents = new Map();   // id -> {id, kind, online, since, last_seen}
const runs = new Map();     // run id -> {info, points: [[round, primal, dual]], chart, element}
let serverOffset = 0;       // server clock minus page clock, seconds

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.max(0, Date.now() / 1000 + serverOffset - seconds);
  if (s < 60) return `${s.toFixed(0)} s ago`;
  if (s < 3600) return `${(s / 60).toFixed(0)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

function fmt(value, digits = 4) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e6)) return value.toExponential(2);
  return Number(value.toPrecision(digits)).toString();
}

function renderAgents() {
  const devices = [...agents.values()].filter(a => a.kind).sort((a, b) => a.id.localeCompare(b.id));
  const others = [...agents.values()].filter(a => !a.kind).sort((a, b) => a.id.localeCompare(b.id));
  const body = document.querySelector("#devices tbody");
  body.replaceChildren(...devices.map(a => el("tr", {"data-agent": a.id, "data-online": String(a.online)},
    el("td", {}, a.id), el("td", {}, a.kind),
    el("td", {}, el("span", {class: "badge " + (a.online ? "on" : "off")}, a.online ? "online" : "offline")),
    el("td", {}, ago(a.since)))));
  const online = devices.filter(a => a.online).length;
  document.getElementById("device-count").textContent = `${devices.length} devices, ${online} online`;
  const services = document.querySelector("#services tbody");
  services.replaceChildren(...others.map(a => el("tr", {"data-agent": a.id, "data-online": String(a.online)},
    el("td", {}, a.id),
    el("td", {}, el("span", {class: "badge " + (a.online ? "on" : "off")}, a.online ? "online" : "offline")),
    el("td", {}, ago(a.since)))));
  document.getElementById("service-count").textContent = `${others.filter(a => a.online).length} online`;
}

function statusClass(status) {
  if (status === "running") return "running";
  if (status === "converged" || status === "optimal") return "done";
  return "warn";
}

function makeRun(id) {
  const element = el("div", {class: "run", "data-run": id, "data-points": "0"});
  const empty = document.querySelector("#runs .empty");
  if (empty) empty.remove();
  document.getElementById("runs").prepend(element);
  const run = {info: {}, points: [], chart: null, element};
  runs.set(id, run);
  return run;
}

function chartData(points) {
  const safe = v => (v === null || v <= 0 ? null : v);
  return [points.map(p => p[0]), points.map(p => safe(p[1])), points.map(p => safe(p[2]))];
}

function drawRun(run) {
  const info = run.info;
  const element = run.element;
  element.dataset.points = String(run.points.length);
  element.dataset.status = info.status || "";
  const status = info.status || "?";
  const head = el("div", {class: "run-head"},
    el("span", {class: "job"}, info.job || info.run), el("span", {class: "badge " + statusClass(status)}, status),
    el("span", {}, info.algorithm || ""), el("span", {class: "id"}, info.run));
  const result = info.result || {};
  const facts = el("div", {class: "facts"},
    el("span", {}, "iteration ", el("b", {}, `${info.iteration ?? "–"}${info.max_iterations ? " / " + info.max_iterations : ""}`)),
    el("span", {}, "devices answering ", el("b", {}, `${info.present ?? "–"} / ${info.participants ?? "–"}`)),
    el("span", {}, "wall time ", el("b", {}, `${fmt(result.wall_s ?? info.elapsed_s, 3)} s`)),
    el("span", {}, "last residual ", el("b", {}, fmt(run.points.length ? run.points[run.points.length - 1][1] : null))));
  if (result.objective !== undefined) facts.append(el("span", {}, "objective ", el("b", {}, fmt(result.objective, 6))));
  let chartBox = element.querySelector(".chart");
  if (!chartBox) chartBox = el("div", {class: "chart"});
  const children = [head, facts, chartBox];
  if (result.error) children.push(el("p", {class: "result"}, "failed: ", result.error));
  if (result.participants && Object.keys(result.participants).length) {
    const rows = Object.entries(result.participants).map(([pid, v]) => {
      const x = Array.isArray(v.x) ? v.x : [];
      const shown = x.slice(0, 6).map(value => fmt(value, 4)).join(", ") + (x.length > 6 ? ", …" : "");
      return el("tr", {}, el("td", {}, pid), el("td", {class: "num"}, shown), el("td", {class: "num"}, fmt(v.cost, 5)));
    });
    children.push(el("table", {class: "result"},
      el("thead", {}, el("tr", {}, el("th", {}, "device"), el("th", {}, "value x (per slot)"), el("th", {}, "local cost"))),
      el("tbody", {}, ...rows)));
  }
  element.replaceChildren(...children);
  const data = chartData(run.points);
  if (!run.chart) {
    const width = Math.max(320, chartBox.clientWidth || element.clientWidth - 24);
    run.chart = new uPlot({
      width, height: 220, title: "residuals per iteration (log scale)",
      scales: {x: {time: false}, y: {distr: 3}},
      axes: [{label: "iteration"},
             {label: "residual", size: 70, values: (u, values) => values.map(v => (v ? v.toExponential(0) : ""))}],
      series: [{label: "iteration"}, {label: "primal residual", stroke: "#1c4a9b", width: 2},
               {label: "dual residual", stroke: "#c2410c", width: 2}],
    }, data, chartBox);
  } else {
    run.chart.setData(data);
  }
}

function applyRun(event) {
  const run = runs.get(event.run) || makeRun(event.run);
  const {points, type, ...info} = event;
  run.info = Object.assign(run.info, Object.fromEntries(Object.entries(info).filter(([, v]) => v !== null)));
  for (const p of points || []) run.points.push(p);
  drawRun(run);
}

function apply(event) {
  if (event.type === "snapshot") {
    serverOffset = event.now - Date.now() / 1000;
    agents.clear();
    for (const a of event.agents) agents.set(a.id, a);
    for (const run of runs.values()) run.element.remove();
    runs.clear();
    for (const r of event.runs) applyRun(r);
    renderAgents();
  } else if (event.type === "agent") {
    agents.set(event.id, event);
    renderAgents();
  } else if (event.type === "run") {
    applyRun(event);
  }
  document.getElementById("run-count").textContent = runs.size ? `${runs.size}` : "";
}

function connect() {
  const link = document.getElementById("link");
  const source = new EventSource("/events");
  source.onopen = () => { link.textContent = "live"; link.className = "badge on"; };
  source.onerror = () => { link.textContent = "reconnecting…"; link.className = "badge off"; };
  source.onmessage = message => apply(JSON.parse(message.data));
}

setInterval(() => {
  document.getElementById("clock").textContent = new Date().toLocaleTimeString();
  renderAgents();
}, 1000);
connect();
