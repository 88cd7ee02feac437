// Orders: every master order (GET /admin/orders), filtered by status, creation dates, hub,
// merchant and customer, page by page; `#/orders/<id>` shows one order (GET /admin/orders/{id})
// with its payment and each merchant's sub-order: items, rider and status history.

import { api, badge, date, el, empty, errorBox, field, loading, money, pager, qs, table, words } from "../lib.js";

const STATUSES = ["awaiting_payment", "pending", "processing", "shipping", "delivered", "returned", "cancelled"];
const FILTERS = ["status", "from", "to", "hub_id", "merchant_id", "customer_id"];
const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;

const shortId = (id) => String(id || "").slice(-8);
const methodName = (m) => (m === "cod" ? "Cash on delivery" : m === "mpesa" ? "M-Pesa" : words(m));

/** Goes to `hash`, re-rendering even when it is the current one (no hashchange then). */
function navigate(ctx, hash) {
  if (location.hash === hash) ctx.reload();
  else ctx.go(hash);
}

/** Hubs and merchants for the filters' selects; `null` each when they cannot be loaded. */
async function filterChoices() {
  const [hubs, merchants] = await Promise.allSettled([
    api("GET", "/admin/hubs"),
    api("GET", "/admin/users" + qs({ role: "merchant", per_page: 100 })),
  ]);
  return {
    hubs: hubs.status === "fulfilled" ? hubs.value.items : null,
    merchants: merchants.status === "fulfilled" && merchants.value.items.length < 100 ? merchants.value.items : null,
  };
}

/** A select over `choices` ([value, label]), or a text input for an id when there are none. */
function idInput(name, current, choices, anyLabel) {
  if (!choices) return el("input", { name, value: current, placeholder: "An id", spellcheck: "false", "data-test": `filter-${name}` });
  const known = choices.some(([v]) => v === current);
  return el("select", { name, "data-test": `filter-${name}` },
    el("option", { value: "" }, anyLabel),
    current && !known ? el("option", { value: current, selected: true }, current) : null,
    choices.map(([v, label]) => el("option", { value: v, selected: v === current }, label)));
}

async function renderList(root, ctx) {
  const f = Object.fromEntries(FILTERS.map((k) => [k, (ctx.query[k] || "").trim()]));
  if (!STATUSES.includes(f.status)) f.status = "";
  const page = Math.max(1, parseInt(ctx.query.page, 10) || 1);
  const hashFor = (p) => "#/orders" + qs({ ...f, page: p > 1 ? p : "" });

  const results = el("div", {}, loading("Loading orders…"));
  const filterSlot = el("div", {}, loading("Loading filters…"));
  root.replaceChildren(el("h1", {}, "Orders"), filterSlot, results);

  const [choices, envelope] = await Promise.all([
    filterChoices(),
    api("GET", "/admin/orders" + qs({ ...f, page, per_page: 20 })).catch((e) => e),
  ]);
  const hubName = new Map((choices.hubs || []).map((h) => [h.id, h.name]));

  const status = el("select", { name: "status", "data-test": "filter-status" },
    el("option", { value: "" }, "Any status"),
    STATUSES.map((s) => el("option", { value: s, selected: s === f.status }, words(s))));
  const from = el("input", { type: "date", name: "from", value: ISO_DAY.test(f.from) ? f.from : "", "data-test": "filter-from" });
  const to = el("input", { type: "date", name: "to", value: ISO_DAY.test(f.to) ? f.to : "", "data-test": "filter-to" });
  const hub = idInput("hub_id", f.hub_id, choices.hubs && choices.hubs.map((h) => [h.id, h.name]), "Any hub");
  const merchant = idInput("merchant_id", f.merchant_id,
    choices.merchants && choices.merchants.map((m) => [m.id, `${m.full_name} (${m.email})`]), "Any merchant");
  const customer = el("input", { name: "customer_id", value: f.customer_id, placeholder: "A customer's id", spellcheck: "false",
    "data-test": "filter-customer_id" });
  const clear = el("button", { type: "button", onclick: () => navigate(ctx, "#/orders") }, "Clear");
  const form = el("form", { class: "row filters", role: "search", "aria-label": "Filter orders" },
    field("Status", status), field("Placed from", from), field("Placed to", to),
    field("Hub", hub), field("Merchant", merchant), field("Customer id", customer),
    el("button", { type: "submit", class: "primary" }, "Filter"), clear);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    navigate(ctx, "#/orders" + qs({ status: status.value, from: from.value, to: to.value, hub_id: hub.value.trim(),
      merchant_id: merchant.value.trim(), customer_id: customer.value.trim() }));
  });
  filterSlot.replaceChildren(form);

  if (envelope instanceof Error) {
    results.replaceChildren(errorBox(envelope));
    return;
  }
  const filtered = FILTERS.some((k) => f[k]);
  if (envelope.items.length === 0) {
    results.replaceChildren(empty(filtered ? "No orders match these filters" : "No orders yet"),
      ...(page > 1 ? [pager(envelope, (p) => ctx.go(hashFor(p)))] : []));
    return;
  }
  results.replaceChildren(
    table([
      { label: "Order", cell: (o) => el("a", { href: `#/orders/${o.id}`, "data-test": "order-row", "data-id": o.id,
        "aria-label": `Order ${shortId(o.id)}, placed ${date(o.created_at)}` }, `#${shortId(o.id)}`) },
      { label: "Placed", cell: (o) => date(o.created_at) },
      { label: "Status", cell: (o) => badge(o.status) },
      { label: "Payment", cell: (o) => [methodName(o.payment_method), " ", badge(o.payment_status)] },
      { label: "Total", cell: (o) => money(o.total_cents, o.currency) },
      { label: "Merchants", cell: (o) => o.sub_orders.map((s) => s.merchant.business_name || shortId(s.merchant.id)).join(", ") || "—" },
      { label: "Hub", cell: (o) => hubName.get(o.hub_id) || shortId(o.hub_id) },
    ], envelope.items, "Orders, newest first"),
    pager(envelope, (p) => ctx.go(hashFor(p))));
}

