// Checks HTTP responses against an OpenAPI 3.1 document, independently of the gateway's
// code: the document is the only source of truth here. Used by validate-responses.mjs
// (the records the integration tests captured) and selftest.mjs (fixtures that must fail).
//
// Why these tools: the document itself is checked against the official OAS 3.1 JSON
// Schema, which @seriousme/openapi-schema-validator ships as published by the OpenAPI
// Initiative (and it also resolves every $ref). A 3.1 Schema Object *is* JSON Schema
// 2020-12, so responses are validated by ajv's 2020-12 validator directly, with no
// translation layer (the response-validation libraries on npm either stop at OAS 3.0 or
// let an undocumented path, method or status through; here each of those is a failure).
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { Validator } from "@seriousme/openapi-schema-validator";

const addFormats = addFormatsModule.default ?? addFormatsModule;

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const LISTENERS = ["merchant", "internal"];
const UNROUTED = "x-caisse-unrouted";
// The base the document is registered under in ajv; any absolute URI would do.
const DOC_URI = "https://caisse.invalid/openapi.json";

export function loadDocument(path) {
  return JSON.parse(readFileSync(path, "utf8"));
}

// RFC 6901 token, then URI-fragment safe ({id} has braces).
function pointerToken(token) {
  return encodeURIComponent(String(token).replace(/~/g, "~0").replace(/\//g, "~1"));
}

export function pointer(...tokens) {
  return "#/" + tokens.map(pointerToken).join("/");
}

function walkPointer(doc, ptr) {
  if (!ptr.startsWith("#/")) throw new Error(`only local references are used here: ${ptr}`);
  let node = doc;
  for (const raw of ptr.slice(2).split("/")) {
    const token = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    if (node === null || typeof node !== "object" || !(token in node)) return undefined;
    node = node[token];
  }
  return node;
}

function compilePathTemplate(template) {
  const names = [];
  const source = template
    .split(/(\{[^}/]+\})/)
    .map((part) => {
      const m = /^\{([^}/]+)\}$/.exec(part);
      if (m) {
        names.push(m[1]);
        return "([^/]+)";
      }
      return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("");
  return { regex: new RegExp(`^${source}$`), names };
}

function serverBase(url) {
  const path = new URL(url).pathname.replace(/\/+$/, "");
  return path;
}

function mediaTypeOf(contentType) {
  return contentType.split(";")[0].trim().toLowerCase();
}

function isJsonMediaType(mt) {
  return mt === "application/json" || /^[a-z]+\/[^;]*\+json$/.test(mt);
}

function describeAjvErrors(errors) {
  return (errors ?? [])
    .map((e) => `${e.instancePath || "(root)"} ${e.message}${e.params && Object.keys(e.params).length ? " " + JSON.stringify(e.params) : ""}`)
    .join("; ");
}

export class ResponseChecker {
  constructor(doc) {
    this.doc = doc;
    // strict: an unknown keyword or a malformed schema in the document is an error, not
    // something silently ignored. Union types ("type": ["string", "null"]) are plain 2020-12.
    this.ajv = new Ajv2020({ strict: true, strictTypes: false, allowUnionTypes: true, allErrors: true });
    addFormats(this.ajv);
    // The OAS 3.1 dialect's own keywords are annotations for this purpose.
    this.ajv.addVocabulary(["discriminator", "xml", "externalDocs", "example"]);
    // The document is registered whole so that each schema is compiled where it stands and
    // its "#/components/..." references resolve as written. Its top-level fields (openapi,
    // paths, components, ...) are not JSON Schema keywords: declared as annotations, they
    // are neither rejected by strict mode nor taken for subschemas. The schemas inside are
    // compiled, strictly, when a response or the document check points at them.
    for (const key of Object.keys(doc)) if (!this.ajv.getKeyword(key)) this.ajv.addKeyword(key);
    this.ajv.addSchema(doc, DOC_URI);
    this.validators = new Map();
    this.routes = this.#buildRoutes();
  }

  // Every path of the document as the listeners serve it: one entry per path template and
  // server base ("" or "/v1") of each listener.
  #buildRoutes() {
    const routes = [];
    for (const [template, rawItem] of Object.entries(this.doc.paths ?? {})) {
      const item = this.resolve(rawItem, pointer("paths", template)).node;
      const servers = item.servers ?? this.doc.servers ?? [];
      const { regex, names } = compilePathTemplate(template);
      for (const server of servers) {
        routes.push({
          template,
          item,
          listener: server["x-caisse-listener"],
          base: serverBase(server.url),
          regex,
          params: names.length,
        });
      }
    }
    // A literal path wins over a templated one (OAS 3.1, "Path Templating Matching").
    routes.sort((a, b) => a.params - b.params);
    return routes;
  }

  // Follows Reference Objects; returns the node and the JSON pointer where it lives, so
  // that schemas inside it can be compiled in place (their own $refs stay valid).
  resolve(node, ptr) {
    const seen = new Set();
    while (node && typeof node === "object" && typeof node.$ref === "string") {
      if (seen.has(node.$ref)) throw new Error(`reference cycle at ${node.$ref}`);
      seen.add(node.$ref);
      ptr = node.$ref;
      node = walkPointer(this.doc, ptr);
      if (node === undefined) throw new Error(`unresolvable reference ${ptr}`);
    }
    return { node, ptr };
  }

  validatorAt(ptr) {
    let v = this.validators.get(ptr);
    if (!v) {
      v = this.ajv.compile({ $ref: DOC_URI + ptr });
      this.validators.set(ptr, v);
    }
    return v;
  }

  // The path item a request path reaches on a listener, or null.
  route(listener, requestPath) {
    const path = requestPath.split("?")[0];
    for (const r of this.routes) {
      if (r.listener !== listener) continue;
      if (r.base !== "" && path !== r.base && !path.startsWith(r.base + "/")) continue;
      if (r.regex.test(path.slice(r.base.length))) return r;
    }
    return null;
  }

  // Every operation of the document, as "METHOD template" keys with their operationId.
  operations() {
    const ops = [];
    for (const [template, rawItem] of Object.entries(this.doc.paths ?? {})) {
      const item = this.resolve(rawItem, pointer("paths", template)).node;
      for (const m of METHODS) if (item[m]) ops.push({ key: `${m.toUpperCase()} ${template}`, operationId: item[m].operationId });
    }
    return ops;
  }

  // Checks one captured response. Returns { key, errors }: key names what was checked
  // (an operation, or the unrouted answers), errors is empty when it conforms.
  check(record) {
    const errors = [];
    const method = String(record.method ?? "").toLowerCase();
    const status = String(record.status);
    const headers = record.headers ?? {};
    if (!LISTENERS.includes(record.listener)) return { key: "?", errors: [`unknown listener ${record.listener}`] };
    if (typeof record.path !== "string" || !record.path.startsWith("/")) return { key: "?", errors: [`bad path ${record.path}`] };

    const route = this.route(record.listener, record.path);
    let key, response, responsePtr;
    if (route && route.item[method]) {
      const opPtr = pointer("paths", route.template, method);
      key = `${method.toUpperCase()} ${route.template}`;
      const responses = route.item[method].responses ?? {};
      const code = [status, `${status[0]}XX`, "default"].find((c) => c in responses);
      if (code === undefined) {
        errors.push(`status ${status} is not documented for ${key} (documented: ${Object.keys(responses).join(", ")})`);
        return { key, errors };
      }
      ({ node: response, ptr: responsePtr } = this.resolve(responses[code], `${opPtr}/responses/${pointerToken(code)}`));
    } else {
      // Not an operation of the document: only the documented unrouted answers may come.
      const unrouted = this.doc[UNROUTED]?.responses ?? {};
      key = route ? `unrouted method (${status})` : `unrouted path (${status})`;
      const what = route
        ? `${record.method} is not an operation of ${route.template} on the ${record.listener} listener`
        : `no path of the ${record.listener} listener matches ${record.path}`;
      if (!(status in unrouted) || (route && status === "404") || (!route && status === "405")) {
        errors.push(`${what}, and ${status} is not a documented answer to that`);
        return { key, errors };
      }
      ({ node: response, ptr: responsePtr } = this.resolve(unrouted[status], `#/${UNROUTED}/responses/${status}`));
      if (status === "405" && route) {
        const documented = METHODS.filter((m) => route.item[m]).map((m) => m.toUpperCase()).sort();
        const allowed = String(headers.allow ?? "").split(",").map((s) => s.trim()).filter(Boolean).sort();
        if (documented.join(",") !== allowed.join(",")) {
          errors.push(`Allow is "${headers.allow ?? ""}" but the document gives ${route.template} the methods ${documented.join(", ")}`);
        }
      }
    }

    this.#checkHeaders(response, responsePtr, headers, errors);
    this.#checkBody(method, response, responsePtr, record, errors);
    return { key, errors };
  }

  #checkHeaders(response, responsePtr, headers, errors) {
    for (const [name, raw] of Object.entries(response.headers ?? {})) {
      if (name.toLowerCase() === "content-type") continue; // OAS: described by content instead
      const { node: header, ptr } = this.resolve(raw, `${responsePtr}/headers/${pointerToken(name)}`);
      const value = headers[name.toLowerCase()];
      if (value === undefined) {
        if (header.required) errors.push(`required header ${name} is missing`);
        continue;
      }
      if (header.schema) {
        const v = this.validatorAt(`${ptr}/schema`);
        if (!v(value)) errors.push(`header ${name}: "${value}" ${describeAjvErrors(v.errors)}`);
      }
    }
  }

  #checkBody(method, response, responsePtr, record, errors) {
    const body = record.body;
    if (body === null || body === undefined) {
      errors.push("the body is not UTF-8 text");
      return;
    }
    const content = response.content;
    if (!content || method === "head") {
      if (body !== "") errors.push(`no body is documented, got ${body.length} bytes`);
      return;
    }
    const contentType = record.headers?.["content-type"];
    if (!contentType) {
      errors.push("Content-Type is missing");
      return;
    }
    const mt = mediaTypeOf(contentType);
    const [type] = mt.split("/");
    const key = [mt, `${type}/*`, "*/*"].find((k) => k in content);
    if (key === undefined) {
      errors.push(`Content-Type ${contentType} is not documented (documented: ${Object.keys(content).join(", ")})`);
      return;
    }
    if (!content[key].schema) return;
    let instance = body;
    if (isJsonMediaType(mt)) {
      try {
        instance = JSON.parse(body);
      } catch (e) {
        errors.push(`the body is not JSON (${e.message}): ${body.slice(0, 200)}`);
        return;
      }
    }
    const v = this.validatorAt(`${responsePtr}/content/${pointerToken(key)}/schema`);
    if (!v(instance)) errors.push(`body: ${describeAjvErrors(v.errors)}`);
  }
}

