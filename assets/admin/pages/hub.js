// Hub console — the parcels of the staff member's hub, one tab per status the hub handles
// (arriving → at hub → out for delivery → delivered → returned), newest (today's) first.
// Each card says what to deliver, to whom and what cash to collect, and offers only the
// steps valid for its status: receive, hand to a rider, delivered, returned, confirm COD cash.
// After a step the card is redrawn in place (so the next step is one tap away) and the tab
// counts follow.

import { api, badge, day, el, empty, errorBox, field, loading, money, pager, qs, submitting, toast, words } from "../lib.js";

const TABS = [
  ["shipped_to_hub", "Arriving"],
  ["at_hub", "At hub"],
  ["out_for_delivery", "Out for delivery"],
  ["delivered", "Delivered"],
  ["returned", "Returned"],
];
const PER_PAGE = 24;

/** The last 8 characters of an id, the part that differs between records. */
const short = (id) => String(id || "").slice(-8).toUpperCase();

const isToday = (iso) => new Date(iso).toDateString() === new Date().toDateString();

/** "1,234.50" (main unit) → 123450 cents; null when it is not an amount. */
function toCents(text) {
  const t = String(text).replace(/[\s,]/g, "").replace(/^KES/i, "");
  const m = /^(\d+)(?:\.(\d{1,2}))?$/.exec(t);
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] || "0").padEnd(2, "0"));
}

/** COD cash is still to be collected for this parcel's order. */
const cashDue = (p) => p.payment_method === "cod" && p.payment_status === "pending" && p.order_amount_due_cents > 0;

async function countOf(status) {
  try {
    const env = await api("GET", "/hub/orders" + qs({ status, per_page: 1 }));
    return typeof env.total === "number" ? env.total : null;
  } catch {
    return null; // Counts are a convenience: the tab still works without one.
  }
}

