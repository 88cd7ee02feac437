// Dashboard: the shop's figures for a period (GET /admin/analytics) — KPI tiles, revenue over
// time, orders by status, top products and merchants, new users by role, payment methods and
// hub throughput. Charts are hand-drawn SVG, each with a text summary and a table of its numbers.
// The period (from/to/granularity) lives in the hash query; presets cover the last 7/30/90/365 days.

import { api, day, download, el, empty, errorBox, field, loading, money, qs, submitting, table, words } from "../lib.js";

const NS = "http://www.w3.org/2000/svg";
const GRANULARITIES = ["day", "week", "month"];
const PRESETS = [[7, "day"], [30, "day"], [90, "week"], [365, "month"]];
const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;
const STATUS_ORDER = ["awaiting_payment", "pending", "processing", "shipping", "delivered", "returned", "cancelled"];
const ROLE_ORDER = ["customer", "merchant", "hub_staff", "admin"];

/** An SVG element: `svg("rect", {x: 1}, child…)`. */
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v);
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}

/** `YYYY-MM-DD` shifted by `days`, computed in UTC so no zone moves it. */
function addDays(iso, days) {
  const d = new Date(iso + "T00:00:00Z");
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** Today in the analytics zone (`UTC+03:00`), or in the browser's zone if it is not known. */
function today(timeZone) {
  const m = /^UTC([+-])(\d{2}):(\d{2})$/.exec(timeZone || "");
  if (!m) {
    const d = new Date();
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
  }
  const offset = (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  return new Date(Date.now() + offset * 60000).toISOString().slice(0, 10);
}

/** A bucket's label: `3 Nov`, `w/c 3 Nov` or `Nov 2026`. */
function periodLabel(iso, granularity) {
  const d = new Date(iso + "T00:00:00Z");
  if (isNaN(d)) return iso;
  if (granularity === "month") return d.toLocaleDateString("en-GB", { month: "short", year: "numeric", timeZone: "UTC" });
  const s = d.toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
  return granularity === "week" ? `w/c ${s}` : s;
}

/** `KES 1.2M`: short money for axes and bar ends. */
function compactMoney(cents, currency) {
  const n = Number(cents || 0) / 100;
  return `${currency} ${new Intl.NumberFormat("en-GB", { notation: "compact", maximumFractionDigits: 1 }).format(n)}`;
}

/** The smallest "round" number (1, 2, 2.5, 5 × 10ⁿ) at or above `v`. */
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((x) => x >= v);
}

function truncate(s, n) {
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

/** The `<svg>` frame every chart shares: an accessible name and a `<title>`. */
function chartSvg(width, height, summary, test) {
  return svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": summary,
    "data-test": test, preserveAspectRatio: "xMidYMid meet" }, svg("title", {}, summary));
}

/**
 * A chart card: heading, the drawing, and its numbers as a table — hidden visually until asked
 * for, but always there for screen readers.
 */
function chartCard(title, drawing, numbers) {
  numbers.classList.add("sr-only");
  const toggle = el("button", { type: "button", "aria-expanded": "false" }, "Show the numbers");
  toggle.addEventListener("click", () => {
    const open = !numbers.classList.toggle("sr-only");
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "Hide the numbers" : "Show the numbers";
  });
  return el("section", { class: "card" }, el("h2", {}, title), drawing, el("p", {}, toggle), numbers);
}

