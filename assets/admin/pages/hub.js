// Hub console — the parcels of the staff member's hub, one tab per status the hub handles
// (arriving → at hub → out for delivery → delivered → returned), newest (today's) first.
// Each card says what to deliver, to whom and what cash to collect, and offers only the
// steps valid for its status: receive, hand to a rider, delivered, returned, confirm COD cash.
// After a step the card is redrawn in place (so the next step is one tap away) and the tab
// counts follow.
// On a hub's own instance (hub mode, offline-capable) a line under the heading says how sync
// with the centre goes, and an extra "Expected" tab lists parcels the merchant has not marked
// shipped yet: offline, a parcel can be at the door before its "shipped" reaches the hub, so
// staff may receive it from there.

import { api, badge, date, day, el, empty, errorBox, field, loading, money, pager, qs, submitting, toast, words } from "../lib.js";

const TABS = [
  ["shipped_to_hub", "Arriving"],
  ["at_hub", "At hub"],
  ["out_for_delivery", "Out for delivery"],
  ["delivered", "Delivered"],
  ["returned", "Returned"],
];
/** Hub mode only, before the others: parcels the merchant is still preparing. */
const EXPECTED = ["processing", "Expected"];
/** The tabs of this instance: the centre refuses receiving an unshipped parcel, so no "Expected" there. */
const tabsFor = (hubMode) => (hubMode ? [EXPECTED, ...TABS] : TABS);
/** Tabs with work waiting, in the order one is opened by default ("Expected" is a heads-up, not work). */
const WORK = ["shipped_to_hub", "at_hub", "out_for_delivery"];
/** Statuses before "shipped" a hub instance may receive a parcel from. */
const UNSHIPPED = new Set(["pending", "confirmed", "processing"]);
const PER_PAGE = 24;

/** The last 8 characters of an id, the part that differs between records. */
const short = (id) => String(id || "").slice(-8).toUpperCase();

const isToday = (iso) => new Date(iso).toDateString() === new Date().toDateString();

/** "just now", "5 min ago", "3 h ago", else the date: how fresh the sync state is. */
function ago(iso) {
  if (!iso) return "never";
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  if (isNaN(s)) return iso;
  if (s < 60) return "just now"; // also a clock slightly ahead of this tablet's
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return date(iso);
}

/** "1 change", "3 changes". */
const count = (n, one, many = one + "s") => `${n} ${n === 1 ? one : many}`;

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

/**
 * The sync state under the heading, or null when there is nothing to say (the centre without
 * conflicts, or the state could not be loaded: the parcels matter more).
 */
function syncBox(sync, ctx) {
  if (!sync) return null;
  const hubMode = sync.mode === "hub";
  if (!hubMode && !(sync.conflicts > 0)) return null;
  const conflicts = sync.conflicts > 0 ? count(sync.conflicts, "conflict") : null;
  let line;
  if (!hubMode) {
    line = el("p", { class: "notice sync-line", "data-test": "sync-line", role: "status" },
      `${count(sync.conflicts, "sync conflict")} at this hub — an admin resolves them`);
  } else if (sync.last_error) {
    // The reason (network, refused token…) in small print: staff need only know work is safe.
    const since = sync.last_success_at ? `since ${date(sync.last_success_at)}` : "(never reached yet)";
    line = el("p", { class: "warn sync-line", "data-test": "sync-line", role: "status" },
      el("strong", {}, `Offline: cannot reach the centre ${since}`),
      ` — your work is saved here and will be sent when the link is back · ${count(sync.pending_changes, "change")} waiting`,
      conflicts ? ` · ${conflicts}` : null,
      el("br"), el("small", {}, `Last error: ${sync.last_error}`));
  } else {
    const synced = sync.last_success_at ? `Synced with the centre ${ago(sync.last_success_at)}` : "Not synced with the centre yet";
    line = el("p", { class: "notice sync-line", "data-test": "sync-line", role: "status" },
      [synced,
        sync.pending_changes > 0 ? `${count(sync.pending_changes, "change")} waiting to be sent` : null,
        conflicts].filter(Boolean).join(" · "));
  }
  let slot = null;
  let now = null;
  if (hubMode) {
    slot = el("div", { class: "slot", "aria-live": "polite" });
    now = el("button", { type: "button", "data-test": "sync-now" }, "Sync now");
    now.addEventListener("click", () => submitting(now, slot, async () => {
      try {
        const r = await api("POST", "/hub/sync/run", {});
        toast(`Synced: ${count(r.pushed, "change")} sent, ${count(r.pulled, "change")} received` +
          (r.new_conflicts > 0 ? `, ${count(r.new_conflicts, "new conflict")}` : ""));
        ctx.reload();
      } catch (err) {
        if (err.status !== 502) throw err;
        slot.replaceChildren(errorBox(err),
          el("p", {}, "Still offline. Keep working: everything is saved here and sent once the centre answers."));
      }
    }));
  }
  const recent = sync.recent_conflicts || [];
  const list = sync.conflicts > 0 && recent.length ? el("details", { "data-test": "sync-conflicts" },
    el("summary", {}, sync.conflicts > recent.length ? `The ${recent.length} newest conflicts` : "Conflicts"),
    el("ul", {}, recent.map((c) => el("li", {}, `${ago(c.created_at)} · ${c.summary}`)))) : null;
  return el("section", { class: "sync", "aria-label": "Sync with the centre" }, line, now, slot, list);
}

