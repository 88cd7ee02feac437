// Users: search accounts by name or email, filter by role and by active/deactivated, page
// through them, change a user's role and activate or deactivate an account.

import { api, badge, date, el, empty, errorBox, field, loading, pager, qs, submitting, table, toast, words } from "../lib.js";

const ROLES = ["customer", "merchant", "hub_staff", "admin"];

/** Goes to `hash`, re-rendering even when it is the current one (no hashchange then). */
function navigate(ctx, hash) {
  if (location.hash === hash) ctx.reload();
  else ctx.go(hash);
}

function options(values, current, anyLabel) {
  return [
    anyLabel ? el("option", { value: "", selected: !current }, anyLabel) : null,
    values.map(([value, label]) => el("option", { value, selected: value === current }, label)),
  ];
}

export default async function render(root, ctx) {
  const q = ctx.query.q || "";
  const role = ROLES.includes(ctx.query.role) ? ctx.query.role : "";
  const active = ["true", "false"].includes(ctx.query.is_active) ? ctx.query.is_active : "";
  const page = Math.max(1, parseInt(ctx.query.page, 10) || 1);
  const hashFor = (p) => "#/users" + qs({ q, role, is_active: active, page: p > 1 ? p : "" });

  const search = el("input", { type: "search", name: "q", value: q, maxlength: 100, "data-test": "user-search",
    placeholder: "Name or email" });
  const roleSelect = el("select", { name: "role", "data-test": "role-filter" },
    options(ROLES.map((r) => [r, words(r)]), role, "Any role"));
  const activeSelect = el("select", { name: "is_active", "data-test": "active-filter" },
    options([["true", "Active"], ["false", "Deactivated"]], active, "Active or not"));
  const filters = el("form", { class: "row filters", role: "search" },
    field("Search", search), field("Role", roleSelect), field("Account", activeSelect),
    el("button", { type: "submit", class: "primary" }, "Search"));
  filters.addEventListener("submit", (ev) => {
    ev.preventDefault();
    navigate(ctx, "#/users" + qs({ q: search.value.trim(), role: roleSelect.value, is_active: activeSelect.value }));
  });

  const results = el("div", {}, loading("Loading users…"));
  root.replaceChildren(el("h1", {}, "Users"), filters, results);

  async function load() {
    results.replaceChildren(loading("Loading users…"));
    let envelope;
    try {
      envelope = await api("GET", "/admin/users" + qs({ q, role, is_active: active, page, per_page: 20 }));
    } catch (e) {
      results.replaceChildren(errorBox(e));
      return;
    }
    if (envelope.items.length === 0) {
      const filtered = q || role || active;
      results.replaceChildren(empty(filtered ? "No users match these filters" : "No users yet"));
      if (page > 1) results.append(pager(envelope, (p) => ctx.go(hashFor(p))));
      return;
    }
    const wrap = table([
      { label: "User", cell: (u) => el("div", {}, el("strong", {}, u.full_name), u.id === ctx.user.id ? " (you)" : null,
        el("br"), u.email, u.phone ? [el("br"), u.phone] : null) },
      { label: "Role", cell: roleCell },
      { label: "Account", cell: activeCell },
      { label: "Joined", cell: (u) => el("div", {}, date(u.created_at), el("br"),
        el("small", {}, u.last_login_at ? `last sign-in ${date(u.last_login_at)}` : "never signed in")) },
    ], envelope.items, "Users");
    wrap.querySelectorAll("tbody tr").forEach((tr, i) => {
      tr.setAttribute("data-test", "user-row");
      tr.setAttribute("data-id", envelope.items[i].id);
    });
    results.replaceChildren(wrap, pager(envelope, (p) => ctx.go(hashFor(p))));
  }

  /** After the table is redrawn, keep the keyboard on the control just used. */
  function refocus(id, test) {
    results.querySelector(`tr[data-id="${CSS.escape(id)}"] [data-test="${test}"]`)?.focus();
  }

  function roleCell(u) {
    const errors = el("div");
    const select = el("select", { name: "role", "data-test": "role-select" },
      options(ROLES.map((r) => [r, words(r)]), u.role));
    const save = el("button", { type: "button", "data-test": "change-role", disabled: true }, "Save");
    select.addEventListener("change", () => (save.disabled = select.value === u.role));
    save.addEventListener("click", () => submitting(save, errors, async () => {
      await api("PUT", `/admin/users/${u.id}/role`, { role: select.value });
      toast(`${u.full_name} is now ${words(select.value)}`);
      await load();
      refocus(u.id, "role-select");
    }));
    return el("div", {}, el("div", { class: "row" }, field("Role", select), save), errors);
  }

  function activeCell(u) {
    const errors = el("div");
    const toggle = el("button", { type: "button", class: u.is_active ? null : "ok", "data-test": "toggle-active" },
      u.is_active ? "Deactivate" : "Activate");
    toggle.addEventListener("click", () => submitting(toggle, errors, async () => {
      await api("PUT", `/admin/users/${u.id}/active`, { is_active: !u.is_active });
      toast(u.is_active ? `${u.full_name} is deactivated and signed out` : `${u.full_name} is active again`);
      await load();
      refocus(u.id, "toggle-active");
    }));
    return el("div", {}, el("div", { class: "row" }, badge(u.is_active ? "active" : "deactivated"), toggle), errors);
  }

  await load();
}