/** Revenue over time: a line with a point per bucket (`data-value` = paid revenue in cents). */
function revenueChart(series, granularity, currency, W) {
  const H = 260, L = 72, R = 30, T = 16, B = 34;
  const values = series.map((p) => Number(p.paid_revenue_cents) || 0);
  const total = values.reduce((a, b) => a + b, 0);
  const top = niceMax(Math.max(0, ...values));
  const n = series.length;
  const x = (i) => L + (n <= 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (n - 1));
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const best = values.indexOf(Math.max(...values));
  const summary = n === 0 ? "Paid revenue over time: no data"
    : `Paid revenue by ${granularity} from ${periodLabel(series[0].period, granularity)} to ${periodLabel(series[n - 1].period, granularity)}: ` +
      `${money(total, currency)} in all` + (total > 0 ? `, highest ${money(values[best], currency)} (${periodLabel(series[best].period, granularity)})` : "") + ".";
  const chart = chartSvg(W, H, summary, "revenue-chart");
  for (const f of total > 0 ? [0, 0.5, 1] : [0]) {
    chart.append(
      svg("line", { x1: L, x2: W - R, y1: y(top * f), y2: y(top * f), stroke: "#d5dae3", "stroke-width": 1 }),
      svg("text", { x: L - 6, y: y(top * f) + 4, "text-anchor": "end" }, compactMoney(top * f, currency)));
  }
  const step = Math.max(1, Math.ceil(n / Math.max(3, Math.floor(W / 110))));
  series.forEach((p, i) => {
    if (i % step === 0 || (i === n - 1 && (n - 1) % step > step / 2)) {
      chart.append(svg("text", { x: x(i), y: H - 12, "text-anchor": "middle" }, periodLabel(p.period, granularity)));
    }
  });
  if (n > 1) chart.append(svg("polyline", { class: "line", points: values.map((v, i) => `${x(i)},${y(v)}`).join(" ") }));
  values.forEach((v, i) => {
    chart.append(svg("circle", { class: "bar", cx: x(i), cy: y(v), r: n > 60 ? 2 : 4, "data-value": v },
      svg("title", {}, `${periodLabel(series[i].period, granularity)}: ${money(v, currency)}`)));
  });
  const numbers = table([
    { label: granularity === "day" ? "Day" : granularity === "week" ? "Week from" : "Month", cell: (p) => day(p.period + "T12:00:00") },
    { label: "Orders", cell: (p) => String(p.orders) },
    { label: "Order value (GMV)", cell: (p) => money(p.gmv_cents, currency) },
    { label: "Paid revenue", cell: (p) => money(p.paid_revenue_cents, currency) },
    { label: "Net revenue", cell: (p) => money(p.net_revenue_cents, currency) },
  ], series, "Revenue by period");
  return chartCard("Revenue over time", chart, numbers);
}

/** Vertical bars for a few labelled counts (`data-value` = the count). */
function columnChart(title, rows, test, groupLabel, unit, width) {
  const W = Math.max(420, width), H = 200, L = 8, R = 8, T = 22, B = 40;
  const top = niceMax(Math.max(0, ...rows.map((r) => r.value)));
  const slot = (W - L - R) / Math.max(1, rows.length);
  const total = rows.reduce((a, r) => a + r.value, 0);
  const summary = `${title}: ` + (total === 0 ? `no ${unit}.` : rows.map((r) => `${r.label} ${r.value}`).join(", ") + ` (${total} ${unit} in all).`);
  const chart = chartSvg(W, H, summary, test);
  chart.append(svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: "#8892a6", "stroke-width": 1 }));
  rows.forEach((r, i) => {
    const h = ((H - T - B) * r.value) / top;
    const cx = L + slot * i + slot / 2;
    const bw = Math.min(56, slot * 0.6);
    chart.append(
      svg("rect", { class: "bar", x: cx - bw / 2, y: H - B - h, width: bw, height: Math.max(h, 0), "data-value": r.value },
        svg("title", {}, `${r.label}: ${r.value}`)),
      svg("text", { x: cx, y: H - B - h - 5, "text-anchor": "middle" }, String(r.value)));
    // Two lines at most for labels like "awaiting payment".
    const [first, ...rest] = r.label.split(" ");
    const label = svg("text", { x: cx, y: H - B + 15, "text-anchor": "middle" }, svg("tspan", { x: cx }, first));
    if (rest.length) label.append(svg("tspan", { x: cx, dy: 13 }, rest.join(" ")));
    chart.append(label);
  });
  const numbers = table([
    { label: groupLabel, cell: (r) => r.label },
    { label: unit[0].toUpperCase() + unit.slice(1), cell: (r) => String(r.value) },
  ], rows, title);
  return chartCard(title, chart, numbers);
}

