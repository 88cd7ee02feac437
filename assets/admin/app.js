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
  location.hash = "#/";
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
        throw new Error("This console is for admins and hub staff; your account is a " + out.user.role + ".");
      }
      session.save({ access_token: out.access_token, refresh_token: out.refresh_token, user: out.user });
      toast(`Signed in as ${out.user.full_name}`);
      location.hash = "#/";
      route();
    });
  });
  main().replaceChildren(form);
  email.focus();
}

async function route() {
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
  const root = main();
  root.replaceChildren(loading());
  try {
    const mod = await import(PAGES[current]);
    const query = Object.fromEntries(new URLSearchParams(hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : ""));
    await mod.default(root, { id: rest[0], query, user, go: (h) => (location.hash = h), reload: route });
  } catch (e) {
    root.replaceChildren(el("h1", {}, "Something went wrong"), errorBox(e));
  }
  root.focus({ preventScroll: true });
}

hooks.signedOut = () => renderLogin("Your session has ended; sign in again.");
window.addEventListener("hashchange", route);
route();
