// The operator's console: one page over the API's own routes. Every call carries the key or token the user
// logged in with, so what the page shows and may do is what the API allows that key (roles, accounts).
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const BLOTTER_ROWS = 500; // newest orders kept in the blotter
const FILL_ROWS = 200;
const SERIES_POINTS = 600; // points kept per live chart
const POLL_MS = { market: 1000, risk: 2000, pipeline: 2000, equity: 2000 };
const COLORS = ["#4c9be8", "#3fb68b", "#e8a33d", "#e0576b", "#a77be8", "#5ad1d1", "#d1c45a", "#e87bb8"];

const state = {
  secret: null, me: null,
  orders: new Map(), // order_id → order (OrderPublic fields), kept newest by time
  fills: [], positions: new Map(), // "account|symbol" → PositionPublic
  sort: { key: "created_time", dir: -1 }, selected: null,
  equity: { times: [], byAccount: new Map() }, // account → PnL values aligned on times
  symbol: null, analytics: { windowEnd: null, rows: [] }, stages: new Map(), throughput: { times: [], byStage: new Map() },
  streams: [], charts: {}, timers: [],
};

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? String(body.detail) : `HTTP ${status}`);
    this.status = status; this.body = body;
  }
}

function authHeaders() {
  return state.secret.startsWith("sqk_") ? { "X-API-Key": state.secret } : { Authorization: `Bearer ${state.secret}` };
}

