// Shared pieces of the console: the session (tokens in sessionStorage, refreshed on expiry),
// the API client that turns the error envelope into readable errors, and small DOM helpers
// (elements, tables, forms, pagers, loading/empty/error states, money and dates).

const KEY = "markethub.session";

export const session = {
  load() {
    try {
      return JSON.parse(sessionStorage.getItem(KEY) || "null");
    } catch {
      return null;
    }
  },
  save(s) {
    sessionStorage.setItem(KEY, JSON.stringify(s));
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

/** An error answered by the API: `status`, `code`, `message`, `fields`. */
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `the server answered ${status}`);
    this.status = status;
    this.code = e.code || "http_" + status;
    this.fields = e.fields || {};
    this.details = e.details;
  }
}

/** How long a request may take before the console gives up on it and says so. */
const TIMEOUT_MS = 30_000;

const NETWORK = { error: { code: "network", message: "cannot reach the server; check the connection and retry" } };
const TIMED_OUT = { error: { code: "timeout", message: "the server took too long to answer; retry" } };

async function send(url, init) {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (e) {
    throw new ApiError(0, e && e.name === "TimeoutError" ? TIMED_OUT : NETWORK);
  }
}

async function readJson(resp) {
  const text = await resp.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

let refreshing = null;

/**
 * Trades the refresh token for a new pair. True when it worked; false when the server refused
 * it (the session is over). Other failures (network, 429, 503) throw without ending the session.
 */
async function refreshTokens() {
  const s = session.load();
  if (!s || !s.refresh_token) return false;
  const resp = await send("/api/v1/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: s.refresh_token }),
  });
  if (resp.status === 400 || resp.status === 401 || resp.status === 403) return false;
  const body = await readJson(resp);
  if (!resp.ok) throw new ApiError(resp.status, body);
  // Signed out meanwhile (another tab, the sign-out button): do not bring the session back.
  if (!session.load()) return false;
  session.save({ ...s, access_token: body.access_token, refresh_token: body.refresh_token, user: body.user });
  return true;
}

/** Called when the session cannot be used any more (set by app.js). */
export const hooks = { signedOut: () => {} };

/**
 * Sends an authenticated request; an access token that no longer works is refreshed once
 * (parallel requests share that refresh) and the request repeated. Answers the Response when
 * it is OK; throws ApiError otherwise.
 */
async function authed(path, init = {}, retried = false) {
  const s = session.load();
  const headers = { ...(init.headers || {}) };
  if (s && s.access_token) headers.Authorization = `Bearer ${s.access_token}`;
  const resp = await send("/api/v1" + path, { ...init, headers });
  if (resp.ok) return resp;
  const err = new ApiError(resp.status, await readJson(resp));
  if (resp.status === 401 && s && s.refresh_token) {
    if (!retried) {
      refreshing = refreshing || refreshTokens().finally(() => (refreshing = null));
      if (await refreshing) return authed(path, init, true);
    }
    session.clear();
    hooks.signedOut(err);
  }
  throw err;
}

/**
 * Calls `/api/v1` + `path`. `body` is sent as JSON (or as is when it is FormData). Answers the
 * parsed JSON (null for 204); throws ApiError otherwise.
 */
export async function api(method, path, body) {
  const headers = {};
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const resp = await authed(path, { method, headers, body: payload });
  if (resp.status === 204) return null;
  return readJson(resp);
}