/** Horizontal bars ranking names by revenue (`data-value` = revenue in cents). */
function rankingChart(title, rows, currency, test, extra, width) {
  if (rows.length === 0) return el("section", { class: "card" }, el("h2", {}, title), empty("No sales in this period"));
  const W = Math.max(360, width), LABEL = Math.round(W * 0.37), VALUE = 70, ROW = 26;
  const H = rows.length * ROW + 8;
  const top = Math.max(1, ...rows.map((r) => r.revenue));
  const summary = `${title}: ` + rows.map((r, i) => `${i + 1}. ${r.name}, ${money(r.revenue, currency)}`).join("; ") + ".";
  const chart = chartSvg(W, H, summary, test);
  rows.forEach((r, i) => {
    const yTop = 4 + i * ROW;
    const w = ((W - LABEL - VALUE) * r.revenue) / top;
    chart.append(
      svg("text", { x: LABEL - 8, y: yTop + ROW / 2 + 4, "text-anchor": "end" }, truncate(r.name || "—", Math.floor(LABEL / 6.5))),
      svg("rect", { class: "bar", x: LABEL, y: yTop + 4, width: Math.max(w, 1), height: ROW - 8, "data-value": r.revenue },
        svg("title", {}, `${r.name}: ${money(r.revenue, currency)}`)),
      svg("text", { x: LABEL + w + 6, y: yTop + ROW / 2 + 4 }, compactMoney(r.revenue, currency)));
  });
  const numbers = table([
    { label: "Name", cell: (r) => r.name || "—" },
    { label: "Revenue", cell: (r) => money(r.revenue, currency) },
    ...extra,
  ], rows, title);
  return chartCard(title, chart, numbers);
}

/** The entries of `counts` in `order` first (the lifecycle), then any others. */
function ordered(counts, order) {
  const rank = (k) => (order.includes(k) ? order.indexOf(k) : order.length);
  return Object.entries(counts).sort(([a], [b]) => rank(a) - rank(b));
}

function kpi(label, value, test, hint) {
  return el("div", { class: "kpi" },
    el("div", { class: "l" }, label),
    el("div", { class: "v", "data-test": test }, value),
    hint ? el("div", { class: "l" }, hint) : null);
}

function hoursOf(minutes) {
  if (minutes === null || minutes === undefined) return "—";
  const h = minutes / 60;
  return h < 48 ? `${h.toFixed(1)} hours` : `${(h / 24).toFixed(1)} days`;
}

/**
 * Chart widths in SVG units matching the space they get, so that the text stays readable:
 * the full page width, and the width of a card in the two-column grid.
 */
function chartWidths() {
  const main = document.getElementById("main")?.clientWidth || 1000;
  const full = Math.max(360, Math.min(1100, main - 70));
  const half = main >= 700 ? Math.min(560, (main - 16) / 2 - 70) : full;
  return { full: Math.round(full), half: Math.round(half) };
}

function renderFigures(d) {
  const { full, half } = chartWidths();
  const cur = d.currency;
  const t = d.totals;
  const rf = d.refunds;
  const g = d.range.granularity;
  const out = [];
  if (!t.orders) out.push(el("p", { class: "notice", role: "status" }, "No orders were placed in this period; choose a longer period to see more."));
  out.push(el("div", { class: "kpis" },
    kpi("Paid revenue", money(t.paid_revenue_cents, cur), "kpi-revenue", `${t.paid_orders} paid orders`),
    kpi("Net revenue", money(t.net_revenue_cents, cur), "kpi-net-revenue", "paid revenue less refunds"),
    kpi("Order value (GMV)", money(t.gmv_cents, cur), "kpi-gmv"),
    kpi("Orders", String(t.orders), "kpi-orders", "cancelled ones excluded"),
    kpi("Average order", money(t.average_order_value_cents, cur), "kpi-aov"),
    kpi("Refunded", money(t.refunded_cents, cur), "kpi-refunded",
      `${(Number(rf.rate || 0) * 100).toFixed(2)}% of paid revenue; ${rf.requested} requests, ${rf.approved} approved, ${rf.denied} denied`)));

  const status = ordered(d.orders_by_status, STATUS_ORDER).map(([k, v]) => ({ label: words(k), value: Number(v) || 0 }));
  const roles = ordered(d.new_users || {}, ROLE_ORDER).map(([k, v]) => ({ label: words(k), value: Number(v) || 0 }));
  const products = (d.top_products || []).map((p) => ({ name: p.name, revenue: p.revenue_cents, units: p.units }));
  const merchants = (d.top_merchants || []).map((m) => ({ name: m.business_name, revenue: m.revenue_cents, units: m.units, orders: m.orders }));
  const methods = Object.entries(d.payment_methods || {});

  out.push(revenueChart(d.series, g, cur, full));
  out.push(el("div", { class: "charts" },
    columnChart("Orders by status", status, "status-chart", "Status", "orders", half),
    columnChart("New users by role", roles, "roles-chart", "Role", "users", half)));
  out.push(el("div", { class: "charts" },
    rankingChart("Top products", products, cur, "products-chart", [{ label: "Units", cell: (r) => String(r.units) }], half),
    rankingChart("Top merchants", merchants, cur, "merchants-chart",
      [{ label: "Units", cell: (r) => String(r.units) }, { label: "Sub-orders", cell: (r) => String(r.orders) }], half)));
  out.push(el("div", { class: "charts" },
    el("section", { class: "card" }, el("h2", {}, "Payment methods"),
      table([
        { label: "Method", cell: ([m]) => (m === "cod" ? "Cash on delivery" : m === "mpesa" ? "M-Pesa" : words(m)) },
        { label: "Orders", cell: ([, s]) => String(s.orders) },
        { label: "Order value", cell: ([, s]) => money(s.gmv_cents, cur) },
      ], methods, "Orders and order value by payment method")),
    el("section", { class: "card" }, el("h2", {}, "Hub deliveries"),
      d.hubs && d.hubs.length
        ? table([
          { label: "Hub", cell: (h) => h.name },
          { label: "Delivered", cell: (h) => String(h.delivered) },
          { label: "Median time to delivery", cell: (h) => hoursOf(h.median_minutes_to_delivery) },
        ], d.hubs, "Sub-orders delivered per hub")
        : empty("No deliveries in this period"))));
  return out;
}

