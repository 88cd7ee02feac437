// Hubs: `#/hubs` lists every hub (active or not) and adds one; `#/hubs/<id>` edits a hub
// (name, location, phone, active) and manages its staff: the current members, and assigning
// a user found by email or name (an active customer, or staff of another hub, who moves).
// It also sets up the hub's own instance (a sync token to join it with) and lists the sync
// conflicts found while merging that instance's changes.

import { api, badge, date, el, empty, errorBox, field, loading, submitting, table, toast, words } from "../lib.js";

export default async function render(root, ctx) {
  if (ctx.id) return hubPage(root, ctx, ctx.id);
  const title = el("h1", {}, "Hubs");
  root.replaceChildren(title, loading("Loading hubs…"));
  let hubs;
  let staffCount = null; // hub id → number of staff; null when the staff list failed to load
  try {
    const [list, staff] = await Promise.all([api("GET", "/admin/hubs"), api("GET", "/admin/hub-staff").catch(() => null)]);
    hubs = list.items;
    if (staff) {
      staffCount = new Map();
      for (const m of staff.items) staffCount.set(m.hub_id, (staffCount.get(m.hub_id) || 0) + 1);
    }
  } catch (e) {
    root.replaceChildren(title, errorBox(e));
    return;
  }
  const list = hubs.length === 0 ? empty("No hubs yet") : table([
    { label: "Hub", cell: (h) => el("a", { href: `#/hubs/${h.id}`, "data-test": "hub-link" }, h.name) },
    { label: "Location", cell: (h) => h.location },
    { label: "Phone", cell: (h) => h.phone },
    { label: "Staff", cell: (h) => (staffCount ? String(staffCount.get(h.id) || 0) : "—") },
    { label: "Status", cell: (h) => badge(h.is_active ? "active" : "inactive") },
  ], hubs, "Hubs");
  if (hubs.length) list.querySelectorAll("tbody tr").forEach((tr, i) => {
    tr.setAttribute("data-test", "hub-row");
    tr.setAttribute("data-id", hubs[i].id);
  });
  root.replaceChildren(title, list, ...hubForm(null, (hub) => {
    toast(`${hub.name} added`);
    ctx.go(`#/hubs/${hub.id}`);
  }));
}

/** The hub's fields: a new hub when `hub` is null, else an edit sending only what changed. */
function hubForm(hub, done) {
  const name = el("input", { name: "name", required: true, minlength: 2, maxlength: 120, value: hub?.name ?? "" });
  const location = el("input", { name: "location", required: true, maxlength: 200, value: hub?.location ?? "" });
  const phone = el("input", { name: "phone", type: "tel", required: true, value: hub?.phone ?? "", autocomplete: "off" });
  const active = hub ? el("select", { name: "is_active" },
    el("option", { value: "true", selected: hub.is_active }, "Active: customers can choose it"),
    el("option", { value: "false", selected: !hub.is_active }, "Inactive: hidden from checkout")) : null;
  const errors = el("div");
  const save = el("button", { type: "submit", class: "primary", "data-test": "save-hub" }, hub ? "Save changes" : "Add hub");
  const form = el("form", { class: "card", "aria-labelledby": hub ? "hub-details" : "hub-new" },
    el("div", { class: "row" }, field("Name", name), field("Location", location),
      field("Phone", phone), active ? field("Status", active) : null, save),
    errors);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(save, errors, async () => {
      const body = { name: name.value.trim(), location: location.value.trim(), phone: phone.value.trim() };
      if (hub) {
        body.is_active = active.value === "true";
        for (const k of Object.keys(body)) if (body[k] === hub[k]) delete body[k];
        if (Object.keys(body).length === 0) {
          toast("Nothing changed");
          return;
        }
      }
      done(await api(hub ? "PUT" : "POST", hub ? `/admin/hubs/${hub.id}` : "/admin/hubs", body));
    });
  });
  return [el("h2", { id: hub ? "hub-details" : "hub-new" }, hub ? "Details" : "Add a hub"), form];
}