export default async function render(root, ctx) {
  const page = Math.max(1, parseInt(ctx.query.page, 10) || 1);

  // Counts, riders, hub names and the sync state load together; none of them blocks the
  // parcels if it fails. The "Expected" count is asked only once the instance is known a hub.
  const syncing = api("GET", "/hub/sync/status").catch(() => null);
  const [counts, riders, hubs, sync, expected] = await Promise.all([
    Promise.all(TABS.map(([s]) => countOf(s))).then((n) => Object.fromEntries(TABS.map(([s], i) => [s, n[i]]))),
    api("GET", "/hub/delivery-partners").then((r) => ({ items: r.items }), (err) => ({ items: [], err })),
    api("GET", "/hubs").then((r) => r.items, () => []),
    syncing,
    syncing.then((s) => (s?.mode === "hub" ? countOf(EXPECTED[0]) : null)),
  ]);
  const hubMode = sync?.mode === "hub";
  const tabs = tabsFor(hubMode);
  if (hubMode) counts[EXPECTED[0]] = expected;
  const asked = tabs.some(([s]) => s === ctx.query.status) ? ctx.query.status : null;
  // Without a chosen tab, open the first one with work waiting in it.
  const status = asked || WORK.find((s) => counts[s] > 0) || WORK[0];
  const activeRiders = riders.items.filter((r) => r.is_active);

  const heading = el("h1", {}, "Parcels");
  const tabButtons = tabs.map(([s, label]) => el("button", {
    type: "button",
    "data-test": `tab-${s}`,
    "aria-pressed": s === status ? "true" : "false",
    onclick: () => ctx.go("#/hub" + qs({ status: s })),
  }, label));
  const drawTabs = () => tabs.forEach(([s, label], i) => {
    tabButtons[i].textContent = counts[s] === null ? label : `${label} (${counts[s]})`;
  });
  drawTabs();
  const list = el("section", { "aria-label": "Parcels" }, loading("Loading parcels…"));
  root.replaceChildren(...[
    heading,
    syncBox(sync, ctx),
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
  const hubId = env.items[0]?.hub_id || riders.items[0]?.hub_id || sync?.hub_id;
  const hub = hubs.find((h) => h.id === hubId);
  if (hub) heading.textContent = `Parcels · ${hub.name}`;

  const tabLabel = tabs.find(([s]) => s === status)[1].toLowerCase();
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
    } else if (hubMode && UNSHIPPED.has(p.status)) {
      // Offline, the parcel may be here before the merchant's "shipped" is: receive it anyway.
      actions.push(el("p", {}, el("small", {}, "Not marked shipped by the merchant yet: receive it only once it is here.")),
        el("div", { class: "actions" },
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
