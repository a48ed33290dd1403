/* coreduce dashboard: reads the JSON API (/api/v1/...) with the session cookie and draws the pages.
 *
 * No build step, no framework: DOM building with textContent (never innerHTML for data), Plotly.js (basic) for
 * charts, MapLibre GL JS for the map. Every number shown comes from an API response; the API enforces tenancy.
 * When a page has finished its first load it sets <body data-loaded="1"> (or "error"), which the browser tests
 * wait for.
 */
"use strict";

const API = "/api/v1";

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

/** GET (or another verb with a JSON body) an API path; 401 sends the browser to the login page. */
async function api(path, { method = "GET", body } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(API + path, init);
  if (r.status === 401) {
    window.location.assign("/ui/login");
    throw new ApiError(401, "signed out");
  }
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) {
    const msg = data && data.error ? data.error.message : `HTTP ${r.status}`;
    throw new ApiError(r.status, msg);
  }
  return data;
}

function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : "";
}

function showError(err, what = "Could not load") {
  const box = document.getElementById("error");
  if (!box) return;
  box.textContent = `${what}: ${err.message || err}`;
  box.hidden = false;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

/** A number for people: thousands separators, 3 significant digits below 1000. */
function fmt(x) {
  if (x === null || x === undefined || x === "") return "–";
  if (typeof x !== "number") return String(x);
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1000) return x.toLocaleString("en", { maximumFractionDigits: 0 });
  if (a === 0) return "0";
  return x.toLocaleString("en", { maximumSignificantDigits: 3 });
}

function fmtTs(ts) {
  if (!ts) return "–";
  return String(ts).replace("T", " ").replace(/(\.\d+)?(\+00:00|Z)$/, " UTC");
}

/**
 * Fill <table> with rows. columns: [{key, label, num?, format?(value,row), cell?(row) -> Node}].
 * An empty result says so in one row.
 */
function renderTable(table, columns, rows, { onRowClick, empty = "No rows in your scope." } = {}) {
  table.replaceChildren();
  const head = el("tr", {}, ...columns.map((c) => el("th", { text: c.label })));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  if (!rows.length) {
    body.append(el("tr", {}, el("td", { colspan: String(columns.length), class: "muted", text: empty })));
  }
  for (const row of rows) {
    const tr = el("tr");
    for (const c of columns) {
      const td = el("td", c.num ? { class: "num" } : {});
      if (c.cell) td.append(c.cell(row));
      else td.textContent = c.format ? c.format(row[c.key], row) : fmt(row[c.key]);
      tr.append(td);
    }
    if (onRowClick) {
      tr.style.cursor = "pointer";
      tr.addEventListener("click", () => {
        for (const s of body.querySelectorAll("tr.selected")) s.classList.remove("selected");
        tr.classList.add("selected");
        onRowClick(row);
      });
    }
    body.append(tr);
  }
  table.append(body);
}

/** Key/value table of a (possibly nested) object: nested keys joined with dots, arrays as JSON. */
function renderKv(table, obj) {
  const rows = [];
  const walk = (prefix, v) => {
    if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length) {
      for (const [k, w] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, w);
    } else {
      rows.push({ key: prefix, value: typeof v === "object" && v !== null ? JSON.stringify(v) : v });
    }
  };
  for (const [k, v] of Object.entries(obj || {})) walk(k, v);
  renderTable(table, [{ key: "key", label: "field", format: String }, { key: "value", label: "value" }], rows, {
    empty: "No further fields.",
  });
}

const PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

function plot(id, traces, layout = {}) {
  const node = document.getElementById(id);
  const empty = !traces.length || traces.every((t) => !(t.x && t.x.length));
  const base = {
    margin: { l: 60, r: 20, t: 10, b: 50 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { size: 12 },
    legend: { orientation: "h", y: -0.2 },
  };
  if (empty) {
    base.annotations = [{ text: "No rows in your scope", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }];
    base.xaxis = { visible: false };
    base.yaxis = { visible: false };
  }
  return Plotly.react(node, traces, { ...base, ...layout, ...(empty ? { xaxis: base.xaxis, yaxis: base.yaxis } : {}) }, PLOT_CONFIG);
}

function option(value, label, selected) {
  const o = el("option", { value, text: label ?? value });
  if (selected) o.selected = true;
  return o;
}

function uniq(xs) { return [...new Set(xs)]; }

/* ------------------------------------------------------------------------------------------------ login */

function initLogin() {
  const form = document.getElementById("login-form");
  const msg = document.getElementById("login-message");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.textContent = "Checking…";
    const r = await fetch(`${API}/session`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ token: document.getElementById("token").value.trim() }),
    });
    if (r.ok) {
      window.location.assign("/");
      return;
    }
    const data = await r.json().catch(() => null);
    msg.textContent = data && data.error ? data.error.message : `Sign-in failed (HTTP ${r.status})`;
    msg.className = "bad";
  });
}

