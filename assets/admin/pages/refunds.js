// Refunds: every refund request (GET /admin/refunds), filtered by status, page by page;
// `#/refunds/<id>` shows one request (GET /refunds/{id}, which admins may read for anyone) with
// the order it is about, its evidence and payout, and lets an admin approve it (optional note,
// goods returned to stock) or deny it (a note is required).

import { api, badge, blobUrl, date, el, empty, errorBox, field, loading, money, pager, qs, submitting, table, toast, words } from "../lib.js";

const STATUSES = ["pending", "approved", "denied"];

const shortId = (id) => String(id || "").slice(-8);

/** Goes to `hash`, re-rendering even when it is the current one (no hashchange then). */
function navigate(ctx, hash) {
  if (location.hash === hash) ctx.reload();
  else ctx.go(hash);
}

function payout(r) {
  if (!r.payout_status && !r.payout_method) return "—";
  const method = r.payout_method === "mpesa_b2c" ? "M-Pesa" : words(r.payout_method || "");
  return [method, " ", r.payout_status ? badge(r.payout_status) : null];
}

async function renderList(root, ctx) {
  const status = STATUSES.includes(ctx.query.status) ? ctx.query.status : "";
  const page = Math.max(1, parseInt(ctx.query.page, 10) || 1);
  const hashFor = (p) => "#/refunds" + qs({ status, page: p > 1 ? p : "" });

  const select = el("select", { name: "status", "data-test": "filter-status" },
    el("option", { value: "" }, "Any status"),
    STATUSES.map((s) => el("option", { value: s, selected: s === status }, words(s))));
  const form = el("form", { class: "row filters", role: "search", "aria-label": "Filter refund requests" },
    field("Status", select), el("button", { type: "submit", class: "primary" }, "Filter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    navigate(ctx, "#/refunds" + qs({ status: select.value }));
  });
  const results = el("div", {}, loading("Loading refund requests…"));
  root.replaceChildren(el("h1", {}, "Refunds"), form, results);

  let envelope;
  try {
    envelope = await api("GET", "/admin/refunds" + qs({ status, page, per_page: 20 }));
  } catch (e) {
    results.replaceChildren(errorBox(e));
    return;
  }
  if (envelope.items.length === 0) {
    results.replaceChildren(empty(status ? `No ${status} refund requests` : "No refund requests yet"),
      ...(page > 1 ? [pager(envelope, (p) => ctx.go(hashFor(p)))] : []));
    return;
  }
  results.replaceChildren(
    table([
      { label: "Request", cell: (r) => el("a", { href: `#/refunds/${r.id}`, "data-test": "refund-row", "data-id": r.id,
        "aria-label": `Refund request ${shortId(r.id)}, ${words(r.reason)}, ${r.status}` }, `#${shortId(r.id)}`) },
      { label: "Asked", cell: (r) => date(r.created_at) },
      { label: "Reason", cell: (r) => words(r.reason) },
      { label: "Amount", cell: (r) => money(r.amount_cents) },
      { label: "Status", cell: (r) => badge(r.status) },
      { label: "Payout", cell: payout },
      { label: "Order", cell: (r) => el("a", { href: `#/orders/${r.order_id}` }, `#${shortId(r.order_id)}`) },
    ], envelope.items, "Refund requests, newest first"),
    pager(envelope, (p) => ctx.go(hashFor(p))));
}

