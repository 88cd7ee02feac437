// Backups: the gzip-compressed database snapshots on the server, newest first, with their
// sizes and the age of the newest; take one now, or download one (with the bearer token).

import { api, date, download, el, empty, errorBox, loading, submitting, table, toast } from "../lib.js";

function size(bytes) {
  const units = ["bytes", "KB", "MB", "GB"];
  let n = Number(bytes) || 0;
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u += 1;
  }
  return u === 0 ? `${n} bytes` : `${n.toFixed(n < 10 ? 1 : 0)} ${units[u]}`;
}

function age(secs) {
  const s = Math.max(0, Number(secs) || 0);
  const plural = (n, w) => `${n} ${w}${n === 1 ? "" : "s"} ago`;
  if (s < 60) return "less than a minute ago";
  if (s < 3600) return plural(Math.floor(s / 60), "minute");
  if (s < 86400) return plural(Math.floor(s / 3600), "hour");
  return plural(Math.floor(s / 86400), "day");
}

export default async function render(root, ctx) {
  const title = el("h1", {}, "Backups");
  const errors = el("div");
  const create = el("button", { type: "button", class: "primary", "data-test": "create-backup" }, "Take a backup now");
  create.addEventListener("click", () => submitting(create, errors, async () => {
    const made = await api("POST", "/admin/backups");
    toast(`Backup ${made.name} taken (${size(made.size_bytes)})`);
    await load();
  }));
  const body = el("div", {}, loading("Loading backups…"));
  root.replaceChildren(title, el("div", { class: "row filters" }, create), errors, body);

  async function load() {
    body.replaceChildren(loading("Loading backups…"));
    let list;
    try {
      list = await api("GET", "/admin/backups");
    } catch (e) {
      body.replaceChildren(errorBox(e));
      return;
    }
    const total = list.items.reduce((sum, b) => sum + Number(b.size_bytes || 0), 0);
    const kpis = el("div", { class: "kpis" },
      el("div", { class: "kpi", "data-test": "last-backup" }, el("div", { class: "v" },
        list.last_backup_age_secs === null || list.last_backup_age_secs === undefined ? "never"
          : age(list.last_backup_age_secs)), el("div", { class: "l" }, "Last backup")),
      el("div", { class: "kpi" }, el("div", { class: "v" }, String(list.items.length)), el("div", { class: "l" }, "Backups kept")),
      el("div", { class: "kpi" }, el("div", { class: "v" }, size(total)), el("div", { class: "l" }, "Space used")));
    const stale = list.last_backup_age_secs > 86400
      ? el("p", { class: "notice", role: "status" }, "The newest backup is more than a day old: take one now.") : "";
    if (list.items.length === 0) {
      body.replaceChildren(kpis, empty("No backups yet"));
      return;
    }
    const t = table([
      { label: "File", cell: (b) => el("code", {}, b.name) },
      { label: "Taken", cell: (b) => date(b.created_at) },
      { label: "Size", cell: (b) => size(b.size_bytes) },
      { label: "Download", cell: downloadCell },
    ], list.items, "Backups, newest first");
    t.querySelectorAll("tbody tr").forEach((tr, i) => {
      tr.setAttribute("data-test", "backup-row");
      tr.setAttribute("data-name", list.items[i].name);
    });
    body.replaceChildren(kpis, stale, t);
  }

  function downloadCell(b) {
    const slot = el("div");
    const button = el("button", { type: "button", "aria-label": `Download ${b.name}`, "data-test": "download-backup" }, "Download");
    button.addEventListener("click", () => submitting(button, slot, async () => {
      await download(`/admin/backups/${encodeURIComponent(b.name)}`, b.name);
      toast(`${b.name} downloaded`);
    }));
    return el("div", {}, button, slot);
  }

  await load();
}