async function hubPage(root, ctx, id) {
  const back = el("p", {}, el("a", { href: "#/hubs" }, "← All hubs"));
  root.replaceChildren(back, el("h1", {}, "Hub"), loading("Loading the hub…"));
  let hub;
  try {
    hub = await api("GET", `/admin/hubs/${encodeURIComponent(id)}`);
  } catch (e) {
    root.replaceChildren(back, el("h1", {}, "Hub"), errorBox(e));
    return;
  }
  const staff = el("div", {}, loading("Loading staff…"));
  const conflicts = el("div", { "data-test": "sync-conflicts" }, loading("Loading sync conflicts…"));
  const here = new Set(); // user ids of the current staff
  root.replaceChildren(back,
    el("h1", {}, hub.name, " ", badge(hub.is_active ? "active" : "inactive")),
    ...hubForm(hub, (saved) => {
      toast(`${saved.name} saved`);
      ctx.reload();
    }),
    el("h2", {}, "Staff"), staff,
    ...assignForm(hub, (userId) => here.has(userId), () => loadStaff()),
    ...instanceSection(hub),
    el("h2", {}, "Sync conflicts"), conflicts);

  async function loadStaff() {
    staff.replaceChildren(loading("Loading staff…"));
    let items;
    try {
      items = (await api("GET", `/admin/hub-staff?hub_id=${encodeURIComponent(hub.id)}`)).items;
    } catch (e) {
      staff.replaceChildren(errorBox(e));
      return;
    }
    here.clear();
    for (const m of items) here.add(m.user_id);
    if (items.length === 0) {
      staff.replaceChildren(empty("No staff at this hub yet"));
      return;
    }
    const t = table([
      { label: "Name", cell: (m) => m.full_name },
      { label: "Email", cell: (m) => m.email },
      { label: "Account", cell: (m) => badge(m.is_active ? "active" : "deactivated") },
      { label: "Assigned", cell: (m) => date(m.assigned_at) },
    ], items, `Staff of ${hub.name}`);
    t.querySelectorAll("tbody tr").forEach((tr, i) => {
      tr.setAttribute("data-test", "staff-row");
      tr.setAttribute("data-id", items[i].user_id);
    });
    staff.replaceChildren(t, el("p", {}, el("small", {},
      "To take someone off the staff, change their role on the Users page.")));
  }
  // Independent of each other: the staff list does not wait for the conflicts.
  await Promise.all([loadStaff(), loadConflicts(hub, conflicts)]);
}

/** The hub's sync conflicts, newest first (what was kept here against the other side's claim). */
async function loadConflicts(hub, into) {
  let env;
  try {
    env = await api("GET", `/admin/sync/conflicts?hub_id=${encodeURIComponent(hub.id)}&per_page=20`);
  } catch (e) {
    into.replaceChildren(errorBox(e));
    return;
  }
  if (env.items.length === 0) {
    into.replaceChildren(empty("No sync conflicts"));
    return;
  }
  const t = table([
    { label: "When", cell: (c) => date(c.created_at) },
    { label: "Kind", cell: (c) => words(c.kind) },
    { label: "Entity", cell: (c) => el("span", { title: c.entity_id }, String(c.entity_id).slice(-8).toUpperCase()) },
    { label: "Summary", cell: (c) => c.summary },
    { label: "Kept", cell: (c) => words(c.local) },
    { label: "Other side", cell: (c) => words(c.remote) },
  ], env.items, `Sync conflicts of ${hub.name}`);
  t.querySelectorAll("tbody tr").forEach((tr, i) => {
    tr.setAttribute("data-test", "conflict-row");
    tr.setAttribute("data-id", env.items[i].id);
  });
  // replaceChildren would write a null as the text "null".
  into.replaceChildren(t, ...(env.total > env.items.length
    ? [el("p", {}, el("small", {}, `Showing the ${env.items.length} newest of ${env.total}.`))]
    : []));
}

/**
 * The hub's own instance: issues its sync token and shows it once, with the command that joins
 * a machine at the hub to this site. Issuing replaces any earlier token, which the API cannot
 * tell us about, hence the confirmation every time.
 */
