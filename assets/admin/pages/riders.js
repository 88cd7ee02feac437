// Hub console — the hub's riders (delivery partners): the list (active first), a form to add
// one, and per rider an inline editor (name, phone, vehicle) and deactivate / reactivate.
// Only active riders can be given parcels on the Parcels page.

import { api, badge, el, empty, errorBox, field, loading, submitting, toast } from "../lib.js";

const COLUMNS = ["Name", "Phone", "Vehicle", "Status", "Actions"];

/** The rider form's inputs, filled from `r` when editing. */
function inputs(r = {}) {
  return {
    name: el("input", { name: "name", required: true, minlength: 2, maxlength: 120, autocomplete: "off", value: r.name || "" }),
    phone: el("input", { name: "phone", type: "tel", required: true, autocomplete: "off", value: r.phone || "", placeholder: "+254722000111" }),
    vehicle: el("input", { name: "vehicle", maxlength: 80, autocomplete: "off", value: r.vehicle || "", placeholder: "Motorbike KMFA 123X" }),
  };
}

export default async function render(root, ctx) {
  const listSlot = el("section", { "aria-labelledby": "riders-list" }, loading("Loading riders…"));
  const summary = el("p", { role: "status" });

  // ---- add a rider ------------------------------------------------------------------------
  const add = inputs();
  const addErrors = el("div");
  const addButton = el("button", { type: "submit", class: "primary", "data-test": "add-rider" }, "Add rider");
  const addForm = el("form", { class: "card", "aria-labelledby": "add-title", "data-test": "rider-form" },
    el("div", { class: "row" },
      field("Name", add.name),
      field("Phone", add.phone),
      field("Vehicle (optional)", add.vehicle),
      addButton),
    addErrors);
  addForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(addButton, addErrors, async () => {
      const r = await api("POST", "/hub/delivery-partners", {
        name: add.name.value.trim(),
        phone: add.phone.value.trim(),
        vehicle: add.vehicle.value.trim() || null,
      });
      addForm.reset();
      toast(`${r.name} added`);
      await loadList();
      add.name.focus();
    });
  });

  root.replaceChildren(el("h1", {}, "Riders"), el("h2", { id: "add-title" }, "Add a rider"), addForm,
    el("h2", { id: "riders-list" }, "Riders of this hub"), summary, listSlot);

  // ---- the list ---------------------------------------------------------------------------
  async function loadList(focusId, focusTest = "edit-rider") {
    let riders;
    try {
      riders = (await api("GET", "/hub/delivery-partners")).items;
    } catch (err) {
      listSlot.replaceChildren(errorBox(err), el("button", { type: "button", onclick: () => loadList() }, "Try again"));
      return;
    }
    if (riders.length === 0) {
      summary.textContent = "";
      listSlot.replaceChildren(empty("No riders yet — add the first one above."));
      return;
    }
    riders.sort((a, b) => Number(b.is_active) - Number(a.is_active) || a.name.localeCompare(b.name));
    const active = riders.filter((r) => r.is_active).length;
    summary.textContent = `${active} active · ${riders.length - active} inactive`;
    const body = el("tbody", {}, riders.map((r) => row(r)));
    listSlot.replaceChildren(el("div", { class: "table-wrap" },
      el("table", {},
        el("caption", { class: "sr-only" }, "Riders of this hub"),
        el("thead", {}, el("tr", {}, COLUMNS.map((c) => el("th", { scope: "col" }, c)))),
        body)));
    if (focusId) body.querySelector(`[data-id="${focusId}"] [data-test="${focusTest}"]`)?.focus();
  }

  function row(r) {
    const errors = el("div");
    const edit = el("button", { type: "button", "data-test": "edit-rider", "aria-expanded": "false" }, "Edit");
    const toggle = el("button", { type: "button", class: r.is_active ? "danger" : "ok", "data-test": "toggle-rider" },
      r.is_active ? "Deactivate" : "Reactivate");
    toggle.addEventListener("click", () => submitting(toggle, errors, async () => {
      await api("PUT", `/hub/delivery-partners/${r.id}`, { is_active: !r.is_active });
      toast(`${r.name} ${r.is_active ? "deactivated" : "reactivated"}`);
      await loadList(r.id, "toggle-rider");
    }));
    const tr = el("tr", { "data-test": "rider-row", "data-id": r.id, "data-active": String(r.is_active) },
      el("td", { "data-label": "Name" }, r.name),
      el("td", { "data-label": "Phone" }, r.phone),
      el("td", { "data-label": "Vehicle" }, r.vehicle || "—"),
      el("td", { "data-label": "Status" }, badge(r.is_active ? "active" : "inactive")),
      el("td", { "data-label": "Actions" }, el("div", { class: "row" }, edit, toggle), errors));
    edit.addEventListener("click", () => {
      const open = tr.nextElementSibling?.classList.contains("rider-edit");
      if (open) {
        tr.nextElementSibling.remove();
        edit.setAttribute("aria-expanded", "false");
      } else {
        tr.after(editor(r, edit));
        edit.setAttribute("aria-expanded", "true");
        tr.nextElementSibling.querySelector("input").focus();
      }
    });
    return tr;
  }

  /** An inline form under the rider's row; only changed fields are sent. */
  function editor(r, editButton) {
    const f = inputs(r);
    const errors = el("div");
    const save = el("button", { type: "submit", class: "primary", "data-test": "save-rider" }, "Save");
    const cancel = el("button", { type: "button" }, "Cancel");
    const form = el("form", { "aria-label": `Edit ${r.name}` },
      el("div", { class: "row" }, field("Name", f.name), field("Phone", f.phone), field("Vehicle (optional)", f.vehicle)),
      errors,
      el("div", { class: "row" }, save, cancel));
    const tr = el("tr", { class: "rider-edit" }, el("td", { colspan: COLUMNS.length, "data-label": "Edit" }, form));
    cancel.addEventListener("click", () => {
      tr.remove();
      editButton.setAttribute("aria-expanded", "false");
      editButton.focus();
    });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      submitting(save, errors, async () => {
        const changes = {};
        if (f.name.value.trim() !== r.name) changes.name = f.name.value.trim();
        if (f.phone.value.trim() !== r.phone) changes.phone = f.phone.value.trim();
        if (f.vehicle.value.trim() !== (r.vehicle || "")) changes.vehicle = f.vehicle.value.trim() || null;
        if (Object.keys(changes).length === 0) {
          cancel.click();
          return;
        }
        const out = await api("PUT", `/hub/delivery-partners/${r.id}`, changes);
        toast(`${out.name} saved`);
        await loadList(r.id);
      });
    });
    return tr;
  }

  await loadList();
}
