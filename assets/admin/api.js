// Renders the server's OpenAPI document (/api/v1/openapi.json) as a readable reference:
// operations grouped by tag, with parameters, request bodies and responses, and the
// schemas written out as compact JSON-like shapes. No external libraries.

const METHODS = ["get", "post", "put", "delete", "patch"];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

// Text with `code` spans (the document's descriptions use Markdown backticks).
function prose(tag, text, attrs = {}) {
  const parts = String(text).split("`");
  return el(tag, attrs, parts.map((part, i) => (i % 2 === 1 ? el("code", {}, part) : part)));
}

function refName(ref) {
  return ref.split("/").pop();
}

// A schema as a short, readable shape; component references are expanded once per line of
// descent so recursive or shared types stay readable.
function shape(schema, doc, indent = "", seen = new Set()) {
  if (!schema) return "any";
  if (schema.$ref) {
    const name = refName(schema.$ref);
    if (seen.has(name)) return name;
    const target = doc.components?.schemas?.[name];
    return shape(target, doc, indent, new Set([...seen, name]));
  }
  for (const key of ["oneOf", "anyOf", "allOf"]) {
    if (schema[key]) {
      const parts = schema[key].map((s) => shape(s, doc, indent, seen));
      return parts.join(key === "allOf" ? " & " : " | ");
    }
  }
  let types = Array.isArray(schema.type) ? schema.type : [schema.type];
  const nullable = types.includes("null");
  types = types.filter((t) => t && t !== "null");
  const suffix = nullable ? " | null" : "";
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ") + suffix;
  if (types.includes("object") || schema.properties) {
    const props = schema.properties || {};
    const required = new Set(schema.required || []);
    const inner = indent + "  ";
    const lines = Object.entries(props).map(([name, s]) => {
      const opt = required.has(name) ? "" : "?";
      return [`${inner}${name}${opt}: ${shape(s, doc, inner, seen)}`, s.description];
    });
    if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
      lines.push([`${inner}[key: string]: ${shape(schema.additionalProperties, doc, inner, seen)}`, null]);
    }
    if (lines.length === 0) return "object" + suffix;
    const body = lines.map(([line, note], i) => {
      const comma = i < lines.length - 1 ? "," : "";
      return line + comma + (note ? `  // ${note.split("\n")[0]}` : "");
    });
    return `{\n${body.join("\n")}\n${indent}}${suffix}`;
  }
  if (types.includes("array")) return `${shape(schema.items, doc, indent, seen)}[]${suffix}`;
  if (types.length === 0 && nullable) return "null";
  const base = types.join(" | ") || "any";
  const fmt = schema.format ? ` (${schema.format})` : "";
  const range = [];
  if (schema.minimum !== undefined) range.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) range.push(`≤ ${schema.maximum}`);
  if (schema.maxLength !== undefined) range.push(`max ${schema.maxLength} chars`);
  return base + fmt + (range.length ? ` [${range.join(", ")}]` : "") + suffix;
}

function contentBlock(content, doc) {
  if (!content) return null;
  return Object.entries(content).map(([type, media]) =>
    el("div", {},
      el("p", {}, el("code", {}, type)),
      media.schema?.$ref === "#/components/schemas/Error"
        ? el("p", {}, "the ", el("a", { href: "#error-envelope" }, "error envelope"))
        : media.schema ? el("pre", { class: "schema" }, shape(media.schema, doc)) : null,
      media.example !== undefined
        ? el("pre", { class: "schema" }, "example: " + JSON.stringify(media.example, null, 2))
        : null));
}

function paramsTable(params, doc) {
  if (!params || params.length === 0) return null;
  return el("table", {},
    el("thead", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "description"))),
    el("tbody", {}, params.map((p) => {
      const param = p.$ref ? doc.components?.parameters?.[refName(p.$ref)] || {} : p;
      return el("tr", {},
        el("td", {}, el("code", {}, param.name), param.required ? " (required)" : ""),
        el("td", {}, param.in),
        el("td", {}, el("code", {}, shape(param.schema, doc))),
        prose("td", param.description || ""));
    })));
}