export default async function render(root, ctx) {
  const from = ISO_DAY.test(ctx.query.from || "") ? ctx.query.from : "";
  const to = ISO_DAY.test(ctx.query.to || "") ? ctx.query.to : "";
  const granularity = GRANULARITIES.includes(ctx.query.granularity) ? ctx.query.granularity : "";
  const params = { from, to, granularity };

  const fromInput = el("input", { type: "date", name: "from", value: from, "data-test": "from" });
  const toInput = el("input", { type: "date", name: "to", value: to, "data-test": "to" });
  const granSelect = el("select", { name: "granularity", "data-test": "granularity" },
    GRANULARITIES.map((g) => el("option", { value: g, selected: g === (granularity || "day") }, `By ${g}`)));
  const show = el("button", { type: "submit", class: "primary" }, "Show");
  const exportButton = el("button", { type: "button", "data-test": "export" }, "Download CSV");
  const exportErrors = el("div");
  const presets = el("div", { class: "row", role: "group", "aria-label": "Quick periods" });
  const form = el("form", { class: "row filters", "aria-label": "Period" },
    field("From", fromInput), field("To", toInput), field("Buckets", granSelect), show, exportButton);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    ctx.go("#/dashboard" + qs({ from: fromInput.value, to: toInput.value, granularity: granSelect.value }));
  });
  const results = el("div", {}, loading("Loading the figures…"));
  const rangeLine = el("p", { role: "status" });
  root.replaceChildren(el("h1", {}, "Dashboard"), presets, form, exportErrors, rangeLine, results);

  let data;
  // Usable at once: before the figures arrive it exports the period in the form.
  exportButton.addEventListener("click", () => submitting(exportButton, exportErrors, async () => {
    const r = data?.range || { from: fromInput.value, to: toInput.value, granularity: granSelect.value };
    await download("/admin/analytics/export" + qs({ from: r.from, to: r.to, granularity: r.granularity, format: "csv" }),
      `markethub-analytics-${r.from || "from"}-${r.to || "to"}.csv`);
  }));
  try {
    data = await api("GET", "/admin/analytics" + qs(params));
  } catch (e) {
    results.replaceChildren(errorBox(e));
  }

  // Quick periods end today (in the analytics zone once known) and pick a readable bucket size.
  const now = today(data?.range?.time_zone);
  const current = data?.range;
  presets.replaceChildren(...PRESETS.map(([days, gran]) => {
    const pFrom = addDays(now, -(days - 1));
    const pressed = !!current && current.from === pFrom && current.to === now;
    return el("button", { type: "button", "aria-pressed": String(pressed), "data-test": `period-${days}`,
      class: pressed ? "primary" : null,
      onclick: () => ctx.go("#/dashboard" + qs({ from: pFrom, to: now, granularity: gran })) }, `Last ${days} days`);
  }));
  if (!data) return;

  fromInput.value = data.range.from;
  toInput.value = data.range.to;
  granSelect.value = data.range.granularity;
  rangeLine.textContent = `${day(data.range.from + "T12:00:00")} to ${day(data.range.to + "T12:00:00")} (days in ${data.range.time_zone}), by ${data.range.granularity}.`;
  results.replaceChildren(...renderFigures(data));
}