function facts(pairs) {
  return el("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

/** Text with its line breaks kept, without innerHTML. */
function paragraphs(text) {
  return String(text || "").split(/\n+/).filter((l) => l.trim()).map((l) => el("p", {}, l));
}

/** Object URLs of the pictures on screen, released when the next refund is drawn. */
let shown = [];

/** Evidence is private: each picture is fetched with the token and shown from memory. */
function evidence(r) {
  shown.forEach((url) => URL.revokeObjectURL(url));
  shown = [];
  if (!r.evidence.length) return empty("No pictures were added");
  return el("div", { class: "evidence" }, r.evidence.map((e, i) => {
    const alt = `Evidence picture ${i + 1} of ${r.evidence.length}`;
    const img = el("img", { alt, "data-src": e.url });
    const link = el("a", { href: "#", target: "_blank", rel: "noopener", "aria-label": `${alt}, full size` }, img);
    blobUrl(e.url).then((url) => {
      shown.push(url);
      img.src = url;
      link.href = url;
    }).catch(() => {
      img.replaceWith(el("span", {}, `${alt} could not be loaded`));
    });
    return link;
  }));
}

/** The items asked about, named from the order (or by id when the order could not be read). */
function refundItems(r, sub, currency) {
  const byId = new Map((sub?.items || []).map((i) => [i.id, i]));
  if (!r.items.length) {
    return [el("p", {}, "The whole sub-order."),
      sub ? table([
        { label: "Product", cell: (i) => i.name },
        { label: "Quantity", cell: (i) => String(i.quantity) },
        { label: "Line total", cell: (i) => money(i.line_total_cents, currency) },
      ], sub.items, "Items of the sub-order") : null];
  }
  return table([
    { label: "Product", cell: (it) => byId.get(it.order_item_id)?.name || el("code", {}, it.order_item_id) },
    { label: "Quantity asked", cell: (it) => String(it.quantity) },
    { label: "Bought", cell: (it) => (byId.has(it.order_item_id) ? String(byId.get(it.order_item_id).quantity) : "—") },
    { label: "Unit price", cell: (it) => (byId.has(it.order_item_id) ? money(byId.get(it.order_item_id).unit_price_cents, currency) : "—") },
  ], r.items, "Items the refund is asked for");
}

function decisionForm(r, currency, ctx) {
  const note = el("textarea", { name: "note", maxlength: 1000, rows: 3, "data-test": "refund-note" });
  const returned = el("select", { name: "goods_returned", "data-test": "goods-returned" },
    el("option", { value: "false" }, "No, the goods stay with the customer"),
    el("option", { value: "true" }, "Yes, they came back: return them to stock"));
  const errors = el("div");
  const approve = el("button", { type: "button", class: "ok", "data-test": "approve" }, `Approve and refund ${money(r.amount_cents, currency)}`);
  const deny = el("button", { type: "button", class: "danger", "data-test": "deny" }, "Deny");
  approve.addEventListener("click", () => submitting(approve, errors, async () => {
    const text = note.value.trim();
    await api("PUT", `/admin/refunds/${encodeURIComponent(r.id)}/approve`, { note: text || null, goods_returned: returned.value === "true" });
    toast(`Refund approved: ${money(r.amount_cents, currency)} goes back to the customer`);
    ctx.reload();
  }, [deny]));
  deny.addEventListener("click", () => submitting(deny, errors, async () => {
    const text = note.value.trim();
    if (!text) {
      note.focus();
      throw new Error("Write a note saying why the request is denied; the customer sees it.");
    }
    await api("PUT", `/admin/refunds/${encodeURIComponent(r.id)}/deny`, { note: text });
    toast("Refund request denied");
    ctx.reload();
  }, [approve]));
  return el("section", { class: "card", "aria-labelledby": "decide" },
    el("h2", { id: "decide" }, "Decide"),
    field("Note to the customer", note, "Optional when approving; required when denying. Up to 1000 characters."),
    field("Goods returned (when approving)", returned),
    errors,
    el("div", { class: "row" }, approve, deny));
}

async function renderDetail(root, ctx) {
  const back = el("p", {}, el("a", { href: "#/refunds" }, "← All refund requests"));
  root.replaceChildren(back, el("h1", {}, "Refund request"), loading("Loading the request…"));
  let r;
  try {
    r = await api("GET", `/refunds/${encodeURIComponent(ctx.id)}`);
  } catch (e) {
    root.replaceChildren(back, el("h1", {}, "Refund request not available"), errorBox(e));
    return;
  }
  // The order names the items and the merchant; the request still shows without it.
  let order = null;
  let orderError = null;
  try {
    order = await api("GET", `/admin/orders/${encodeURIComponent(r.order_id)}`);
  } catch (e) {
    orderError = e;
  }
  const sub = order?.sub_orders.find((s) => s.id === r.sub_order_id);
  const currency = order?.currency || "KES";
  const decided = r.status !== "pending";

  root.replaceChildren(back, el("div", { "data-test": "refund-detail", "data-id": r.id },
    el("h1", {}, `Refund request #${shortId(r.id)}`),
    el("p", {}, "Status: ", el("span", { "data-test": "refund-status" }, badge(r.status))),
    el("section", { class: "card", "aria-labelledby": "request" },
      el("h2", { id: "request" }, "The request"),
      facts([
        ["Reason", words(r.reason)],
        ["Amount", money(r.amount_cents, currency)],
        ["Asked", date(r.created_at)],
        ["Customer", [el("code", {}, r.customer_id), " · ", el("a", { href: "#/orders" + qs({ customer_id: r.customer_id }) }, "their orders")]],
        ["Order", el("a", { href: `#/orders/${r.order_id}` }, `#${shortId(r.order_id)}`)],
        ["Merchant", sub ? sub.merchant.business_name || shortId(sub.merchant.id) : "—"],
        sub ? ["Sub-order", [badge(sub.status), ` ${money(sub.subtotal_cents, currency)}`]] : ["Sub-order", el("code", {}, r.sub_order_id)],
        order ? ["Payment", [order.payment.method === "cod" ? "Cash on delivery " : "M-Pesa ", badge(order.payment.status)]] : null,
      ]),
      el("h3", {}, "Description"),
      paragraphs(r.description),
      el("h3", {}, "Items"),
      orderError ? errorBox(orderError) : null,
      refundItems(r, sub, currency),
      el("h3", {}, "Evidence"),
      evidence(r)),
    decided
      ? el("section", { class: "card", "aria-labelledby": "decision" },
        el("h2", { id: "decision" }, "Decision"),
        facts([
          ["Decision", badge(r.status)],
          ["Decided", date(r.decided_at)],
          ["Note", r.decision_note || "—"],
          r.status === "approved" ? ["Goods returned to stock", r.goods_returned ? "Yes" : "No"] : null,
          r.status === "approved" ? ["Payout", payout(r)] : null,
          r.payout_receipt ? ["M-Pesa receipt", el("code", {}, r.payout_receipt)] : null,
        ]))
      : decisionForm(r, currency, ctx)));
}

export default async function render(root, ctx) {
  if (ctx.id) return renderDetail(root, ctx);
  return renderList(root, ctx);
}