// Every place of the document that holds a Schema Object, as JSON pointers (Reference
// Objects are followed where they are defined, in components, not where they are used).
function schemaPointers(doc) {
  const out = [];
  const seen = new Set();
  const add = (p) => {
    if (!seen.has(p)) {
      seen.add(p);
      out.push(p);
    }
  };
  const params = (list, base) =>
    (list ?? []).forEach((p, i) => {
      if (!p.$ref && p.schema) add(`${base}/${i}/schema`);
    });
  const content = (c, base) =>
    Object.entries(c ?? {}).forEach(([mt, m]) => {
      if (m.schema) add(`${base}/${pointerToken(mt)}/schema`);
    });
  const headers = (h, base) =>
    Object.entries(h ?? {}).forEach(([n, x]) => {
      if (!x.$ref && x.schema) add(`${base}/${pointerToken(n)}/schema`);
    });
  const responses = (r, base) =>
    Object.entries(r ?? {}).forEach(([code, x]) => {
      if (x.$ref) return;
      const b = `${base}/${pointerToken(code)}`;
      headers(x.headers, `${b}/headers`);
      content(x.content, `${b}/content`);
    });
  const c = doc.components ?? {};
  for (const name of Object.keys(c.schemas ?? {})) add(pointer("components", "schemas", name));
  for (const [name, x] of Object.entries(c.parameters ?? {})) if (x.schema) add(pointer("components", "parameters", name, "schema"));
  for (const [name, x] of Object.entries(c.headers ?? {})) if (x.schema) add(pointer("components", "headers", name, "schema"));
  responses(c.responses, pointer("components", "responses"));
  for (const [name, x] of Object.entries(c.requestBodies ?? {})) content(x.content, pointer("components", "requestBodies", name, "content"));
  for (const [template, item] of Object.entries(doc.paths ?? {})) {
    const base = pointer("paths", template);
    params(item.parameters, `${base}/parameters`);
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      params(op.parameters, `${base}/${m}/parameters`);
      if (op.requestBody && !op.requestBody.$ref) content(op.requestBody.content, `${base}/${m}/requestBody/content`);
      responses(op.responses, `${base}/${m}/responses`);
    }
  }
  responses(doc[UNROUTED]?.responses, `#/${UNROUTED}/responses`);
  return out;
}