/** Downloads a protected file (a backup, a CSV export) with the bearer token. */
export async function download(path, filename) {
  const resp = await authed(path, { method: "GET" });
  const url = URL.createObjectURL(await resp.blob());
  const a = el("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * A private file (refund evidence) fetched with the bearer token, as an object URL for an
 * `<img>` or a link. `url` is the API's absolute path (`/api/v1/…`).
 */
export async function blobUrl(url) {
  const resp = await authed(String(url).replace(/^\/api\/v1/, ""), { method: "GET" });
  return URL.createObjectURL(await resp.blob());
}

/** `el("button", {class: "x", onclick: f}, "text", child…)`. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "value") node.value = v;
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

export function money(cents, currency = "KES") {
  const n = Number(cents || 0) / 100;
  return `${currency} ${n.toLocaleString("en-KE", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

export function date(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

export function day(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleDateString("en-GB", { dateStyle: "medium" });
}

/** Human words for snake_case states: `out_for_delivery` → `out for delivery`. */
export function words(s) {
  return String(s ?? "").replaceAll("_", " ");
}

export function badge(state) {
  return el("span", { class: `badge b-${state}` }, words(state));
}

export function loading(text = "Loading…") {
  return el("p", { class: "loading", role: "status" }, text);
}

export function empty(text) {
  return el("p", { class: "empty" }, text);
}

/** An error box naming the problem and each failing field. */
export function errorBox(err) {
  const fields = Object.entries(err.fields || {});
  return el("div", { class: "error", role: "alert" },
    el("strong", {}, err.message || String(err)),
    fields.length ? el("ul", {}, fields.map(([f, p]) => el("li", {}, `${words(f)}: ${p}`))) : null);
}

export function toast(text) {
  const t = document.getElementById("toast");
  if (!t) return;
  t.textContent = text;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 4000);
}

/** A labelled input: `field("Email", el("input", {name: "email"}))`. */
let fieldCounter = 0;
export function field(label, input, hint) {
  fieldCounter += 1;
  const id = input.id || `f${fieldCounter}`;
  input.id = id;
  let note = null;
  if (hint) {
    note = el("small", { id: `${id}-hint` }, hint);
    input.setAttribute("aria-describedby", note.id);
  }
  return el("div", { class: "field" }, el("label", { for: id }, label), input, note);
}

/**
 * A table: `columns` = [{label, cell: row => node|string}]; rows; `caption` for screen readers.
 */
export function table(columns, rows, caption) {
  return el("div", { class: "table-wrap" },
    el("table", {},
      caption ? el("caption", { class: "sr-only" }, caption) : null,
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col" }, c.label)))),
      el("tbody", {}, rows.map((r) => el("tr", {}, columns.map((c) => el("td", { "data-label": c.label }, c.cell(r))))))));
}

/** Previous/next for a `{page, per_page, total}` envelope; `go(page)` loads another page. */
export function pager(envelope, go) {
  const { page, per_page: perPage, total } = envelope;
  const pages = total === undefined ? null : Math.max(1, Math.ceil(total / perPage));
  const hasNext = pages === null ? envelope.items.length === perPage : page < pages;
  return el("nav", { class: "pager", "aria-label": "Pages" },
    el("button", { type: "button", disabled: page <= 1, onclick: () => go(page - 1) }, "← Previous"),
    el("span", {}, pages === null ? `Page ${page}` : `Page ${page} of ${pages} · ${total} in all`),
    el("button", { type: "button", disabled: !hasNext, onclick: () => go(page + 1) }, "Next →"));
}

/**
 * Runs `action` for a form or button, showing progress and the API's error next to it.
 * `others` are buttons that must not be pressed meanwhile (approve while deny runs).
 */
export async function submitting(button, errorSlot, action, others = []) {
  const label = button.textContent;
  const all = [button, ...others];
  const was = all.map((b) => b.disabled);
  all.forEach((b) => (b.disabled = true));
  button.setAttribute("aria-busy", "true");
  errorSlot.replaceChildren();
  try {
    return await action();
  } catch (e) {
    errorSlot.replaceChildren(errorBox(e));
    return undefined;
  } finally {
    all.forEach((b, i) => (b.disabled = was[i]));
    button.removeAttribute("aria-busy");
    button.textContent = label;
  }
}

/** `#/orders?status=pending` → {status: "pending"} */
export function queryOf(hash) {
  const i = hash.indexOf("?");
  return Object.fromEntries(new URLSearchParams(i < 0 ? "" : hash.slice(i + 1)));
}

/** Builds `?a=1&b=2` from an object, leaving out empty values. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? "?" + s : "";
}
