// Merchant applications: the queue (pending by default, or approved / rejected / all), oldest
// first, paginated; each pending application can be approved or rejected with a note to the
// applicant (required when rejecting). A decided card shows its status in place.

import { api, badge, date, el, empty, errorBox, field, loading, pager, qs, submitting, toast } from "../lib.js";

const STATUSES = [["pending", "Pending"], ["approved", "Approved"], ["rejected", "Rejected"], ["any", "All"]];

export default async function render(root, ctx) {
  const status = STATUSES.some(([s]) => s === ctx.query.status) ? ctx.query.status : "pending";
  const page = Math.max(1, parseInt(ctx.query.page, 10) || 1);
  const hashFor = (s, p) => "#/applications" + qs({ status: s === "pending" ? "" : s, page: p > 1 ? p : "" });

  const select = el("select", { name: "status", "data-test": "status-filter" },
    STATUSES.map(([s, label]) => el("option", { value: s, selected: s === status }, label)));
  const filters = el("form", { class: "row filters" }, field("Status", select),
    el("button", { type: "submit", class: "primary" }, "Show"));
  filters.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const hash = hashFor(select.value, 1);
    if (location.hash === hash) ctx.reload();
    else ctx.go(hash);
  });

  const results = el("div", {}, loading("Loading applications…"));
  root.replaceChildren(el("h1", {}, "Merchant applications"), filters, results);

  let envelope;
  try {
    envelope = await api("GET", "/admin/merchant-applications" +
      qs({ status: status === "any" ? "" : status, page, per_page: 20 }));
  } catch (e) {
    results.replaceChildren(errorBox(e));
    return;
  }
  const more = pager(envelope, (p) => ctx.go(hashFor(status, p)));
  if (envelope.items.length === 0) {
    const none = { pending: "No pending applications", approved: "No approved applications yet",
      rejected: "No rejected applications", any: "No applications yet" }[status];
    results.replaceChildren(empty(none));
    if (page > 1) results.append(more);
    return;
  }
  results.replaceChildren(...envelope.items.map(card), more);
}

/** One application as a card; pending ones carry the decision form. */
function card(a) {
  const node = el("article", { class: "card", "data-test": "application-row", "data-id": a.id });
  fill(node, a);
  return node;
}

function fill(node, a) {
  const facts = el("dl", { class: "facts" },
    el("dt", {}, "Applicant"), el("dd", {}, `${a.applicant_name} · ${a.applicant_email}`),
    el("dt", {}, "Phone"), el("dd", {}, a.phone),
    el("dt", {}, "Location"), el("dd", {}, a.location),
    el("dt", {}, "Applied"), el("dd", {}, date(a.created_at)),
    a.decided_at ? [el("dt", {}, "Decided"), el("dd", {}, date(a.decided_at))] : null,
    a.decision_note ? [el("dt", {}, "Note"), el("dd", { "data-test": "application-note" }, a.decision_note)] : null);
  node.replaceChildren(
    el("h2", { tabindex: "-1" }, a.business_name, " ", el("span", { "data-test": "application-status" }, badge(a.status))),
    el("p", {}, a.business_description.split("\n").map((line, i) => [i ? el("br") : null, line])),
    facts);
  if (a.status === "pending") node.append(decision(node, a));
}

function decision(node, a) {
  const note = el("textarea", { name: "note", maxlength: 1000, rows: 3, "data-test": "decision-note" });
  const errors = el("div");
  const approve = el("button", { type: "button", class: "ok", "data-test": "approve" }, "Approve");
  const reject = el("button", { type: "button", class: "danger", "data-test": "reject" }, "Reject");
  const decide = (button, choice) => submitting(button, errors, async () => {
    const text = note.value.trim();
    if (choice === "reject" && !text) {
      note.focus();
      throw new Error("Write a note to the applicant: a rejection needs one.");
    }
    const out = await api("PUT", `/admin/merchant-applications/${a.id}`, { decision: choice, note: text || null });
    toast(choice === "approve" ? `${a.business_name} approved: ${a.applicant_name} is now a merchant`
      : `${a.business_name} rejected`);
    fill(node, out);
    node.querySelector("h2").focus(); // the buttons are gone: keep the keyboard in this card
  }, [approve, reject].filter((b) => b !== button));
  approve.addEventListener("click", () => decide(approve, "approve"));
  reject.addEventListener("click", () => decide(reject, "reject"));
  return el("div", {},
    field("Note to the applicant", note, "Optional when approving, required when rejecting; mailed with the decision."),
    errors,
    el("div", { class: "row" }, approve, reject));
}