function instanceSection(hub) {
  const errors = el("div");
  const shown = el("div");
  const issue = el("button", { type: "button", class: "primary", "data-test": "issue-sync-token" }, "Issue sync token");
  issue.addEventListener("click", () => {
    if (!window.confirm(`Issue a new sync token for ${hub.name}? If the hub already has one, it stops working: ` +
      "its instance must then be joined again (or reconfigured) with the new token.")) return;
    submitting(issue, errors, async () => {
      const out = await api("POST", `/admin/hubs/${encodeURIComponent(hub.id)}/sync-token`);
      shown.replaceChildren(tokenBox(out.token));
      toast(`Sync token issued for ${hub.name}`);
      shown.querySelector("input")?.focus();
    });
  });
  const card = el("section", { class: "card", "aria-labelledby": "hub-instance" },
    el("p", {}, "Let this hub run its own MarketHub that keeps working offline: issue a token, then on the hub's machine run ",
      el("code", {}, "markethub hub join --upstream <this site's URL> --token <token>"), "."),
    el("div", { class: "row" }, issue), errors, shown);
  return [el("h2", { id: "hub-instance" }, "Hub instance"), card];
}

/** The token (shown once) and the join command, read-only and selected on focus for copying. */
function tokenBox(token) {
  const copyable = (attrs) => el("input", { type: "text", readonly: true, autocomplete: "off", spellcheck: "false",
    class: "copy", onfocus: (ev) => ev.target.select(), ...attrs });
  const command = `markethub hub join --upstream ${location.origin} --token ${token}`;
  return el("div", { class: "token" },
    el("p", { class: "warn", role: "status" }, "Copy the token now: it is not shown again."),
    field("Sync token", copyable({ value: token, "data-test": "sync-token" })),
    field("On the hub's machine, run", copyable({ value: command, "data-test": "sync-join-command" })));
}

/** Finds users by email or name and assigns one to the hub. */
function assignForm(hub, isHere, assigned) {
  const q = el("input", { type: "search", name: "q", required: true, maxlength: 100, "data-test": "staff-search",
    placeholder: "jane@example.com" });
  const find = el("button", { type: "submit" }, "Find");
  const errors = el("div");
  const found = el("div");
  const form = el("form", { class: "card", "aria-labelledby": "hub-assign" },
    el("p", {}, "Find the person's account; an active customer becomes hub staff, staff of another hub moves here."),
    el("div", { class: "row" }, field("Email or name", q), find), errors, found);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(find, errors, async () => {
      found.replaceChildren(loading("Searching…"));
      try {
        const page = await api("GET", `/admin/users?q=${encodeURIComponent(q.value.trim())}&per_page=10`);
        found.replaceChildren(results(page));
      } catch (e) {
        found.replaceChildren();
        throw e;
      }
    });
  });

  function results(page) {
    if (page.items.length === 0) return empty("No user matches");
    const t = table([
      { label: "User", cell: (u) => el("div", {}, el("strong", {}, u.full_name), el("br"), u.email) },
      { label: "Role", cell: (u) => el("div", {}, badge(u.role), u.is_active ? null : [" ", badge("deactivated")]) },
      { label: "Assign", cell: (u) => assignButton(u) },
    ], page.items, "Matching users");
    t.querySelectorAll("tbody tr").forEach((tr) => tr.setAttribute("data-test", "staff-candidate"));
    const more = page.total > page.items.length
      ? el("p", {}, el("small", {}, `Showing ${page.items.length} of ${page.total}: refine the search to see others.`))
      : null;
    return el("div", {}, t, more);
  }

  function assignButton(u) {
    const eligible = u.is_active && (u.role === "customer" || u.role === "hub_staff");
    if (!eligible) {
      return el("small", {}, u.is_active ? `${words(u.role)}s cannot be hub staff` : "Account deactivated");
    }
    if (isHere(u.id)) return el("small", {}, "Already staff here");
    const slot = el("div");
    const b = el("button", { type: "button", class: "primary", "data-test": "assign-staff" },
      u.role === "hub_staff" ? "Move to this hub" : "Make staff here");
    b.addEventListener("click", () => submitting(b, slot, async () => {
      await api("POST", "/admin/hub-staff", { user_id: u.id, hub_id: hub.id });
      toast(`${u.full_name} is now staff of ${hub.name}`);
      found.replaceChildren();
      q.value = "";
      q.focus();
      await assigned();
    }));
    return el("div", {}, b, slot);
  }
  return [el("h2", { id: "hub-assign" }, "Assign a staff member"), form];
}