export default async function render(root, ctx) {
  const page = Math.max(1, parseInt(ctx.query.page, 10) || 1);
  const asked = TABS.some(([s]) => s === ctx.query.status) ? ctx.query.status : null;

  // Counts, riders and hub names load together; none of them blocks the parcels if it fails.
  const [counts, riders, hubs] = await Promise.all([
    Promise.all(TABS.map(([s]) => countOf(s))).then((n) => Object.fromEntries(TABS.map(([s], i) => [s, n[i]]))),
    api("GET", "/hub/delivery-partners").then((r) => ({ items: r.items }), (err) => ({ items: [], err })),
    api("GET", "/hubs").then((r) => r.items, () => []),
  ]);
  // Without a chosen tab, open the first one with work waiting in it.
  const status = asked || (TABS.slice(0, 3).find(([s]) => counts[s] > 0) || TABS[0])[0];
  const activeRiders = riders.items.filter((r) => r.is_active);

  const heading = el("h1", {}, "Parcels");
  const tabButtons = TABS.map(([s, label]) => el("button", {
    type: "button",
    "data-test": `tab-${s}`,
    "aria-pressed": s === status ? "true" : "false",
    onclick: () => ctx.go("#/hub" + qs({ status: s })),
  }, label));
  const drawTabs = () => TABS.forEach(([s, label], i) => {
    tabButtons[i].textContent = counts[s] === null ? label : `${label} (${counts[s]})`;
  });
  drawTabs();
  const list = el("section", { "aria-label": "Parcels" }, loading("Loading parcels…"));
  root.replaceChildren(...[
    heading,
    el("nav", { class: "hub-tabs", "aria-label": "Parcel status" }, tabButtons,
      el("button", { type: "button", "data-test": "refresh", onclick: () => ctx.reload() }, "↻ Refresh")),
    riders.err ? el("div", {}, el("p", {}, "Riders could not be loaded, so parcels cannot be sent out:"), errorBox(riders.err)) : null,
    list].filter(Boolean));

  let env;
  try {
    env = await api("GET", "/hub/orders" + qs({ status, page, per_page: PER_PAGE }));
  } catch (err) {
    list.replaceChildren(errorBox(err), el("button", { type: "button", onclick: () => ctx.reload() }, "Try again"));
    return;
  }
  const hubId = env.items[0]?.hub_id || riders.items[0]?.hub_id;
  const hub = hubs.find((h) => h.id === hubId);
  if (hub) heading.textContent = `Parcels · ${hub.name}`;

  const tabLabel = TABS.find(([s]) => s === status)[1].toLowerCase();
  if (env.items.length === 0) {
    list.replaceChildren(empty(`No parcels ${status === "shipped_to_hub" ? "arriving" : tabLabel} right now.`),
      page > 1 ? pager(env, (n) => ctx.go("#/hub" + qs({ status, page: n }))) : "");
    return;
  }

  // ---- one card per parcel -------------------------------------------------------------
  const cards = new Map(); // sub-order id → card node

  function replaceCard(parcel, message) {
    const old = cards.get(parcel.id);
    const fresh = card(parcel);
    if (old) old.replaceWith(fresh);
    cards.set(parcel.id, fresh);
    if (message) fresh.querySelector(".slot").replaceChildren(message);
    return fresh;
  }

  /** Moves a parcel one step; the card is redrawn with its next step, and the counts follow. */
  async function step(parcel, body, done) {
    try {
      const after = await api("PUT", `/hub/orders/${parcel.id}/status`, body);
      if (counts[parcel.status] > 0) counts[parcel.status] -= 1;
      if (typeof counts[after.status] === "number") counts[after.status] += 1;
      drawTabs();
      const fresh = replaceCard(after);
      fresh.focus();
      toast(`Parcel ${short(parcel.id)}: ${done}`);
    } catch (err) {
      // The parcel moved meanwhile (another tablet): show it as it is now, with the reason.
      if (err.status === 409) {
        try {
          const now = await api("GET", `/hub/orders/${parcel.id}`);
          if (now.status !== parcel.status) {
            if (counts[parcel.status] > 0) counts[parcel.status] -= 1;
            if (typeof counts[now.status] === "number") counts[now.status] += 1;
            drawTabs();
          }
          replaceCard(now, el("div", {},
            el("p", { class: "notice" }, "This parcel was changed meanwhile (on another device?); it is shown as it is now."),
            errorBox(err))).focus();
          return;
        } catch {
          // fall through: show the first error on the card as it was
        }
      }
      throw err;
    }
  }

  function actionButton(parcel, slot, label, cls, test, body, done) {
    const b = el("button", { type: "button", class: cls, "data-test": test });
    b.textContent = label;
    b.addEventListener("click", () => submitting(b, slot, () => step(parcel, body, done)));
    return b;
  }

  function dispatchControls(parcel, slot) {
    const current = parcel.delivery_partner?.id;
    const choices = activeRiders.slice();
    if (current && !choices.some((r) => r.id === current)) choices.unshift({ ...parcel.delivery_partner, inactive: true });
    const select = el("select", { "data-test": "rider-select" },
      el("option", { value: "" }, choices.length ? "Choose a rider…" : "No active riders"),
      choices.map((r) => el("option", { value: r.id, selected: r.id === current, disabled: r.inactive },
        `${r.name} · ${r.phone}${r.inactive ? " (inactive)" : ""}`)));
    const go = el("button", { type: "button", class: "primary", "data-test": "dispatch" }, "Out for delivery");
    go.addEventListener("click", () => submitting(go, slot, async () => {
      if (!select.value) {
        select.focus();
        throw new Error(choices.length ? "Choose the rider who takes this parcel." : "Add an active rider on the Riders page first.");
      }
      const rider = choices.find((r) => r.id === select.value);
      await step(parcel, { status: "out_for_delivery", delivery_partner_id: select.value }, `out for delivery with ${rider.name}`);
    }));
    return [
      field("Rider", select, choices.length ? null : el("a", { href: "#/riders" }, "Add a rider")),
      el("div", { class: "actions" }, go),
    ];
  }

  function cashControls(parcel, slot) {
    const input = el("input", { type: "text", inputmode: "decimal", autocomplete: "off", "data-test": "cash-amount", placeholder: "e.g. 660.00" });
    const go = el("button", { type: "button", class: "primary", "data-test": "confirm-cash" }, "Confirm cash received");
    go.addEventListener("click", () => submitting(go, slot, async () => {
      const cents = toCents(input.value);
      if (!cents) {
        input.focus();
        throw new Error("Enter the cash received in shillings, e.g. 660 or 660.50.");
      }
      try {
        const out = await api("POST", "/payments/cod/confirm", { order_id: parcel.order_id, amount_cents: cents });
        toast(`Cash ${money(out.payment.collected_cents ?? cents)} recorded for order ${short(parcel.order_id)}`);
        // Every card of this order now shows it as paid.
        // A card that cannot be re-read keeps its old look; the cash is recorded regardless.
        const same = [...cards.keys()].filter((id) => cards.get(id).dataset.order === parcel.order_id);
        const fresh = await Promise.allSettled(same.map((id) => api("GET", `/hub/orders/${id}`)));
        fresh.forEach((r) => r.status === "fulfilled" && replaceCard(r.value));
        if (fresh.some((r) => r.status === "rejected")) {
          toast("Cash recorded; press Refresh to see every parcel's latest state");
        }
        cards.get(parcel.id)?.focus();
      } catch (err) {
        const due = err.details?.amount_due_cents;
        if (typeof due === "number") {
          input.focus();
          slot.replaceChildren(el("div", { class: "error", role: "alert", "data-test": "cash-error" },
            el("strong", {}, `Wrong amount: ${money(cents)} entered, but the amount due is ${money(due)}.`),
            el("p", {}, "Count the cash again and enter exactly the amount due.")));
          return;
        }
        if (err.code === "not_out_for_delivery") {
          slot.replaceChildren(errorBox(err), el("p", {}, "Send every parcel of this order out for delivery first, then confirm the cash once for the whole order."));
          return;
        }
        throw err;
      }
    }));
    return el("div", { class: "actions" },
      field(`Cash received (KES, in shillings) — due ${money(parcel.order_amount_due_cents)}`, input), go);
  }

  function paymentLine(p) {
    if (p.payment_method !== "cod") return `Prepaid by M-Pesa (${words(p.payment_status)})`;
    if (p.payment_status === "paid") return "Cash on delivery · cash received";
    if (p.payment_status !== "pending") return `Cash on delivery · payment ${words(p.payment_status)}`;
    const whole = p.order_amount_due_cents !== p.subtotal_cents ? " for the whole order (it has other parcels)" : "";
    return el("strong", { "data-test": "cod-due" }, `Collect ${money(p.order_amount_due_cents)} cash${whole}`);
  }

  function card(p) {
    const slot = el("div", { class: "slot", "aria-live": "polite" });
    const actions = [];
    if (p.status === "shipped_to_hub") {
      actions.push(el("div", { class: "actions" },
        actionButton(p, slot, "Receive at hub", "primary", "receive", { status: "at_hub" }, "received at hub")));
    } else if (p.status === "at_hub") {
      actions.push(...dispatchControls(p, slot));
    } else if (p.status === "out_for_delivery") {
      actions.push(el("div", { class: "actions" },
        actionButton(p, slot, "Delivered", "ok", "deliver", { status: "delivered" }, "delivered")));
    }
    if (cashDue(p) && (p.status === "out_for_delivery" || p.status === "delivered")) actions.push(cashControls(p, slot));
    if (p.status === "delivered") {
      const back = el("button", { type: "button", "data-test": "return" }, "Returned to hub");
      back.addEventListener("click", () => {
        if (!window.confirm(`Mark parcel ${short(p.id)} as returned by the customer?`)) return;
        submitting(back, slot, () => step(p, { status: "returned" }, "returned"));
      });
      actions.push(el("div", { class: "actions" }, back));
    }
    const titleId = `parcel-${p.id}`;
    const node = el("article", {
      class: "parcel", "data-test": "parcel", "data-id": p.id, "data-status": p.status, "data-order": p.order_id,
      tabindex: "-1", "aria-labelledby": titleId,
    },
    el("h3", { id: titleId, title: p.id }, `Parcel ${short(p.id)} `, badge(p.status)),
    el("dl", { class: "facts" },
      el("dt", {}, "Order"), el("dd", { title: p.order_id }, `${short(p.order_id)} · ${day(p.created_at)}${isToday(p.created_at) ? " (today)" : ""}`),
      el("dt", {}, "Customer"), el("dd", { "data-test": "customer" }, p.customer_name),
      el("dt", {}, "Phone"), el("dd", {}, el("a", { href: `tel:${p.customer_phone.replace(/[^\d+]/g, "")}` }, p.customer_phone)),
      el("dt", {}, "Address"), el("dd", {}, p.delivery_address),
      el("dt", {}, "From"), el("dd", {}, p.merchant.business_name || "—"),
      el("dt", {}, "Items"), el("dd", {}, el("ul", {}, p.items.map((i) => el("li", {}, `${i.quantity} × ${i.name}`)))),
      el("dt", {}, "Value"), el("dd", {}, money(p.subtotal_cents)),
      el("dt", {}, "Payment"), el("dd", {}, paymentLine(p)),
      p.delivery_partner ? [el("dt", {}, "Rider"), el("dd", {}, `${p.delivery_partner.name} · ${p.delivery_partner.phone}`)] : null),
    actions,
    slot);
    return node;
  }

  // ---- today's parcels first (the API lists newest first) -------------------------------
  const today = env.items.filter((p) => isToday(p.created_at));
  const earlier = env.items.filter((p) => !isToday(p.created_at));
  const group = (title, items) => items.length === 0 ? null : [
    el("h2", {}, `${title} · ${items.length}`),
    el("div", { class: "parcels" }, items.map((p) => {
      const c = card(p);
      cards.set(p.id, c);
      return c;
    })),
  ];
  list.replaceChildren(el("div", {},
    page === 1 && today.length === 0 ? el("p", { class: "notice" }, `No parcels from today ${status === "shipped_to_hub" ? "arriving" : tabLabel}.`) : null,
    group("Today", today),
    group(page === 1 ? "Earlier" : `Earlier (page ${page})`, earlier),
    pager(env, (n) => ctx.go("#/hub" + qs({ status, page: n })))));
}