async function api(method, path, body) {
  const headers = authHeaders();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// -- server-sent events over fetch (EventSource cannot send the key header); resumes with Last-Event-ID ----
class Stream {
  constructor(path, onMessage, onState) {
    this.path = path; this.onMessage = onMessage; this.onState = onState;
    this.lastId = null; this.controller = null; this.stopped = false;
  }

  async run() {
    while (!this.stopped) {
      this.controller = new AbortController();
      try {
        const headers = authHeaders();
        if (this.lastId) headers["Last-Event-ID"] = this.lastId;
        const response = await fetch(this.path, { headers, signal: this.controller.signal });
        if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
        await this.read(response.body.pipeThrough(new TextDecoderStream()).getReader());
      } catch (error) {
        if (this.stopped) return;
        this.onState("reconnecting", error);
      }
      if (!this.stopped) await sleep(1000);
    }
  }

  async read(reader) {
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        this.frame(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  frame(text) {
    let event = "message", data = "", id = null;
    for (const line of text.split("\n")) {
      if (line.startsWith(":")) { if (line.slice(1).trim() === "ready") this.onState("live"); continue; }
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data += (data ? "\n" : "") + value;
      else if (field === "id") id = value;
    }
    if (id) this.lastId = id;
    if (data) this.onMessage(event, JSON.parse(data));
  }

  stop() { this.stopped = true; if (this.controller) this.controller.abort(); }
}

// -- formatting ---------------------------------------------------------------------------------------
const shortId = (id) => (id ? id.slice(0, 8) : "");
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "");
const num = (text) => (text === null || text === undefined || text === "" ? null : Number(text));
const fixed = (value, digits = 2) => (value === null || Number.isNaN(value) ? "" : value.toFixed(digits));

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function fillBody(table, items, render) {
  const body = $("tbody", table);
  body.replaceChildren();
  for (const item of items) render(body.insertRow(), item);
}

function canDo(action) { return state.me && state.me.may.includes(action); }

function showError(target, error) { target.textContent = error.message; target.className = "error"; }
function showOk(target, text) { target.textContent = text; target.className = "muted"; }

// -- login and views ------------------------------------------------------------------------------------
async function login(secret) {
  state.secret = secret;
  state.me = await api("GET", "/v1/me");
  sessionStorage.setItem("sq-console-secret", secret);
  $("#who").textContent = `${state.me.role} · ${state.me.accounts.join(", ")}`;
  $("#tabs").hidden = false; $("#logout").hidden = false;
  for (const element of $$("[data-needs]")) element.hidden = !canDo(element.dataset.needs);
  const accounts = $("#account-list");
  accounts.replaceChildren(...state.me.accounts.filter((a) => a !== "*").map((a) => new Option(a)));
  const first = state.me.accounts.find((a) => a !== "*");
  if (first) { $("#order-form").account.value = first; $("#limits-account").value = first; }
  startLiveData();
  showView("blotter");
}

function logout() {
  sessionStorage.removeItem("sq-console-secret");
  location.reload();
}

function showView(name) {
  for (const view of $$(".view")) view.classList.toggle("active", view.id === `${name}-view`);
  for (const button of $$("#tabs button")) button.classList.toggle("active", button.dataset.view === name);
  state.view = name;
  if (name === "risk") {
    refreshRisk().catch(console.warn);
    if ($("#limits-form").hidden && $("#limits-account").value) loadLimits($("#limits-account").value);
  }
  if (name === "pipeline") refreshPipelineSample().catch(console.warn);
  for (const chart of Object.values(state.charts)) resizeChart(chart);
}

function every(ms, task) {
  const run = async () => { try { await task(); } catch (error) { console.warn(error); } };
  state.timers.push(setInterval(run, ms));
}

function setStreamState(text) {
  const pill = $("#stream-state");
  pill.textContent = text; pill.classList.toggle("live", text === "live");
}

function startLiveData() {
  const stream = new Stream("/v1/stream?channel=orders&channel=fills&channel=positions", onStreamMessage,
    (text, error) => { setStreamState(text); if (text === "live") loadSnapshots(); else if (error) console.warn(error); });
  state.streams.push(stream);
  stream.run();
  every(POLL_MS.equity, sampleEquity);
  every(POLL_MS.risk, () => (state.view === "risk" ? refreshRisk() : null));
  every(POLL_MS.pipeline, () => (state.view === "pipeline" ? refreshPipelineSample() : null));
  every(POLL_MS.market, () => (state.view === "market" && state.symbol ? refreshMarket() : null));
}

// The stream is live before the snapshots are read: nothing falls between them, and an order's newer state
// (by its time) wins whichever arrives first.
async function loadSnapshots() {
  const [orders, fills, positions] = await Promise.all([
    api("GET", `/v1/orders?limit=${BLOTTER_ROWS}`), api("GET", `/v1/fills?limit=${FILL_ROWS}`), api("GET", "/v1/positions"),
  ]);
  for (const order of orders.items) mergeOrder(order, order.updated_time);
  const known = new Set(state.fills.map((f) => f.fill_id));
  state.fills.push(...fills.items.filter((f) => !known.has(f.fill_id)));
  state.fills.sort((a, b) => (a.time < b.time ? 1 : -1));
  for (const position of positions) mergePosition(position);
  renderBlotter(); renderFills(); renderPositions();
}

function onStreamMessage(channel, message) {
  const data = message.data;
  if (channel === "orders" || channel === "fills") {
    const known = state.orders.get(data.order_id);
    mergeOrder({
      ...(known || { created_time: data.event_time, time_in_force: "", last_reason: null }),
      order_id: data.order_id, client_order_id: data.client_order_id, account: data.account, symbol: data.symbol,
      side: data.side, type: data.type, status: data.status, version: data.version, quantity: data.quantity,
      price: data.price, cum_quantity: data.cum_quantity, leaves_quantity: data.leaves_quantity,
      avg_price: data.avg_price, last_event_type: data.event_type,
      last_reason: data.reject_reason || (known ? known.last_reason : null),
    }, data.event_time);
    if (channel === "fills" && data.fill_id && !state.fills.some((f) => f.fill_id === data.fill_id)) {
      state.fills.unshift({
        fill_id: data.fill_id, order_id: data.order_id, account: data.account, symbol: data.symbol, side: data.side,
        quantity: data.last_quantity, price: data.last_price, fee: data.fee, liquidity: data.liquidity, time: data.event_time,
      });
      state.fills.length = Math.min(state.fills.length, FILL_ROWS);
      renderFills();
    }
    scheduleBlotter(data.order_id);
  } else if (channel === "positions") {
    mergePosition(data);
    renderPositions();
  }
}

function mergeOrder(order, at) {
  const known = state.orders.get(order.order_id);
  if (known && known._at > at) return;
  state.orders.set(order.order_id, { ...order, _at: at });
  if (state.orders.size > BLOTTER_ROWS) {
    const oldest = [...state.orders.values()].sort((a, b) => (a.created_time < b.created_time ? -1 : 1))[0];
    state.orders.delete(oldest.order_id);
  }
  const symbols = $("#symbol-list");
  if (![...symbols.options].some((o) => o.value === order.symbol)) symbols.append(new Option(order.symbol));
}

// -- blotter ------------------------------------------------------------------------------------------
let blotterPending = null;
const changed = new Set();
function scheduleBlotter(orderId) {
  changed.add(orderId);
  if (blotterPending) return;
  blotterPending = requestAnimationFrame(() => {
    blotterPending = null; renderBlotter();
    if (state.selected && changed.has(state.selected)) loadOrderPanel(state.selected);
    changed.clear();
  });
}

function blotterRows() {
  const text = $("#blotter-filter").value.trim().toLowerCase();
  const status = $("#blotter-status").value;
  const { key, dir } = state.sort;
  const numeric = ["quantity", "price", "cum_quantity", "avg_price"].includes(key);
  return [...state.orders.values()]
    .filter((o) => !status || (status === "open" ? ["NEW", "PARTIALLY_FILLED"].includes(o.status) : o.status === status))
    .filter((o) => !text || [o.order_id, o.client_order_id, o.account, o.symbol, o.side, o.status].join(" ").toLowerCase().includes(text))
    .sort((a, b) => {
      const x = numeric ? num(a[key]) ?? -Infinity : a[key] ?? "";
      const y = numeric ? num(b[key]) ?? -Infinity : b[key] ?? "";
      return x < y ? -dir : x > y ? dir : 0;
    });
}

function renderBlotter() {
  const rows = blotterRows();
  $("#blotter-count").textContent = `${rows.length} of ${state.orders.size} orders`;
  fillBody($("#blotter"), rows, (row, o) => {
    row.dataset.orderId = o.order_id;
    row.dataset.status = o.status;
    row.dataset.account = o.account;
    row.dataset.symbol = o.symbol;
    if (o.order_id === state.selected) row.classList.add("selected");
    if (changed.has(o.order_id)) row.classList.add("flash");
    cell(row, time(o.created_time)); cell(row, shortId(o.order_id)); cell(row, o.account); cell(row, o.symbol);
    cell(row, o.side, o.side); cell(row, o.type); cell(row, o.quantity, "num"); cell(row, o.price, "num");
    cell(row, o.cum_quantity, "num"); cell(row, o.avg_price, "num"); cell(row, o.status, `status status-${o.status}`);
    cell(row, o.last_reason);
  });
  for (const th of $$("#blotter th")) {
    th.classList.toggle("sorted-asc", th.dataset.key === state.sort.key && state.sort.dir > 0);
    th.classList.toggle("sorted-desc", th.dataset.key === state.sort.key && state.sort.dir < 0);
  }
}

function renderFills() {
  fillBody($("#fills"), state.fills, (row, f) => {
    row.dataset.fillId = f.fill_id;
    cell(row, time(f.time)); cell(row, f.account); cell(row, f.symbol); cell(row, f.side, f.side);
    cell(row, f.quantity, "num"); cell(row, f.price, "num"); cell(row, f.fee, "num"); cell(row, f.liquidity);
    cell(row, shortId(f.order_id));
  });
}

async function loadOrderPanel(orderId) {
  state.selected = orderId;
  const panel = $("#order-panel");
  panel.hidden = false;
  const order = state.orders.get(orderId);
  $("#panel-title").textContent = `Order ${shortId(orderId)}`;
  const details = $("#panel-details");
  details.replaceChildren();
  for (const [label, value] of [["id", orderId], ["client id", order.client_order_id], ["account", order.account],
    ["symbol", order.symbol], ["side / type", `${order.side} ${order.type}`], ["quantity @ price", `${order.quantity} @ ${order.price ?? "market"}`],
    ["filled", `${order.cum_quantity} (avg ${order.avg_price ?? "–"})`], ["status", order.status]]) {
    details.append(Object.assign(document.createElement("dt"), { textContent: label }),
      Object.assign(document.createElement("dd"), { textContent: value }));
  }
  const live = ["NEW", "PARTIALLY_FILLED", "PENDING_NEW"].includes(order.status);
  $("#panel-actions").hidden = !live;
  try {
    const events = await api("GET", `/v1/orders/${encodeURIComponent(orderId)}/events`);
    if (state.selected !== orderId) return;
    fillBody($("#panel-events"), events, (row, e) => {
      cell(row, e.sequence); cell(row, time(e.event_time)); cell(row, e.event_type); cell(row, e.status);
      cell(row, e.quantity, "num"); cell(row, e.cum_quantity, "num");
      cell(row, e.last_price ? `${e.last_quantity} @ ${e.last_price}` : "", "num"); cell(row, e.reject_reason || e.detail);
    });
  } catch (error) {
    showError($("#panel-result"), error);
  }
  loadAudit(orderId);
}

// The audit story is served by GET /v1/orders/{id}/audit where that route exists; without it (404/405) the
// event history above is the whole story.
async function loadAudit(orderId) {
  const section = $("#panel-audit");
  try {
    const story = await api("GET", `/v1/orders/${encodeURIComponent(orderId)}/audit`);
    if (state.selected !== orderId) return;
    const list = $("#panel-audit-lines");
    list.replaceChildren();
    const add = (line, depth) => {
      const item = document.createElement("li");
      item.style.marginLeft = `${depth * 12}px`;
      item.append(Object.assign(document.createElement("div"), { textContent: `${line.kind}: ${line.summary}` }),
        Object.assign(document.createElement("div"), {
          className: "where",
          textContent: `${line.topic}/${line.partition}@${line.offset} · ${new Date(line.timestamp_us / 1000).toISOString()}`,
        }));
      list.append(item);
    };
    for (const line of story.lines || []) add(line, 0);
    for (const child of story.children || []) for (const line of child.lines || []) add(line, 1);
    section.hidden = false;
  } catch (error) {
    section.hidden = true;
    if (!(error instanceof ApiError && [404, 405].includes(error.status))) console.warn(error);
  }
}

function orderBody(form) {
  const body = {};
  for (const [name, value] of new FormData(form)) if (String(value).trim() !== "") body[name] = String(value).trim();
  return body;
}

// -- positions and PnL ----------------------------------------------------------------------------------
function mergePosition(position) {
  const key = `${position.account}|${position.symbol}`;
  const known = state.positions.get(key);
  if (!known || known.version <= position.version) state.positions.set(key, position);
}

function accountTotals() {
  const totals = new Map();
  for (const p of state.positions.values()) {
    const t = totals.get(p.account) || { realized: 0, unrealized: 0, fees: 0, count: 0 };
    t.realized += num(p.realized_pnl) || 0; t.unrealized += num(p.unrealized_pnl) || 0; t.fees += num(p.fees) || 0;
    t.count += 1;
    totals.set(p.account, t);
  }
  return totals;
}

function renderPositions() {
  const totals = accountTotals();
  fillBody($("#accounts"), [...totals.entries()].sort(), (row, [account, t]) => {
    const pnl = t.realized + t.unrealized - t.fees;
    row.dataset.account = account;
    cell(row, account); cell(row, fixed(t.realized), "num"); cell(row, fixed(t.unrealized), "num");
    cell(row, fixed(t.fees), "num"); cell(row, fixed(pnl), `num ${pnl >= 0 ? "pos" : "neg"}`); cell(row, t.count, "num");
  });
  const rows = [...state.positions.values()].sort((a, b) => (a.account + a.symbol < b.account + b.symbol ? -1 : 1));
  fillBody($("#positions"), rows, (row, p) => {
    row.dataset.account = p.account;
    cell(row, p.account); cell(row, p.symbol); cell(row, p.quantity, `num ${num(p.quantity) >= 0 ? "buy" : "sell"}`);
    cell(row, p.avg_price, "num"); cell(row, p.mark_price, "num"); cell(row, p.realized_pnl, "num");
    cell(row, p.unrealized_pnl, "num"); cell(row, p.fees, "num"); cell(row, p.fill_count, "num"); cell(row, time(p.updated_time));
  });
}

function sampleEquity() {
  const totals = accountTotals();
  if (!totals.size) return;
  const series = state.equity;
  series.times.push(Date.now() / 1000);
  for (const [account, t] of totals) {
    if (!series.byAccount.has(account)) series.byAccount.set(account, series.times.slice(0, -1).map(() => null));
    series.byAccount.get(account).push(t.realized + t.unrealized - t.fees);
  }
  for (const [account, values] of series.byAccount) if (values.length < series.times.length) values.push(null);
  if (series.times.length > SERIES_POINTS) {
    series.times.shift();
    for (const values of series.byAccount.values()) values.shift();
  }
  const accounts = [...series.byAccount.keys()];
  const chart = state.charts.equity;
  if (!chart || chart.series.length !== accounts.length + 1) {
    if (chart) chart.destroy();
    state.charts.equity = makeChart($("#equity-chart"), accounts.map((a) => ({ label: a })), { height: 240 });
  }
  state.charts.equity.setData([series.times, ...accounts.map((a) => series.byAccount.get(a))]);
}

// -- charts (uPlot) -------------------------------------------------------------------------------------
function makeChart(element, series, { height = 200, time = true, title, paths } = {}) {
  element.replaceChildren();
  const axis = { stroke: "#8a96a3", grid: { stroke: "#2a3440" }, ticks: { stroke: "#2a3440" } };
  const options = {
    title, width: Math.max(element.clientWidth, 300), height,
    scales: { x: { time } },
    series: [{}, ...series.map((s, i) => ({
      stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true, ...(paths ? { paths } : {}), ...s,
    }))],
    axes: [axis, { ...axis, size: 70 }],
  };
  const chart = new uPlot(options, [[], ...series.map(() => [])], element);
  chart._element = element;
  return chart;
}

function resizeChart(chart) {
  const width = chart._element.clientWidth;
  if (width > 0 && Math.abs(width - chart.width) > 4) chart.setSize({ width, height: chart.height });
}
window.addEventListener("resize", () => Object.values(state.charts).forEach(resizeChart));

// -- market: book ladder, depth chart, analytics ------------------------------------------------------------
const ANALYTICS_CHARTS = [
  { title: "Spread", series: ["spread"] },
  { title: "Microprice and mid", series: ["microprice", "mid"] },
  { title: "Depth imbalance", series: ["depth_imbalance"] },
  { title: "VPIN", series: ["vpin"] },
  { title: "Kyle's lambda", series: ["kyle_lambda"] },
];

async function selectSymbol(symbol) {
  state.symbol = symbol;
  state.analytics = { windowEnd: null, rows: [] };
  for (const stream of state.streams.splice(1)) stream.stop(); // keep the orders stream, drop the old book's
  const container = $("#analytics-charts");
  container.replaceChildren();
  for (const spec of ANALYTICS_CHARTS) {
    const element = document.createElement("div");
    container.append(element);
    state.charts[`analytics-${spec.title}`] = makeChart(element, spec.series.map((s) => ({ label: s })), { title: spec.title, height: 180 });
  }
  try {
    const history = await api("GET", `/v1/analytics/${encodeURIComponent(symbol)}/history?limit=${SERIES_POINTS}`);
    for (const row of history) addAnalytics(row);
  } catch (error) {
    if (!(error instanceof ApiError)) console.warn(error);
  }
  const stream = new Stream(`/v1/stream?channel=book_tops&symbol=${encodeURIComponent(symbol)}`,
    (channel, message) => { if (channel === "book_tops") renderBook(message.data); }, () => null);
  state.streams.push(stream);
  stream.run();
  await refreshMarket();
}

async function refreshMarket() {
  const symbol = state.symbol;
  const status = $("#market-state");
  try {
    const book = await api("GET", `/v1/books/${encodeURIComponent(symbol)}?depth=20`);
    if (symbol !== state.symbol) return;
    renderBook(book);
    showOk(status, `${book.venue} · sequence ${book.sequence ?? "–"}${book.stale ? " · STALE" : ""}`);
  } catch (error) {
    showError(status, error);
  }
  try {
    addAnalytics(await api("GET", `/v1/analytics/${encodeURIComponent(symbol)}`));
  } catch (error) {
    if (!(error instanceof ApiError)) console.warn(error);
  }
}

function renderBook(book) {
  const bids = book.bids.slice(0, 15), asks = book.asks.slice(0, 15);
  const body = $("#ladder tbody");
  body.replaceChildren();
  for (const [price, quantity] of [...asks].reverse()) {
    const row = body.insertRow(); row.dataset.side = "ask"; row.dataset.price = price;
    cell(row, "", "num"); cell(row, price, "num ask"); cell(row, quantity, "num ask");
  }
  if (asks.length && body.rows.length) body.rows[body.rows.length - 1].classList.add("spread");
  for (const [price, quantity] of bids) {
    const row = body.insertRow(); row.dataset.side = "bid"; row.dataset.price = price;
    cell(row, quantity, "num bid"); cell(row, price, "num bid"); cell(row, "", "num");
  }
  renderDepth(book.bids, book.asks);
}

function renderDepth(bids, asks) {
  // x: prices ascending; bids cumulative from the best bid down, asks from the best ask up.
  const bidSide = bids.map(([p, q]) => [num(p), num(q)]);
  const askSide = asks.map(([p, q]) => [num(p), num(q)]);
  const bidCum = new Map(), askCum = new Map();
  let total = 0;
  for (const [p, q] of bidSide) { total += q; bidCum.set(p, total); }
  total = 0;
  for (const [p, q] of askSide) { total += q; askCum.set(p, total); }
  const xs = [...new Set([...bidCum.keys(), ...askCum.keys()])].sort((a, b) => a - b);
  if (!state.charts.depth) {
    state.charts.depth = makeChart($("#depth-chart"), [
      { label: "bids", stroke: "#3fb68b", fill: "rgba(63,182,139,.25)" },
      { label: "asks", stroke: "#e0576b", fill: "rgba(224,87,107,.25)" },
    ], { time: false, height: 300, paths: uPlot.paths.stepped({ align: 1 }) });
  }
  state.charts.depth.setData([xs, xs.map((x) => bidCum.get(x) ?? null), xs.map((x) => askCum.get(x) ?? null)]);
}

function addAnalytics(row) {
  const series = state.analytics;
  if (row.symbol !== state.symbol || (series.windowEnd !== null && row.window_end_us <= series.windowEnd)) return;
  series.windowEnd = row.window_end_us;
  series.rows.push(row);
  if (series.rows.length > SERIES_POINTS) series.rows.shift();
  const times = series.rows.map((r) => r.window_end_us / 1e6);
  for (const spec of ANALYTICS_CHARTS) {
    state.charts[`analytics-${spec.title}`].setData([times, ...spec.series.map((name) => series.rows.map((r) => r[name]))]);
  }
  $("#analytics-latest").replaceChildren(...["spread", "microprice", "depth_imbalance", "vpin", "kyle_lambda"].map((name) =>
    Object.assign(document.createElement("span"), { textContent: `${name} ${row[name] === null ? "–" : Number(row[name]).toPrecision(6)}` })));
}

// -- risk ---------------------------------------------------------------------------------------------
function confirmDialog(text) {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

async function refreshRisk() {
  const control = await api("GET", "/v1/control?history=100");
  fillBody($("#kill-switches"), control.kill_switches, (row, s) => {
    row.dataset.scope = s.scope; row.dataset.target = s.target ?? "";
    cell(row, s.scope); cell(row, s.target ?? "(all)"); cell(row, time(s.time)); cell(row, s.actor); cell(row, s.detail);
    const td = row.insertCell();
    if (canDo("kill_switch")) {
      const button = Object.assign(document.createElement("button"), { textContent: "Release…", className: "release" });
      button.addEventListener("click", () => releaseSwitch(s));
      td.append(button);
    }
  });
  fillBody($("#breakers"), control.breakers, (row, b) => {
    cell(row, b.scope); cell(row, b.target); cell(row, b.state, `status-${b.state}`); cell(row, b.trading_state);
    cell(row, b.trigger_count, "num"); cell(row, time(b.cool_down_until)); cell(row, b.detail); cell(row, time(b.time));
  });
  fillBody($("#control-history"), control.history, (row, h) => {
    cell(row, time(h.time)); cell(row, h.kind.replace("_", " ")); cell(row, h.scope); cell(row, h.target ?? "(all)");
    cell(row, h.kind === "kill_switch" ? (h.active ? "ENGAGED" : "RELEASED") : h.state); cell(row, h.actor ?? h.producer);
    cell(row, h.detail);
  });
}

async function releaseSwitch(s) {
  if (!(await confirmDialog(`Release the ${s.scope} kill switch${s.target ? ` on ${s.target}` : ""}? Orders in scope will be accepted again.`))) return;
  const query = new URLSearchParams({ scope: s.scope, reason: "released from the console" });
  if (s.target) query.set("target", s.target);
  await api("DELETE", `/v1/risk/kill-switch?${query}`);
  await waitForControl((c) => !c.kill_switches.some((k) => k.scope === s.scope && k.target === s.target));
}

async function waitForControl(condition) {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    await refreshRisk();
    const control = await api("GET", "/v1/control?history=1");
    if (condition(control)) return;
    await sleep(250);
  }
}

const LIMIT_FIELDS = ["max_order_quantity", "max_order_notional", "max_position_quantity", "max_open_orders",
  "orders_per_second", "order_burst", "price_collar_bps", "daily_loss_limit", "allowed_symbols", "reference_prices"];
const INTEGER_LIMITS = new Set(["max_open_orders", "orders_per_second", "order_burst", "price_collar_bps"]);

async function loadLimits(account) {
  const result = $("#limits-result");
  const form = $("#limits-form");
  try {
    const limits = await api("GET", `/v1/risk/limits/${encodeURIComponent(account)}`);
    form.replaceChildren();
    for (const name of LIMIT_FIELDS) {
      // A PUT sets every field (those left out take the defaults), so the form carries all of them.
      const value = name === "allowed_symbols" ? limits[name].join(",")
        : name === "reference_prices" ? Object.entries(limits[name]).map(([symbol, price]) => `${symbol}=${price}`).join(",")
        : limits[name];
      const input = Object.assign(document.createElement("input"), { name, value, disabled: !canDo("set_limits") });
      const label = Object.assign(document.createElement("label"), { textContent: name.replaceAll("_", " ") });
      label.append(input);
      form.append(label);
    }
    if (canDo("set_limits")) form.append(Object.assign(document.createElement("button"), { type: "submit", textContent: "Save limits" }));
    form.dataset.account = account;
    form.hidden = false;
    showOk(result, `${limits.source}${limits.updated_at ? ` · set ${new Date(limits.updated_at).toLocaleString()}` : ""}`);
  } catch (error) {
    form.hidden = true;
    showError(result, error);
  }
}

// -- pipeline -------------------------------------------------------------------------------------------
async function refreshPipeline() {
  const health = await fetch("/v1/health").then((r) => r.json());
  fillBody($("#projections"), health.projections, (row, p) => {
    cell(row, p.name); cell(row, p.lag_records, "num"); cell(row, p.lag_ms ?? "unknown", "num");
  });
  $("#health-checks").textContent = Object.entries(health.checks).map(([k, v]) => `${k}: ${v}`).join(" · ");
  const note = $("#dead-letters-note");
  try {
    const letters = await api("GET", "/v1/dead-letters?limit=100");
    fillBody($("#dead-letters"), letters, (row, d) => {
      cell(row, time(d.time)); cell(row, d.stage); cell(row, d.reason);
      cell(row, `${d.source_topic}${d.source_partition === null ? "" : `/${d.source_partition}@${d.source_offset}`}`); cell(row, d.detail);
    });
    showOk(note, letters.length ? "" : "none");
  } catch (error) {
    showError(note, error);
  }
}

async function refreshPipelineSample() {
  const stages = await api("GET", "/v1/pipeline");
  const now = Date.now() / 1000;
  const series = state.throughput;
  series.times.push(now);
  for (const stage of stages) {
    const previous = state.stages.get(stage.stage);
    stage.rate = previous ? Math.max(stage.committed - previous.committed, 0) / (now - previous.at) : null;
    stage.at = now;
    state.stages.set(stage.stage, stage);
    if (!series.byStage.has(stage.stage)) series.byStage.set(stage.stage, series.times.slice(0, -1).map(() => null));
    series.byStage.get(stage.stage).push(stage.rate);
  }
  for (const values of series.byStage.values()) if (values.length < series.times.length) values.push(null);
  if (series.times.length > SERIES_POINTS) { series.times.shift(); for (const v of series.byStage.values()) v.shift(); }
  fillBody($("#stages"), stages, (row, s) => {
    row.dataset.stage = s.stage;
    cell(row, s.stage); cell(row, s.lag_records, "num"); cell(row, s.rate === null ? "…" : fixed(s.rate, 1), "num");
    cell(row, s.committed, "num");
  });
  const names = [...series.byStage.keys()];
  let chart = state.charts.throughput;
  if (!chart || chart.series.length !== names.length + 1) {
    if (chart) chart.destroy();
    chart = state.charts.throughput = makeChart($("#throughput-chart"), names.map((n) => ({ label: n })), { height: 260 });
  }
  chart.setData([series.times, ...names.map((n) => series.byStage.get(n))]);
  await refreshPipeline();
}

// -- wiring ---------------------------------------------------------------------------------------------
function wire() {
  $("#login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try { await login($("#login-secret").value.trim()); } catch (error) { state.secret = null; showError($("#login-error"), error); }
  });
  $("#logout").addEventListener("click", logout);
  for (const button of $$("#tabs button")) button.addEventListener("click", () => showView(button.dataset.view));
  $("#blotter-filter").addEventListener("input", renderBlotter);
  $("#blotter-status").addEventListener("change", renderBlotter);
  for (const th of $$("#blotter th")) th.addEventListener("click", () => {
    state.sort = { key: th.dataset.key, dir: state.sort.key === th.dataset.key ? -state.sort.dir : 1 };
    renderBlotter();
  });
  $("#blotter tbody").addEventListener("click", (event) => {
    const row = event.target.closest("tr");
    if (row) { loadOrderPanel(row.dataset.orderId); renderBlotter(); }
  });
  $("#panel-close").addEventListener("click", () => { state.selected = null; $("#order-panel").hidden = true; renderBlotter(); });
  $("#order-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = $("#order-result");
    try {
      const accepted = await api("POST", "/v1/orders", orderBody(event.target));
      showOk(result, `accepted ${shortId(accepted.order_id)}`);
    } catch (error) { showError(result, error); }
  });
  $("#cancel-order").addEventListener("click", async () => {
    try { await api("DELETE", `/v1/orders/${encodeURIComponent(state.selected)}`); showOk($("#panel-result"), "cancel sent"); }
    catch (error) { showError($("#panel-result"), error); }
  });
  $("#amend-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try { await api("PATCH", `/v1/orders/${encodeURIComponent(state.selected)}`, orderBody(event.target)); showOk($("#panel-result"), "amend sent"); }
    catch (error) { showError($("#panel-result"), error); }
  });
  $("#symbol-form").addEventListener("submit", (event) => { event.preventDefault(); selectSymbol($("#market-symbol").value.trim()); });
  $("#kill-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const body = { scope: form.scope.value, cancel_open_orders: form.cancel_open_orders.checked, reason: form.reason.value };
    if (body.scope !== "global") body.target = form.target.value.trim();
    const what = `${body.scope} kill switch${body.target ? ` on ${body.target}` : ""}`;
    if (!(await confirmDialog(`Engage the ${what}? New orders in scope are denied from the next command on${body.cancel_open_orders ? ", and open orders are cancelled" : ""}.`))) return;
    try {
      await api("POST", "/v1/risk/kill-switch", body);
      await waitForControl((c) => c.kill_switches.some((k) => k.scope === body.scope && (k.target ?? undefined) === body.target));
    } catch (error) { alert(error.message); }
  });
  $("#limits-pick").addEventListener("submit", (event) => { event.preventDefault(); loadLimits($("#limits-account").value.trim()); });
  $("#limits-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target, body = {};
    for (const name of LIMIT_FIELDS) {
      const value = form.elements[name].value.trim();
      if (name === "allowed_symbols") body[name] = value ? value.split(",").map((s) => s.trim()) : [];
      else if (name === "reference_prices") {
        body[name] = Object.fromEntries(value ? value.split(",").map((pair) => pair.split("=").map((s) => s.trim())) : []);
      }
      else if (value !== "") body[name] = INTEGER_LIMITS.has(name) ? Number(value) : value;
    }
    try {
      await api("PUT", `/v1/risk/limits/${encodeURIComponent(form.dataset.account)}`, body);
      await loadLimits(form.dataset.account);
    } catch (error) { showError($("#limits-result"), error); }
  });
}

wire();
const saved = sessionStorage.getItem("sq-console-secret");
if (saved) login(saved).catch(() => sessionStorage.removeItem("sq-console-secret"));
