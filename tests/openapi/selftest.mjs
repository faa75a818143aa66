// The checker must reject what it should before its verdict on the real responses means
// anything. fixtures/responses.jsonl holds hand-made responses, each marked "pass" or
// "fail:<words of the expected reason>", checked against the real document; and broken
// copies of the document must be refused by the document check.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { checkDocument, loadDocument, ResponseChecker } from "./openapi-check.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const doc = loadDocument(path.join(here, "../../common/contracts/openapi.json"));
let passed = 0;
const failed = [];

const checker = new ResponseChecker(doc);
const fixtures = readFileSync(path.join(here, "fixtures/responses.jsonl"), "utf8")
  .split("\n")
  .filter((l) => l.trim() !== "")
  .map((l) => JSON.parse(l));
for (const f of fixtures) {
  const { errors } = checker.check(f.record);
  const text = errors.join(" | ");
  if (f.expect === "pass") {
    if (errors.length === 0) passed++;
    else failed.push(`${f.why}: should conform, got: ${text}`);
  } else {
    const reason = f.expect.slice("fail:".length);
    if (errors.length > 0 && text.includes(reason)) passed++;
    else if (errors.length > 0) failed.push(`${f.why}: rejected, but not for "${reason}": ${text}`);
    else failed.push(`${f.why}: should be rejected ("${reason}") but passed`);
  }
}

// Broken documents: each edit must make the document check fail with the reason given.
const brokenDocuments = [
  ["a wrong openapi version", (d) => (d.openapi = "3.0.3"), 'openapi must be "3.1.0"'],
  ["a path item that is not an object", (d) => (d.paths["/nope"] = 42), "OAS 3.1 schema"],
  ["a response without description", (d) => delete d.components.responses.Unauthorized.description, "OAS 3.1 schema"],
  ["a reference to nothing", (d) => (d.paths["/events"].get.responses["200"].content["application/json"].schema = { $ref: "#/components/schemas/Nothing" }), "Nothing"],
  ["a schema with a misspelt type", (d) => (d.components.schemas.Health.properties.status = { type: "strin" }), "schema at #/components/schemas/Health"],
  ["a schema with an unknown keyword", (d) => (d.components.schemas.Uuid.patern = "^x$"), 'unknown keyword: "patern"'],
  ["an example its schema refuses", (d) => (d.components.schemas.Error.examples = [{ statusCode: 400 }]), "example 0 of #/components/schemas/Error"],
  ["a server without listener", (d) => delete d.servers[0]["x-caisse-listener"], "has no x-caisse-listener"],
  ["no documented 405", (d) => delete d["x-caisse-unrouted"].responses["405"], "has no 405"],
];
for (const [why, edit, reason] of brokenDocuments) {
  const copy = structuredClone(doc);
  edit(copy);
  const problems = await checkDocument(copy);
  const text = problems.join(" | ");
  if (problems.length > 0 && text.includes(reason)) passed++;
  else failed.push(`document with ${why}: expected a problem with "${reason}", got: ${text || "none"}`);
}
const sound = await checkDocument(doc);
if (sound.length === 0) passed++;
else failed.push(`the real document has problems: ${sound.join(" | ")}`);

for (const f of failed) console.error(`openapi selftest FAIL: ${f}`);
console.log(`openapi selftest: ${passed} passed, ${failed.length} failed`);
process.exit(failed.length > 0 ? 1 : 0);
