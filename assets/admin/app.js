// The console's shell: sign-in, the role's navigation, and a hash router that loads one page
// module per section (pages/*.js). Admins get the back office; hub staff get the hub console.

import { api, el, errorBox, field, hooks, loading, session, submitting, toast } from "./lib.js";

const ADMIN_SECTIONS = [
  ["dashboard", "Dashboard"],
  ["users", "Users"],
  ["applications", "Merchant applications"],
  ["orders", "Orders"],
  ["refunds", "Refunds"],
  ["categories", "Categories"],
  ["hubs", "Hubs"],
  ["backups", "Backups"],
];
const HUB_SECTIONS = [["hub", "Parcels"], ["riders", "Riders"]];

// Page modules by section; `orders/ID` and `refunds/ID` go to the same module with an id.
const PAGES = {
  dashboard: "./pages/dashboard.js",
  users: "./pages/users.js",
  applications: "./pages/applications.js",
  orders: "./pages/orders.js",
  refunds: "./pages/refunds.js",
  categories: "./pages/categories.js",
  hubs: "./pages/hubs.js",
  backups: "./pages/backups.js",
  hub: "./pages/hub.js",
  riders: "./pages/riders.js",
};

const main = () => document.getElementById("main");

function sectionsFor(user) {
  if (!user) return [];
  if (user.role === "admin") return ADMIN_SECTIONS;
  if (user.role === "hub_staff") return HUB_SECTIONS;
  return [];
}

function renderChrome(user, current) {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  nav.replaceChildren(...sectionsFor(user).map(([key, label]) =>
    el("a", { href: `#/${key}`, "aria-current": key === current ? "page" : null }, label)));
  who.replaceChildren();
  if (user) {
    who.append(
      el("span", { class: "who-name" }, `${user.full_name} (${user.role.replace("_", " ")})`),
      el("button", { type: "button", class: "link", onclick: signOut }, "Sign out"));
  }
}

async function signOut() {
  try {
    await api("POST", "/auth/logout");
  } catch {
    // Signing out locally is what matters; the server session expires anyway.
  }
  session.clear();
  generation += 1;
  // Back to the start without a hashchange (which would draw the form again, notice lost).
  history.replaceState(null, "", "#/");
  renderLogin("You are signed out.");
}

function renderLogin(notice) {
  renderChrome(null);
  const email = el("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = el("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const errors = el("div");
  const button = el("button", { type: "submit", class: "primary" }, "Sign in");
  const form = el("form", { class: "card login", "aria-labelledby": "login-title" },
    el("h1", { id: "login-title" }, "Sign in to the console"),
    el("p", {}, "For MarketHub admins and hub staff."),
    notice ? el("p", { class: "notice", role: "status" }, notice) : null,
    field("Email", email),
    field("Password", password),
    errors,
    button);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(button, errors, async () => {
      const out = await api("POST", "/auth/login", { email: email.value.trim(), password: password.value });
      if (!["admin", "hub_staff"].includes(out.user.role)) {
        // Do not leave the session just opened alive on the server.
        await fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${out.access_token}` } })
          .catch(() => {});
        throw new Error("This console is for admins and hub staff; your account is a " + out.user.role + ".");
      }
      session.save({ access_token: out.access_token, refresh_token: out.refresh_token, user: out.user });
      toast(`Signed in as ${out.user.full_name}`);
      // Changing the hash routes by itself; when it is already "#/" nothing fires.
      if (location.hash === "#/") route();
      else location.hash = "#/";
    });
  });
  main().replaceChildren(form);
  email.focus();
}

// Each navigation gets a number; a page that finishes loading after the user has moved on
// (or signed out) renders into a container that is no longer on screen.
let generation = 0;

async function route() {
  const mine = ++generation;
  const s = session.load();
  if (!s || !s.user) return renderLogin();
  const user = s.user;
  const sections = sectionsFor(user);
  if (sections.length === 0) {
    session.clear();
    return renderLogin("This console is for admins and hub staff.");
  }
  const hash = location.hash.replace(/^#\/?/, "");
  const [pathPart] = hash.split("?");
  const [section, ...rest] = pathPart.split("/").filter(Boolean);
  const current = sections.some(([k]) => k === section) ? section : sections[0][0];
  renderChrome(user, current);
  const root = el("div", { class: "page" }, loading());
  main().replaceChildren(root);
  const isCurrent = () => mine === generation && session.load() !== null;
  try {
    const mod = await import(PAGES[current]);
    const query = Object.fromEntries(new URLSearchParams(hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : ""));
    await mod.default(root, { id: rest[0], query, user, isCurrent, go: (h) => (location.hash = h), reload: route });
  } catch (e) {
    if (isCurrent()) root.replaceChildren(el("h1", {}, "Something went wrong"), errorBox(e));
  }
  if (isCurrent()) main().focus({ preventScroll: true });
}

hooks.signedOut = () => {
  generation += 1;
  renderLogin("Your session has ended; sign in again.");
};
window.addEventListener("hashchange", route);
// The skip link moves focus to the content; it must not go through the hash router.
document.querySelector("a.skip")?.addEventListener("click", (ev) => {
  ev.preventDefault();
  main().focus();
});
route();