function operation(path, method, op, doc) {
  const secured = Array.isArray(op.security) && op.security.some((s) => Object.keys(s).length > 0);
  const anonymousToo = Array.isArray(op.security) && op.security.some((s) => Object.keys(s).length === 0);
  const id = `${method}-${path}`.replace(/[^a-zA-Z0-9]+/g, "-");
  const body = op.requestBody;
  const responses = Object.entries(op.responses || {}).map(([status, r]) => {
    const resp = r.$ref ? doc.components?.responses?.[refName(r.$ref)] || {} : r;
    return el("div", {},
      el("p", {}, el("span", { class: "status" }, status), prose("span", ` ${resp.description || ""}`)),
      contentBlock(resp.content, doc));
  });
  return el("details", { class: "op", id, "data-search": `${method} ${path} ${op.summary || ""} ${(op.tags || []).join(" ")}`.toLowerCase() },
    el("summary", {},
      el("span", { class: `method m-${method}` }, method),
      el("span", { class: "path" }, path),
      prose("span", op.summary || ""),
      secured ? el("span", { class: "lock" }, anonymousToo ? "token optional" : "needs a bearer token") : null),
    el("div", {},
      op.description ? prose("p", op.description) : null,
      op.parameters ? el("h4", {}, "Parameters") : null,
      paramsTable(op.parameters, doc),
      body ? el("h4", {}, "Request body" + (body.required ? "" : " (optional)")) : null,
      body ? contentBlock(body.content, doc) : null,
      el("h4", {}, "Responses"),
      responses));
}

function render(doc) {
  const groups = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || "other";
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push(operation(path, method, op, doc));
    }
  }
  const order = (doc.tags || []).map((t) => t.name);
  const tags = [...groups.keys()].sort((a, b) => {
    const ia = order.indexOf(a), ib = order.indexOf(b);
    return (ia < 0 ? 999 : ia) - (ib < 0 ? 999 : ib);
  });
  const content = document.getElementById("content");
  const toc = document.getElementById("toc");
  const intro = el("section", {},
    el("h2", {}, `${doc.info?.title || "API"} ${doc.info?.version || ""}`),
    ...(doc.info?.description || "").split("\n\n").map((p) => prose("p", p)),
    el("h3", { id: "error-envelope" }, "The error envelope"),
    prose("p", "Every error (4xx, 5xx) answers with this body:"),
    el("pre", { class: "schema" }, shape({ $ref: "#/components/schemas/Error" }, doc)));
  content.replaceChildren(intro, ...tags.map((tag) => {
    const info = (doc.tags || []).find((t) => t.name === tag);
    return el("section", { class: "tag", id: `tag-${tag.replace(/\W+/g, "-")}` },
      el("h2", {}, tag),
      info?.description ? prose("p", info.description) : null,
      groups.get(tag));
  }));
  toc.replaceChildren(el("ul", {}, tags.map((tag) =>
    el("li", {}, el("a", { href: `#tag-${tag.replace(/\W+/g, "-")}` }, `${tag} (${groups.get(tag).length})`)))));
}

function applyFilter(text) {
  const q = text.trim().toLowerCase();
  for (const op of document.querySelectorAll("details.op")) {
    op.hidden = q !== "" && !op.dataset.search.includes(q);
  }
  for (const section of document.querySelectorAll("section.tag")) {
    section.hidden = [...section.querySelectorAll("details.op")].every((op) => op.hidden);
  }
}

async function main() {
  const content = document.getElementById("content");
  try {
    const resp = await fetch("/api/v1/openapi.json");
    if (!resp.ok) throw new Error(`the server answered ${resp.status}`);
    render(await resp.json());
  } catch (e) {
    content.replaceChildren(el("p", { class: "error", role: "alert" }, `Could not load the API document: ${e.message}`));
    return;
  }
  const filter = document.getElementById("filter");
  filter.addEventListener("input", () => applyFilter(filter.value));
  // Operations are drawn after load, so the browser cannot jump to a #fragment by itself.
  const target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
  if (target) {
    if (target.tagName === "DETAILS") target.open = true;
    target.scrollIntoView();
  }
}

main();
