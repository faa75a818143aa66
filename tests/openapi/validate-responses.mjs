// Validates the document, then every captured response (one JSON object a line, on stdin
// or in the file given) against it; prints the responses checked per operation and every
// failure. Exit 0 only if the document is sound and every response conforms.
//
//   node tests/openapi/validate-responses.mjs [--document common/contracts/openapi.json] [records.jsonl]
//
// A record: {"listener": "merchant"|"internal", "method", "path" (as requested, with its
// query), "status", "headers" (lower-case names), "body" (text, null if not UTF-8)}.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { checkDocument, loadDocument, ResponseChecker } from "./openapi-check.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
let documentPath = path.join(here, "../../common/contracts/openapi.json");
const di = args.indexOf("--document");
if (di >= 0) {
  documentPath = args[di + 1];
  args.splice(di, 2);
}
const input = args[0] ? readFileSync(args[0], "utf8") : readFileSync(0, "utf8");

const doc = loadDocument(documentPath);
const problems = await checkDocument(doc);
if (problems.length > 0) {
  console.error(`openapi: ${documentPath} is not a sound OpenAPI 3.1 document:`);
  for (const p of problems) console.error(`  - ${p}`);
  console.log("openapi: 0 passed, 1 failed");
  process.exit(1);
}

const checker = new ResponseChecker(doc);
const perKey = new Map(checker.operations().map((o) => [o.key, { operationId: o.operationId, statuses: new Map(), failed: 0 }]));
const failures = [];
let checked = 0;
input.split("\n").forEach((line, i) => {
  if (line.trim() === "") return;
  let record;
  try {
    record = JSON.parse(line);
  } catch (e) {
    failures.push({ where: `line ${i + 1}`, errors: [`not a JSON record: ${e.message}`] });
    return;
  }
  checked++;
  const { key, errors } = checker.check(record);
  if (!perKey.has(key)) perKey.set(key, { operationId: null, statuses: new Map(), failed: 0 });
  const entry = perKey.get(key);
  entry.statuses.set(record.status, (entry.statuses.get(record.status) ?? 0) + 1);
  if (errors.length > 0) {
    entry.failed++;
    failures.push({ where: `line ${i + 1}: ${record.listener} ${record.method} ${record.path} -> ${record.status}`, errors, body: record.body });
  }
});

console.log(`openapi: ${checked} responses checked against ${path.relative(process.cwd(), documentPath) || documentPath}`);
const width = Math.max(...[...perKey.keys()].map((k) => k.length));
for (const [key, e] of perKey) {
  const total = [...e.statuses.values()].reduce((a, b) => a + b, 0);
  const statuses = [...e.statuses.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}x${n}`).join(" ");
  const note = total === 0 ? "not exercised" : `${total} (${statuses})${e.failed ? `, ${e.failed} FAILED` : ""}`;
  console.log(`  ${key.padEnd(width)}  ${note}`);
}
for (const f of failures.slice(0, 50)) {
  console.error(`FAIL ${f.where}`);
  for (const e of f.errors) console.error(`    ${e}`);
  if (typeof f.body === "string" && f.body !== "") console.error(`    body: ${f.body.slice(0, 300)}`);
}
if (failures.length > 50) console.error(`… and ${failures.length - 50} more failures`);
if (checked === 0) {
  console.error("openapi: no response was captured: is CAISSE_TEST_HTTP_CAPTURE set for the tests?");
  console.log("openapi: 0 passed, 1 failed");
  process.exit(1);
}
console.log(`openapi: ${checked - failures.length} passed, ${failures.length} failed`);
process.exit(failures.length > 0 ? 1 : 0);
