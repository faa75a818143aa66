#!/usr/bin/env node
// Validates Kafka records against the AsyncAPI contract (common/contracts/asyncapi.yaml).
//
//   kcat -C -b BROKERS -t checkout.session.events -o beginning -e -J -q \
//     | node tests/contract/validate-events.mjs
//
// stdin: kcat -J lines, one JSON envelope per record ({topic, partition, offset, key,
// payload, headers: [name, value, …]}); records of both topics may be mixed. Every
// record is checked: its payload against the schema of the message its `type` names on
// that topic (an unknown type fails), its key against the key schema and equal to the
// subject, its content-type header, the cross-field rules (subject, tenant attributes,
// time), and across records: one partition per key, the same JSON for the same id, and
// per session the state machine: created first (for sessions whose create command is in
// the input), then at most one of completed/expired. The document itself is checked
// first (official AsyncAPI 3.0.0 JSON Schema, every $ref resolves, operations name their
// channel's messages, the examples pass).
//
// Prints the first failures (topic[partition]@offset and the errors) on stderr and the
// summary "contract: N passed, M failed" on stdout. Exit 0 when every record passed,
// 1 when one failed or none was read (unless --allow-empty), 2 when the document is bad.
//
// Options: --asyncapi PATH (default common/contracts/asyncapi.yaml of this checkout),
// --document-only (check the document, read nothing), --allow-empty, --partial-history
// (topics whose oldest records are gone: a session may start with a later event),
// --max-report N (failures listed, default 20).

import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { createChecker, loadContract, TEST_MALFORMED_HEADER, TEST_MALFORMED_VALUE } from './contract.mjs';

function usage(message) {
  process.stderr.write(`validate-events: ${message}\n`);
  process.exit(2);
}

const options = {
  asyncapi: resolve(dirname(fileURLToPath(import.meta.url)), '../../common/contracts/asyncapi.yaml'),
  documentOnly: false,
  allowEmpty: false,
  partialHistory: false,
  maxReport: 20,
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--asyncapi') options.asyncapi = argv[++i] ?? usage('--asyncapi needs a path');
  else if (a === '--document-only') options.documentOnly = true;
  else if (a === '--allow-empty') options.allowEmpty = true;
  else if (a === '--partial-history') options.partialHistory = true;
  else if (a === '--max-report') {
    options.maxReport = Number.parseInt(argv[++i], 10);
    if (!(options.maxReport >= 0)) usage('--max-report needs a number');
  } else usage(`unknown argument ${a}`);
}

const contract = loadContract(options.asyncapi);
if (contract.problems.length > 0) {
  process.stderr.write(`contract: ${options.asyncapi} is not a valid contract:\n`);
  for (const p of contract.problems) process.stderr.write(`  ${p}\n`);
  process.stdout.write('contract: 0 passed, 1 failed\n');
  process.exit(2);
}
const messageCount = contract.typeInfo.size;
process.stderr.write(
  `contract: ${options.asyncapi}: AsyncAPI ${contract.doc.asyncapi}, ${contract.channelsByAddress.size} channels, ${messageCount} message types, document valid\n`,
);
if (options.documentOnly) process.exit(0);

const checker = createChecker(contract, { partialHistory: options.partialHistory });
let lineNo = 0;
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  lineNo++;
  if (line.trim() === '') continue;
  let envelope;
  try {
    envelope = JSON.parse(line);
  } catch (e) {
    envelope = null;
  }
  checker.add(envelope, lineNo);
}
const { records, passed, failed, stats } = checker.finish();

// What was read, so a run that saw far fewer records than expected stands out.
for (const [topic, types] of stats.topics) {
  const parts = [...types].map(([t, n]) => `${t} ${n}`).join(', ');
  process.stderr.write(`contract: ${topic}: ${parts || 'no records of a known type'}\n`);
}
if (stats.duplicates > 0) {
  process.stderr.write(`contract: ${stats.duplicates} redelivered duplicates (same id, same JSON: allowed, at least once)\n`);
}
if (stats.skipped > 0) {
  process.stderr.write(
    `contract: ${stats.skipped} commands skipped: deliberately malformed test input (header ${TEST_MALFORMED_HEADER}: ${TEST_MALFORMED_VALUE})\n`,
  );
}

const failures = records.filter((r) => r.errors.length > 0);
for (const r of failures.slice(0, options.maxReport)) {
  const what = [r.type, r.key !== null && r.key !== undefined ? `key ${r.key}` : null].filter(Boolean).join(', ');
  process.stderr.write(`contract: FAIL ${r.where}${what ? ` (${what})` : ''}\n`);
  for (const e of r.errors) process.stderr.write(`    ${e}\n`);
}
if (failures.length > options.maxReport) {
  process.stderr.write(`contract: … ${failures.length - options.maxReport} more failed records not listed\n`);
}
if (failures.some((r) => r.where.startsWith('checkout.session.commands'))) {
  process.stderr.write(
    `contract: (a command a test writes malformed on purpose must carry the Kafka header ${TEST_MALFORMED_HEADER}=${TEST_MALFORMED_VALUE})\n`,
  );
}

let exitCode = failed > 0 ? 1 : 0;
if (passed + failed === 0 && !options.allowEmpty) {
  process.stderr.write('contract: no records were read (is the stack up, are the topics right?)\n');
  exitCode = 1;
}
process.stdout.write(`contract: ${passed} passed, ${failed} failed\n`);
process.exit(exitCode);