async function logout() {
  await fetch(`${API}/session`, { method: "DELETE", credentials: "same-origin" });
  window.location.assign("/ui/login");
}

/* --------------------------------------------------------------------------------------------- overview */

const KIND_COLOURS = { station: "#1f77b4", facility: "#d62728", plant: "#9467bd", meter: "#2ca02c", region: "#7f7f7f" };
const DISTRICT_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"];

/** Convex hull (Andrew's monotone chain) of [lon, lat] points, closed ring. */
function hull(points) {
  const pts = uniq(points.map((p) => p.join(","))).map((s) => s.split(",").map(Number)).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (pts.length < 3) return null;
  const cross = (o, a, b) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower = [];
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper = [];
  for (const p of [...pts].reverse()) {
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], p) <= 0) upper.pop();
    upper.push(p);
  }
  const ring = lower.slice(0, -1).concat(upper.slice(0, -1));
  ring.push(ring[0]);
  return ring;
}

/** District areas: the hull of each region's sites, each site padded by 0.02° so one or two sites still make an area. */
function districtFeatures(sites) {
  const byRegion = new Map();
  for (const s of sites) {
    const key = s.region || "(no district)";
    if (!byRegion.has(key)) byRegion.set(key, []);
    const d = 0.02;
    byRegion.get(key).push([s.lon - d, s.lat - d], [s.lon + d, s.lat - d], [s.lon + d, s.lat + d], [s.lon - d, s.lat + d]);
  }
  let i = 0;
  const features = [];
  for (const [region, pts] of byRegion) {
    const ring = hull(pts);
    if (ring) {
      features.push({
        type: "Feature",
        properties: { region, colour: DISTRICT_COLOURS[i % DISTRICT_COLOURS.length] },
        geometry: { type: "Polygon", coordinates: [ring] },
      });
    }
    i += 1;
  }
  return { type: "FeatureCollection", features };
}