// The document's own checks. Returns a list of problems, empty when it is sound.
export async function checkDocument(doc) {
  const problems = [];
  if (doc.openapi !== "3.1.0") problems.push(`openapi must be "3.1.0", is ${JSON.stringify(doc.openapi)}`);
  // 1. The official OAS 3.1 schema (and every $ref resolvable).
  const official = await new Validator().validate(structuredClone(doc));
  if (!official.valid) {
    const errs = Array.isArray(official.errors) ? official.errors : [official.errors];
    for (const e of errs.slice(0, 20)) problems.push(`OAS 3.1 schema: ${typeof e === "string" ? e : `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`}`);
    return problems; // the rest assumes a well-formed document
  }
  // 2. Every Schema Object is valid JSON Schema 2020-12, with no unknown keyword.
  let checker;
  try {
    checker = new ResponseChecker(doc);
  } catch (e) {
    problems.push(`the document cannot be loaded as JSON Schema: ${e.message}`);
    return problems;
  }
  for (const ptr of schemaPointers(doc)) {
    let validate;
    try {
      validate = checker.validatorAt(ptr);
    } catch (e) {
      problems.push(`schema at ${decodeURIComponent(ptr)}: ${e.message}`);
      continue;
    }
    // An example that its own schema refuses would teach clients the wrong thing.
    const examples = walkPointer(doc, ptr)?.examples;
    (Array.isArray(examples) ? examples : []).forEach((example, i) => {
      if (!validate(example)) problems.push(`example ${i} of ${decodeURIComponent(ptr)}: ${describeAjvErrors(validate.errors)}`);
    });
  }
  // 3. What the response check relies on: each server names its listener, every
  //    operation has an id, and the unrouted answers are documented.
  for (const [where, servers] of [["servers", doc.servers], ...Object.entries(doc.paths ?? {}).map(([t, i]) => [`paths ${t} servers`, i.servers])]) {
    for (const s of servers ?? []) {
      if (!LISTENERS.includes(s["x-caisse-listener"])) problems.push(`${where}: ${s.url} has no x-caisse-listener (${LISTENERS.join(" or ")})`);
    }
  }
  for (const op of checker.operations()) if (!op.operationId) problems.push(`${op.key} has no operationId`);
  for (const code of ["404", "405"]) {
    if (!doc[UNROUTED]?.responses?.[code]) problems.push(`${UNROUTED}.responses has no ${code}`);
  }
  return problems;
}