function facts(pairs) {
  return el("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function actor(e) {
  if (e.actor_role === "system" || !e.actor_id) return words(e.actor_role);
  return [words(e.actor_role), " ", el("code", { title: e.actor_id }, shortId(e.actor_id))];
}

function subOrderCard(s, currency, hubName) {
  const partner = s.delivery_partner;
  return el("section", { class: "card", "data-test": "sub-order", "data-id": s.id, "aria-labelledby": `so-${s.id}` },
    el("h2", { id: `so-${s.id}` }, s.merchant.business_name || `Merchant ${shortId(s.merchant.id)}`, " ", badge(s.status)),
    facts([
      ["Sub-order", el("code", {}, s.id)],
      ["Merchant", [s.merchant.business_name || "(no profile)", " · ",
        el("a", { href: "#/orders" + qs({ merchant_id: s.merchant.id }) }, "this merchant's orders")]],
      ["Subtotal", money(s.subtotal_cents, currency)],
      ["Hub", hubName.get(s.hub_id) || el("code", {}, s.hub_id)],
      ["Delivery partner", partner ? `${partner.name} (${partner.phone})` : "Not assigned"],
      ["Placed", date(s.created_at)],
      ["Last change", date(s.updated_at)],
    ]),
    el("h3", {}, "Items"),
    s.items.length
      ? table([
        { label: "Product", cell: (i) => i.name },
        { label: "Unit price", cell: (i) => money(i.unit_price_cents, currency) },
        { label: "Quantity", cell: (i) => String(i.quantity) },
        { label: "Line total", cell: (i) => money(i.line_total_cents, currency) },
      ], s.items, `Items from ${s.merchant.business_name}`)
      : empty("No items"),
    el("h3", {}, "History"),
    s.history.length
      ? table([
        { label: "When", cell: (e) => date(e.at) },
        { label: "Change", cell: (e) => (e.from_status ? [badge(e.from_status), " → ", badge(e.to_status)] : ["created ", badge(e.to_status)]) },
        { label: "By", cell: actor },
        { label: "Note", cell: (e) => e.note || "—" },
      ], s.history, `Status history of the sub-order from ${s.merchant.business_name}`)
      : empty("No history"));
}

async function renderDetail(root, ctx) {
  const back = el("p", {}, el("a", { href: "#/orders" }, "← All orders"));
  root.replaceChildren(back, el("h1", {}, `Order #${shortId(ctx.id)}`), loading("Loading the order…"));
  let o;
  try {
    o = await api("GET", `/admin/orders/${encodeURIComponent(ctx.id)}`);
  } catch (e) {
    root.replaceChildren(back, el("h1", {}, "Order not available"), errorBox(e));
    return;
  }
  let hubName = new Map();
  try {
    hubName = new Map((await api("GET", "/admin/hubs")).items.map((h) => [h.id, h.name]));
  } catch {
    // Hub names are a nicety: the ids are shown instead.
  }
  const p = o.payment;
  const detail = el("div", { "data-test": "order-detail", "data-id": o.id },
    el("h1", {}, `Order #${shortId(o.id)} `, badge(o.status)),
    el("section", { class: "card", "aria-labelledby": "order-facts" },
      el("h2", { id: "order-facts" }, "Order"),
      facts([
        ["Order id", el("code", {}, o.id)],
        ["Status", badge(o.status)],
        ["Placed", date(o.created_at)],
        ["Last change", date(o.updated_at)],
        ["Customer", [el("code", {}, o.customer_id), " · ",
          el("a", { href: "#/orders" + qs({ customer_id: o.customer_id }) }, "this customer's orders")]],
        ["Phone", o.phone],
        ["Delivery address", o.delivery_address],
        ["Pickup hub", hubName.get(o.hub_id) || el("code", {}, o.hub_id)],
        ["Total", money(o.total_cents, o.currency)],
        ["Still to pay", money(o.amount_due_cents, o.currency)],
      ])),
    el("section", { class: "card", "aria-labelledby": "order-payment" },
      el("h2", { id: "order-payment" }, "Payment"),
      facts([
        ["Method", methodName(p.method)],
        ["Status", badge(p.status)],
        ["Amount", money(p.amount_cents, o.currency)],
        ["Collected", p.collected_cents === null || p.collected_cents === undefined ? "—" : money(p.collected_cents, o.currency)],
        ["Paid at", date(p.paid_at)],
      ])),
    el("h2", {}, `Sub-orders (${o.sub_orders.length})`),
    o.sub_orders.length ? o.sub_orders.map((s) => subOrderCard(s, o.currency, hubName)) : empty("No sub-orders"));
  root.replaceChildren(back, detail);
}

export default async function render(root, ctx) {
  if (ctx.id) return renderDetail(root, ctx);
  return renderList(root, ctx);
}