function drawMap(sites) {
  const node = document.getElementById("map");
  const located = sites.filter((s) => Number.isFinite(s.lat) && Number.isFinite(s.lon));
  node.dataset.sites = String(located.length);
  const map = new maplibregl.Map({
    container: node,
    style: node.dataset.style,
    center: located.length ? [located[0].lon, located[0].lat] : [0, 0],
    zoom: located.length ? 8 : 1,
    attributionControl: false,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
  map.on("load", () => {
    map.addSource("districts", { type: "geojson", data: districtFeatures(located) });
    map.addLayer({ id: "districts-fill", type: "fill", source: "districts", paint: { "fill-color": ["get", "colour"], "fill-opacity": 0.15 } });
    map.addLayer({ id: "districts-line", type: "line", source: "districts", paint: { "line-color": ["get", "colour"], "line-width": 1.5 } });
    map.addSource("sites", {
      type: "geojson",
      data: {
        type: "FeatureCollection",
        features: located.map((s) => ({
          type: "Feature",
          properties: { site_id: s.site_id, name: s.name || s.site_id, kind: s.kind, sector: s.sector || "", region: s.region || "", tenant: s.tenant || "", colour: KIND_COLOURS[s.kind] || "#333" },
          geometry: { type: "Point", coordinates: [s.lon, s.lat] },
        })),
      },
    });
    map.addLayer({ id: "sites", type: "circle", source: "sites", paint: { "circle-radius": 6, "circle-color": ["get", "colour"], "circle-stroke-color": "#fff", "circle-stroke-width": 1.5 } });
    map.on("click", "sites", (e) => {
      const p = e.features[0].properties;
      const box = el("div", {}, el("strong", { text: p.name }), el("br"), `${p.kind}${p.sector ? " · " + p.sector : ""}`, el("br"), `${p.region}${p.tenant ? " · " + p.tenant : ""}`);
      new maplibregl.Popup().setLngLat(e.lngLat).setDOMContent(box).addTo(map);
    });
    map.on("mouseenter", "sites", () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", "sites", () => { map.getCanvas().style.cursor = ""; });
    if (located.length > 1) {
      const lons = located.map((s) => s.lon);
      const lats = located.map((s) => s.lat);
      map.fitBounds([[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]], { padding: 40, duration: 0 });
    }
    node.dataset.ready = "1";
  });
}

/** The overview's emission figures for the selected pollutant: the summary and the district (or facility) split. */
function fetchEmissions() {
  const pollutant = document.getElementById("pollutant").value;
  const by = document.getElementById("chart-region") ? "region" : "entity";
  return Promise.all([api(`/summary${qs({ pollutant })}`), api(`/inventory${qs({ by, pollutant })}`)]);
}

async function loadEmissions(sitesById) {
  await drawEmissions(await fetchEmissions(), sitesById);
}

async function drawEmissions([summary, second], sitesById) {
  const pollutant = summary.pollutant;
  const unit = summary.unit || "t";
  document.getElementById("kpi-total").textContent = `${fmt(summary.total)} ${unit} ${summary.pollutant}`;
  document.getElementById("kpi-sites").textContent = fmt(summary.sites);
  document.getElementById("kpi-alerts").textContent = fmt(summary.open_alerts);
  const sectors = [...summary.by_sector].sort((a, b) => b.amount - a.amount);
  const drawn = [];
  drawn.push(plot("chart-sector", [{ type: "bar", x: sectors.map((r) => r.sector || "(none)"), y: sectors.map((r) => r.amount), marker: { color: "#1f6f8b" }, name: pollutant }], { yaxis: { title: { text: `${pollutant} [${unit}]` } } }));
  const items = [...second.items].sort((a, b) => b.amount - a.amount);
  const secondId = document.getElementById("chart-region") ? "chart-region" : "chart-entity";
  const label = (k) => (secondId === "chart-entity" && sitesById.has(k) ? sitesById.get(k).name || k : k || "(none)");
  drawn.push(plot(secondId, [{ type: "bar", x: items.map((r) => label(r.key)), y: items.map((r) => r.amount), marker: { color: "#59a14f" }, name: pollutant }], { yaxis: { title: { text: `${pollutant} [${second.unit || unit}]` } } }));
  const days = [...summary.by_day].sort((a, b) => (a.day < b.day ? -1 : 1));
  drawn.push(plot("chart-day", [{ type: "scatter", mode: "lines", x: days.map((r) => r.day), y: days.map((r) => r.amount), line: { color: "#e15759" }, name: pollutant }], { yaxis: { title: { text: `${pollutant} [${unit}/day]` } } }));
  await Promise.all(drawn);
}

async function initOverview() {
  // every request at once: the page waits for the slowest one, not for their sum
  const [me, sites, alerts, emissions] = await Promise.all([
    api("/me"),
    api("/sites"),
    api(`/alerts${qs({ status: "open" })}`),
    fetchEmissions(),
  ]);
  const name = document.getElementById("tenant-name");
  if (name) name.textContent = me.tenant_name || me.tenant;
  const sitesById = new Map(sites.items.map((s) => [s.site_id, s]));
  drawMap(sites.items);
  await drawEmissions(emissions, sitesById);
  document.getElementById("pollutant").addEventListener("change", () => loadEmissions(sitesById).catch(showError));
  renderTable(document.getElementById("sites-table"), [
    { key: "name", label: "name", format: (v, r) => v || r.site_id },
    { key: "kind", label: "kind" },
    { key: "sector", label: "sector" },
    { key: "region", label: "district" },
    { key: "tenant", label: "tenant" },
  ], sites.items);
  renderTable(document.getElementById("alerts-table"), alertColumns(sitesById, false), alerts.items);
  const quota = document.getElementById("quota-form");
  if (quota) quota.addEventListener("submit", (ev) => computeQuota(ev).catch((err) => showError(err, "Could not compute the quota")));
}

/** The enterprise's quota position: its CO2 from the summary against a grandfathered quota (policy calculator). */
async function computeQuota(ev) {
  ev.preventDefault();
  const history = document.getElementById("quota-history").value.split(",").map((x) => x.trim()).filter(Boolean).map(Number);
  if (!history.length || history.some((x) => !Number.isFinite(x) || x < 0)) {
    showError(new Error("past annual emissions: expected numbers >= 0 separated by commas"), "Could not compute the quota");
    return;
  }
  const summary = await api(`/summary${qs({ pollutant: "CO2" })}`);
  const body = {
    history,
    reduction: Number(document.getElementById("quota-reduction").value || 0),
    emissions: summary.total,
    prices: { price: Number(document.getElementById("quota-price").value || 0) },
  };
  const q = await api("/policy/quota", { method: "POST", body });
  const pos = q.position_t;
  renderKv(document.getElementById("quota-table"), {
    "quota [t CO2]": q.quota_t,
    "emissions [t CO2]": q.emissions_t,
    "position [t CO2]": `${fmt(pos)} (${pos < 0 ? "deficit" : "surplus"})`,
    "cost of closing it [CNY]": q.cost ? q.cost.price : null,
  });
}

function alertColumns(sitesById, withAck) {
  const cols = [
    { key: "site_id", label: "site", format: (v) => (sitesById.has(v) ? sitesById.get(v).name || v : v) },
    { key: "variable", label: "variable" },
    { key: "kind", label: "kind" },
    { key: "ts_start", label: "from", format: fmtTs },
    { key: "ts_end", label: "to", format: fmtTs },
    { key: "observed", label: "observed", num: true, format: (v, r) => `${fmt(v)} ${r.unit || ""}` },
    { key: "band_high", label: "band / limit", num: true, format: (v, r) => (r.band_low === null || r.band_low === undefined ? `≤ ${fmt(v)}` : `${fmt(r.band_low)} – ${fmt(v)}`) },
    { key: "path", label: "cause → action", format: (v, r) => (r.action ? `${v}: ${r.action}` : v || "") },
    { key: "status", label: "status" },
  ];
  if (withAck) {
    cols.push({
      key: "alert_id",
      label: "",
      cell: (r) => (r.status === "open"
        ? el("button", { type: "button", class: "small", text: "Acknowledge", "data-alert": r.alert_id, onclick: (ev) => ackAlert(ev.target, r.alert_id) })
        : document.createTextNode(r.acknowledged_by ? `by ${r.acknowledged_by}` : "")),
    });
  }
  return cols;
}

async function ackAlert(button, alertId) {
  button.disabled = true;
  try {
    const a = await api(`/alerts/${encodeURIComponent(alertId)}/ack`, { method: "POST", body: {} });
    button.replaceWith(document.createTextNode(`by ${a.acknowledged_by || "you"}`));
  } catch (err) {
    button.disabled = false;
    showError(err, "Could not acknowledge the alert");
  }
}

/* ------------------------------------------------------------------------------------------------- live */

const live = { timer: null, sitesById: new Map() };

async function pollLive() {
  const siteId = document.getElementById("site").value;
  const variable = document.getElementById("variable").value;
  if (!siteId || !variable) {
    plot("chart-live", []);
    return;
  }
  const [obs, alerts] = await Promise.all([
    api(`/observations${qs({ site_id: siteId, variable, limit: 500 })}`),
    api(`/alerts${qs({ site_id: siteId })}`),
  ]);
  const rows = [...obs.items].sort((a, b) => (a.ts < b.ts ? -1 : 1));
  const unit = rows.length ? rows[0].unit : "";
  const t0 = rows.length ? Date.parse(rows[0].ts) : 0;
  const t1 = rows.length ? Date.parse(rows[rows.length - 1].ts) : 0;
  const mine = alerts.items.filter((a) => a.variable === variable);
  const inView = mine.filter((a) => Date.parse(a.ts_end) >= t0 && Date.parse(a.ts_start) <= t1);
  // A dynamic alert's band (expected range given the operating state) is shaded over the event; a fixed limit is a
  // dashed line across the chart (it holds at all times).
  const shapes = [];
  for (const a of inView) {
    if (a.kind === "limit" && a.band_high !== null && a.band_high !== undefined) {
      shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: a.band_high, y1: a.band_high, line: { color: "#b42318", dash: "dash", width: 1.5 } });
    } else if (a.band_high !== null && a.band_high !== undefined) {
      const x1 = a.ts_end === a.ts_start ? new Date(Date.parse(a.ts_end) + 3600e3).toISOString() : a.ts_end;
      shapes.push({ type: "rect", xref: "x", yref: "y", x0: a.ts_start, x1, y0: a.band_low ?? 0, y1: a.band_high, fillcolor: "rgba(247,144,9,0.25)", line: { width: 0 }, layer: "below" });
    }
  }
  const traces = [
    { type: "scatter", mode: "lines", name: `${variable} [${unit}]`, x: rows.map((r) => r.ts), y: rows.map((r) => r.value), line: { color: "#1f6f8b" } },
  ];
  if (inView.length) {
    traces.push({ type: "scatter", mode: "markers", name: "alert: observed peak", x: inView.map((a) => a.ts_start), y: inView.map((a) => a.observed), marker: { color: "#b42318", size: 9, symbol: "x" }, text: inView.map((a) => `${a.kind} alert ${fmtTs(a.ts_start)} – ${fmtTs(a.ts_end)}; band ${fmt(a.band_low)} – ${fmt(a.band_high)}`), hoverinfo: "text+y" });
  }
  await plot("chart-live", traces, { shapes, yaxis: { title: { text: `${variable} [${unit}]` } } });
  const site = live.sitesById.get(siteId);
  document.getElementById("live-title").textContent = `${site ? site.name || siteId : siteId}: ${variable}, latest ${rows.length} readings`;
  renderTable(document.getElementById("alerts-table"), alertColumns(live.sitesById, document.body.dataset.canAck === "1"), mine);
  document.getElementById("updated").textContent = new Date().toLocaleTimeString();
}

async function loadVariables() {
  const siteId = document.getElementById("site").value;
  const select = document.getElementById("variable");
  select.replaceChildren();
  if (!siteId) return;
  const [obs, alerts] = await Promise.all([
    api(`/observations${qs({ site_id: siteId, limit: 1000 })}`),
    api(`/alerts${qs({ site_id: siteId })}`),
  ]);
  // Start on a variable that has alerts (so its bands show), else the first in alphabetical order.
  const alarmed = new Set(alerts.items.map((a) => a.variable));
  const vars = uniq(obs.items.map((r) => r.variable)).sort();
  const first = vars.find((v) => alarmed.has(v)) ?? vars[0];
  for (const v of vars) select.append(option(v, v, v === first));
}

function schedule() {
  if (live.timer) clearInterval(live.timer);
  const every = Number(document.getElementById("interval").value) * 1000;
  live.timer = setInterval(() => pollLive().catch(showError), every);
}

async function initLive() {
  const sites = await api("/sites");
  live.sitesById = new Map(sites.items.map((s) => [s.site_id, s]));
  const select = document.getElementById("site");
  const wanted = new URLSearchParams(window.location.search).get("site");
  for (const s of sites.items) select.append(option(s.site_id, `${s.name || s.site_id} (${s.kind})`, s.site_id === wanted));
  await loadVariables();
  await pollLive();
  select.addEventListener("change", () => loadVariables().then(pollLive).catch(showError));
  document.getElementById("variable").addEventListener("change", () => pollLive().catch(showError));
  document.getElementById("interval").addEventListener("change", schedule);
  schedule();
}

/* -------------------------------------------------------------------------------------------- forecasts */

const fc = { rows: [], siteIds: new Set() };

async function drawForecast() {
  const [series, variable] = (document.getElementById("series").value || "|").split("|");
  const model = document.getElementById("model").value;
  const rows = fc.rows.filter((r) => r.series === series && r.variable === variable && r.model === model);
  const cutoff = rows.reduce((m, r) => (r.cutoff > m ? r.cutoff : m), "");
  const issue = rows.filter((r) => r.cutoff === cutoff).sort((a, b) => (a.target_time < b.target_time ? -1 : 1));
  const unit = issue.length ? issue[0].unit || "" : "";
  const x = issue.map((r) => r.target_time);
  const traces = [];
  if (issue.some((r) => r.lo !== null && r.lo !== undefined)) {
    traces.push({ type: "scatter", mode: "lines", x, y: issue.map((r) => r.lo), line: { width: 0 }, showlegend: false, hoverinfo: "skip", name: "lower" });
    traces.push({ type: "scatter", mode: "lines", x, y: issue.map((r) => r.hi), fill: "tonexty", fillcolor: "rgba(31,111,139,0.2)", line: { width: 0 }, name: "interval" });
  }
  traces.push({ type: "scatter", mode: "lines", x, y: issue.map((r) => r.point), line: { color: "#1f6f8b" }, name: `${model} point` });
  if (issue.length && fc.siteIds.has(series)) {
    const obs = await api(`/observations${qs({ site_id: series, variable, start: x[0], end: x[x.length - 1], limit: 5000 })}`);
    const o = [...obs.items].sort((a, b) => (a.ts < b.ts ? -1 : 1));
    if (o.length) traces.push({ type: "scatter", mode: "markers", x: o.map((r) => r.ts), y: o.map((r) => r.value), marker: { color: "#e15759", size: 4 }, name: "observed" });
  }
  await plot("chart-forecast", traces, { yaxis: { title: { text: `${variable || ""} [${unit}]` } } });
  document.getElementById("fc-title").textContent = issue.length ? `${series} · ${variable} · ${model}, issued ${fmtTs(cutoff)}` : "No forecasts in your scope";
  renderTable(document.getElementById("forecast-table"), [
    { key: "target_time", label: "for", format: fmtTs },
    { key: "horizon", label: "horizon", num: true },
    { key: "point", label: "point", num: true },
    { key: "lo", label: "low", num: true },
    { key: "hi", label: "high", num: true },
    { key: "unit", label: "unit", format: (v) => v || "" },
    { key: "run_id", label: "ledger run", format: (v) => v || "" },
  ], issue);
}

function fillModels() {
  const [series, variable] = (document.getElementById("series").value || "|").split("|");
  const select = document.getElementById("model");
  select.replaceChildren();
  for (const m of uniq(fc.rows.filter((r) => r.series === series && r.variable === variable).map((r) => r.model)).sort()) select.append(option(m));
}

async function initForecasts() {
  const [forecasts, sites] = await Promise.all([api(`/forecasts${qs({ limit: 10000 })}`), api("/sites")]);
  fc.rows = forecasts.items;
  fc.siteIds = new Set(sites.items.map((s) => s.site_id));
  const select = document.getElementById("series");
  for (const key of uniq(fc.rows.map((r) => `${r.series}|${r.variable}`)).sort()) select.append(option(key, key.replace("|", " · ")));
  fillModels();
  await drawForecast();
  select.addEventListener("change", () => { fillModels(); drawForecast().catch(showError); });
  document.getElementById("model").addEventListener("change", () => drawForecast().catch(showError));
}

/* -------------------------------------------------------------------------------------------- decisions */

async function showDecision(runId) {
  const d = await api(`/decisions/${encodeURIComponent(runId)}`);
  document.getElementById("decision-detail").hidden = false;
  document.getElementById("decision-id").textContent = `${d.problem} · ${d.run_id}`;
  const rows = d.rows || [];
  const periods = uniq(rows.map((r) => r.period_start));
  const items = uniq(rows.map((r) => r.item));
  let traces;
  if (periods.length > 1) {
    traces = items.map((item) => {
      const rs = rows.filter((r) => r.item === item).sort((a, b) => (a.period_start < b.period_start ? -1 : 1));
      return { type: "scatter", mode: "lines", name: item, x: rs.map((r) => r.period_start), y: rs.map((r) => r.value) };
    });
  } else {
    traces = [{ type: "bar", name: "value", x: rows.map((r) => `${r.item} (${r.quantity})`), y: rows.map((r) => r.value), marker: { color: "#1f6f8b" } }];
  }
  const unit = uniq(rows.map((r) => r.unit)).join(", ");
  await plot("chart-decision", traces, { yaxis: { title: { text: `${uniq(rows.map((r) => r.quantity)).join(", ")} [${unit}]` } } });
  // The explanation's sentences (when the pipeline wrote them) first, then every field of it.
  const expl = { ...(d.explanation || {}) };
  const words = Array.isArray(expl.in_words) ? expl.in_words : [];
  delete expl.in_words;
  document.getElementById("explanation-words").replaceChildren(...words.map((w) => el("li", { text: String(w) })));
  renderKv(document.getElementById("explanation-table"), expl);
  const claims = d.claims || [];
  const claimCols = claims.length ? Object.keys(claims[0]).map((k) => ({ key: k, label: k, num: typeof claims[0][k] === "number" })) : [{ key: "pollutant", label: "pollutant" }];
  renderTable(document.getElementById("claims-table"), claimCols, claims);
  renderKv(document.getElementById("cobenefits-table"), d.co_benefits || { note: "no co-benefits computed for this run" });
  renderTable(document.getElementById("rows-table"), [
    { key: "item", label: "item" },
    { key: "period_start", label: "period", format: fmtTs },
    { key: "quantity", label: "quantity" },
    { key: "value", label: "value", num: true },
    { key: "unit", label: "unit" },
  ], rows);
}

/** "SO2=50000, NOx=20000" -> {SO2: 50000, NOx: 20000}; a malformed entry is an error naming it. */
function parseTargets(text) {
  const out = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = part.match(/^([A-Za-z0-9.]+)\s*=\s*([0-9.eE+-]+)$/);
    if (!m || !Number.isFinite(Number(m[2]))) throw new Error(`targets: expected POLLUTANT=t/yr, got "${part}"`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

const decide = { examples: {} };

function fillExamples() {
  const kind = document.getElementById("decide-kind").value;
  const select = document.getElementById("decide-example");
  select.replaceChildren(...(decide.examples[kind] || []).map((e) => option(e)));
  document.getElementById("targets-label").hidden = kind !== "portfolio";
}

async function runDecision(ev) {
  ev.preventDefault();
  const kind = document.getElementById("decide-kind").value;
  const status = document.getElementById("decide-status");
  const progress = document.getElementById("decide-progress");
  const button = document.getElementById("decide-run");
  const body = { example: document.getElementById("decide-example").value };
  try {
    if (kind === "portfolio") body.targets = parseTargets(document.getElementById("decide-targets").value);
  } catch (err) {
    showError(err);
    return;
  }
  button.disabled = true;
  progress.hidden = false;
  progress.value = 0;
  try {
    let job = await api(`/decisions/${kind}`, { method: "POST", body });
    status.textContent = `job ${job.job_id}: ${job.status}`;
    while (job.status === "queued" || job.status === "running") {
      await new Promise((r) => setTimeout(r, 500));
      job = await api(`/jobs/${encodeURIComponent(job.job_id)}`);
      progress.value = job.progress ?? 0;
      status.textContent = `job ${job.job_id}: ${job.status}${job.message ? " – " + job.message : ""}`;
    }
    status.className = job.status === "ok" ? "ok" : "bad";
    if (job.status === "ok" && job.run_id) {
      await loadDecisions(job.run_id);
    }
  } catch (err) {
    showError(err, "Could not run the decision");
  } finally {
    button.disabled = false;
  }
}

async function loadDecisions(selected) {
  const list = await api("/decisions");
  renderTable(document.getElementById("decisions-table"), [
    { key: "run_id", label: "run" },
    { key: "problem", label: "problem" },
    { key: "objective", label: "objective", num: true, format: (v, r) => `${fmt(v)} ${r.objective_unit || ""}` },
    { key: "started_at", label: "started", format: fmtTs },
    { key: "status", label: "status" },
  ], list.items, { onRowClick: (r) => showDecision(r.run_id).catch(showError) });
  if (list.items.length) {
    const i = Math.max(0, list.items.findIndex((r) => r.run_id === selected));
    document.querySelectorAll("#decisions-table tbody tr")[i].classList.add("selected");
    await showDecision(list.items[i].run_id);
  }
}

async function initDecisions() {
  const form = document.getElementById("decide-form");
  if (form) {
    decide.examples = await api("/decisions/examples");
    fillExamples();
    document.getElementById("decide-kind").addEventListener("change", fillExamples);
    form.addEventListener("submit", runDecision);
  }
  await loadDecisions(null);
}

/* ----------------------------------------------------------------------------------------------- ledger */

async function verifyLedger() {
  const out = document.getElementById("verify-result");
  const problems = document.getElementById("verify-problems");
  out.textContent = "Verifying…";
  out.className = "muted";
  problems.replaceChildren();
  try {
    // The whole chain is recomputed; the API counts the records of the caller's scope and names a problem only
    // when it is in that scope.
    const v = await api("/ledger/verify", { method: "POST", body: {} });
    const n = v.records_in_scope ?? v.records;
    out.textContent = v.ok
      ? `Chain intact (${v.status || "ok"}): ${fmt(n)} records of your scope, the whole chain recomputed.`
      : `Chain broken (${v.status || "error"}).`;
    out.className = v.ok ? "ok" : "bad";
    const found = v.problems ?? (v.problem ? [v.problem] : []);
    for (const p of found) problems.append(el("li", { text: typeof p === "string" ? p : JSON.stringify(p) }));
    if (v.first_bad_run_id) problems.append(el("li", { text: `first bad record: run ${v.first_bad_run_id}` }));
  } catch (err) {
    out.textContent = "";
    showError(err, "Could not verify the ledger");
  }
}

async function initLedger() {
  const verify = document.getElementById("verify");
  if (verify) verify.addEventListener("click", verifyLedger);
  const list = await api(`/ledger${qs({ limit: 1000 })}`);
  renderTable(document.getElementById("ledger-table"), [
    { key: "seq", label: "#", num: true },
    { key: "run_id", label: "run" },
    { key: "kind", label: "kind" },
    { key: "user", label: "user" },
    { key: "started_at", label: "started", format: fmtTs },
    { key: "status", label: "status" },
    { key: "claimed_reduction_t", label: "claimed [t CO2e]", num: true },
    { key: "emissions_kg", label: "run footprint [kg CO2]", num: true },
    { key: "net_reduction_t", label: "net [t CO2e]", num: true },
  ], list.items, {
    onRowClick: async (r) => {
      try {
        const rec = await api(`/ledger/${encodeURIComponent(r.run_id)}`);
        document.getElementById("record-detail").hidden = false;
        document.getElementById("record-id").textContent = r.run_id;
        renderKv(document.getElementById("record-table"), rec);
      } catch (err) {
        showError(err);
      }
    },
  });
}

/* ------------------------------------------------------------------------------------------ evaluations */

async function initEvaluations() {
  const [evals, byMode, all] = await Promise.all([
    api(`/evaluations${qs({ limit: 1000 })}`),
    api(`/credits${qs({ by: "mode" })}`),
    api(`/credits${qs({ by: "all" })}`),
  ]);
  renderTable(document.getElementById("evaluations-table"), [
    { key: "seq", label: "#", num: true },
    { key: "run_id", label: "run" },
    { key: "kind", label: "kind" },
    { key: "started_at", label: "started", format: fmtTs },
    { key: "status", label: "status" },
  ], evals.items, {
    onRowClick: (r) => {
      document.getElementById("evaluation-detail").hidden = false;
      document.getElementById("evaluation-id").textContent = r.run_id;
      renderKv(document.getElementById("evaluation-table"), { params: r.params, explanation: r.explanation });
    },
  });
  const total = all.items.length ? all.items[0] : { reduction_kg: 0, claims: 0, runs: 0 };
  document.getElementById("kpi-credits").textContent = `${fmt(total.reduction_kg)} kg CO2`;
  document.getElementById("kpi-credit-runs").textContent = `${fmt(total.claims)} / ${fmt(total.runs)}`;
  const modes = [...byMode.items].sort((a, b) => b.reduction_kg - a.reduction_kg);
  await plot("chart-credits", [{ type: "bar", x: modes.map((r) => r.mode), y: modes.map((r) => r.reduction_kg), marker: { color: "#59a14f" }, name: "kg CO2" }], { yaxis: { title: { text: "reduction [kg CO2]" } } });
}

/* ------------------------------------------------------------------------------------------------ start */

const PAGES = { login: initLogin, overview: initOverview, live: initLive, forecasts: initForecasts, decisions: initDecisions, evaluations: initEvaluations, ledger: initLedger };

document.addEventListener("DOMContentLoaded", async () => {
  const out = document.getElementById("logout");
  if (out) out.addEventListener("click", logout);
  const init = PAGES[document.body.dataset.page];
  try {
    if (init) await init();
    performance.mark("coreduce-loaded"); // the page's data is drawn (read by benchmarks/dashboard.py)
    document.body.dataset.loaded = "1";
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) showError(err);
    document.body.dataset.loaded = "error";
  }
});
