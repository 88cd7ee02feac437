// Categories: the whole tree (built from each category's parent_id); add a category under any
// parent, rename or move one, and delete one. A category still in use (products or
// sub-categories) answers `category_in_use`: the page then offers a category to move them to.

import { api, el, empty, errorBox, field, loading, submitting, toast } from "../lib.js";

export default async function render(root, ctx) {
  const title = el("h1", {}, "Categories");
  root.replaceChildren(title, loading("Loading categories…"));
  let cats;
  try {
    cats = (await api("GET", "/categories")).items;
  } catch (e) {
    root.replaceChildren(title, errorBox(e));
    return;
  }

  const byId = new Map(cats.map((c) => [c.id, c]));
  const children = new Map(); // parent id ("" for top level) → its sub-categories, by name
  for (const c of cats) {
    const parent = c.parent_id && byId.has(c.parent_id) ? c.parent_id : "";
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(c);
  }
  for (const list of children.values()) list.sort((a, b) => a.name.localeCompare(b.name));
  const kidsOf = (id) => children.get(id) || [];

  /** Every category, depth first (the order of the tree), for the parent pickers. */
  const ordered = [];
  const walk = (id, seen) => kidsOf(id).forEach((c) => {
    if (seen.has(c.id)) return;
    seen.add(c.id);
    ordered.push(c);
    walk(c.id, seen);
  });
  walk("", new Set());

  const pathOf = (c) => {
    const names = [];
    for (let x = c, n = 0; x && n < 10; x = byId.get(x.parent_id), n += 1) names.unshift(x.name);
    return names.join(" › ");
  };
  const subtree = (id) => {
    const ids = new Set([id]);
    for (const c of ordered) if (ids.has(c.parent_id)) ids.add(c.id);
    return ids;
  };
  const picker = (name, selected, exclude, topLabel) => el("select", { name },
    topLabel ? el("option", { value: "", selected: !selected }, topLabel) : null,
    ordered.filter((c) => !exclude.has(c.id))
      .map((c) => el("option", { value: c.id, selected: c.id === selected }, pathOf(c))));

  // Adding a category.
  const name = el("input", { name: "name", required: true, maxlength: 80, "data-test": "category-name" });
  const parent = picker("parent_id", "", new Set(), "— none (top level) —");
  const addErrors = el("div");
  const add = el("button", { type: "submit", class: "primary", "data-test": "add-category" }, "Add category");
  const form = el("form", { class: "card", "aria-labelledby": "category-new" },
    el("div", { class: "row" }, field("Name", name), field("Parent", parent), add), addErrors);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(add, addErrors, async () => {
      const made = await api("POST", "/admin/categories", { name: name.value.trim(), parent_id: parent.value || null });
      toast(`Category “${pathOf(made)}” added`);
      ctx.reload();
    });
  });

  // One category of the tree, with its actions and, nested, its sub-categories.
  function item(c) {
    const panel = el("div");
    const edit = el("button", { type: "button", "aria-label": `Edit ${c.name}`, "data-test": "edit-category" }, "Edit");
    const del = el("button", { type: "button", "aria-label": `Delete ${c.name}`, "data-test": "delete-category" }, "Delete");
    edit.addEventListener("click", () => panel.replaceChildren(editForm(c, panel, edit)));
    del.addEventListener("click", () => panel.replaceChildren(deletePanel(c, panel, del)));
    const kids = kidsOf(c.id);
    return el("li", { "data-test": "category", "data-id": c.id },
      el("div", { class: "row" }, el("strong", {}, c.name), edit, del),
      panel,
      kids.length ? el("ul", {}, kids.map(item)) : null);
  }

  function closer(panel, back) {
    return el("button", { type: "button", onclick: () => { panel.replaceChildren(); back.focus(); } }, "Cancel");
  }

  function editForm(c, panel, back) {
    const input = el("input", { name: "name", required: true, maxlength: 80, value: c.name });
    const moveTo = picker("parent_id", c.parent_id || "", subtree(c.id), "— none (top level) —");
    const errors = el("div");
    const save = el("button", { type: "submit", class: "primary" }, "Save");
    const f = el("form", { class: "card" },
      el("div", { class: "row" }, field("New name", input), field("Parent", moveTo), save, closer(panel, back)), errors);
    f.addEventListener("submit", (ev) => {
      ev.preventDefault();
      submitting(save, errors, async () => {
        await api("PUT", `/admin/categories/${c.id}`, { name: input.value.trim(), parent_id: moveTo.value || null });
        toast(`Category “${input.value.trim()}” saved`);
        ctx.reload();
      });
    });
    queueMicrotask(() => input.focus());
    return f;
  }

  function deletePanel(c, panel, back) {
    const errors = el("div");
    const confirm = el("button", { type: "button", class: "danger", "data-test": "confirm-delete" }, `Delete “${c.name}”`);
    const box = el("div", { class: "card", role: "group", "aria-label": `Delete ${c.name}` },
      el("p", {}, `Delete the category “${pathOf(c)}”? This cannot be undone.`),
      el("div", { class: "row" }, confirm, closer(panel, back)), errors);
    confirm.addEventListener("click", () => submitting(confirm, errors, async () => {
      try {
        await remove(c);
      } catch (e) {
        if (e.code !== "category_in_use") throw e;
        box.replaceChildren(reassignChoice(c, e, panel, back));
      }
    }));
    queueMicrotask(() => confirm.focus());
    return box;
  }

  /** The category is in use: choose where its products and sub-categories go, then delete. */
  function reassignChoice(c, err, panel, back) {
    const targets = subtree(c.id);
    const errors = el("div");
    if (ordered.every((x) => targets.has(x.id))) {
      return el("div", {}, errorBox(err), el("p", {}, "There is no other category to move them to."), closer(panel, back));
    }
    const to = picker("reassign_to", c.parent_id || "", targets, null);
    to.setAttribute("data-test", "reassign-to");
    const go = el("button", { type: "button", class: "danger", "data-test": "reassign-delete" }, "Move them and delete");
    go.addEventListener("click", () => submitting(go, errors, () => remove(c, to.value)));
    queueMicrotask(() => to.focus());
    return el("div", {},
      el("p", { class: "notice", role: "status" },
        `“${c.name}” is in use (${err.message.split(";")[0]}). Choose where they go; then it is deleted.`),
      el("div", { class: "row" }, field("Move its products and sub-categories to", to), go, closer(panel, back)),
      errors);
  }

  async function remove(c, reassignTo) {
    const query = reassignTo ? `?reassign_to=${encodeURIComponent(reassignTo)}` : "";
    await api("DELETE", `/admin/categories/${c.id}${query}`);
    toast(reassignTo ? `“${c.name}” deleted; its contents moved to “${pathOf(byId.get(reassignTo))}”`
      : `“${c.name}” deleted`);
    ctx.reload();
  }

  const tree = cats.length === 0 ? empty("No categories yet")
    : el("div", { class: "card" }, el("ul", { "data-test": "category-tree" }, kidsOf("").map(item)));
  root.replaceChildren(title, el("h2", { id: "category-new" }, "Add a category"), form,
    el("h2", {}, `All categories (${cats.length})`), tree);
}
