#!/usr/bin/env node
// Tests the contract checker itself, without a stack: the document's examples must pass,
// and each tampered copy of them must fail for the expected reason. A checker that
// accepts everything would otherwise make tests/contract/run.sh pass vacuously.
//
// Prints "contract-selftest: N passed, M failed"; exit 1 on any failure.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { createChecker, loadContract, TEST_MALFORMED_HEADER, TEST_MALFORMED_VALUE } from './contract.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const path = process.argv[2] ?? resolve(repo, 'common/contracts/asyncapi.yaml');
const contract = loadContract(path);
if (contract.problems.length > 0) {
  for (const p of contract.problems) process.stderr.write(`contract-selftest: ${p}\n`);
  process.stdout.write('contract-selftest: 0 passed, 1 failed\n');
  process.exit(1);
}

// One record per example, as kcat -J would print it.
const examples = {};
for (const info of contract.typeInfo.values()) {
  const example = info.message.examples?.[0];
  if (!example) continue;
  examples[info.type] = {
    topic: info.address,
    partition: 3,
    offset: 0,
    key: example.payload.subject,
    payload: example.payload,
    headers: Object.entries(example.headers).flat(),
  };
}
const EVENTS = 'checkout.session.events';
const COMMANDS = 'checkout.session.commands';

// A copy of the example of `type` with `edit` applied to {record, payload}.
function record(type, edit = () => {}, at = {}) {
  const r = structuredClone(examples[type]);
  edit(r, r.payload);
  Object.assign(r, at);
  if (typeof r.payload !== 'string' && r.payload !== null) r.payload = JSON.stringify(r.payload);
  return r;
}

// Runs the checker over records; returns the error lines of each record.
function check(records, options) {
  const checker = createChecker(contract, options);
  records.forEach((r, i) => checker.add(r, i + 1));
  return checker.finish();
}

let passed = 0;
let failed = 0;
function expect(name, ok, detail) {
  if (ok) passed++;
  else {
    failed++;
    process.stderr.write(`contract-selftest: FAIL ${name}${detail ? `: ${detail}` : ''}\n`);
  }
}

// A single record must fail, with an error matching `pattern`.
function rejects(name, rec, pattern) {
  const { records, failed: n } = check([rec]);
  const errors = records[0].errors;
  expect(name, n === 1 && errors.some((e) => pattern.test(e)), `errors: ${JSON.stringify(errors)}`);
}

// ---- what must pass ------------------------------------------------------------------
expect('every message type has an example', Object.keys(examples).length === contract.typeInfo.size && contract.typeInfo.size >= 10, Object.keys(examples).join(', '));
for (const type of Object.keys(examples)) {
  const { failed: n, records } = check([record(type)], { partialHistory: true });
  expect(`example ${type} passes`, n === 0, JSON.stringify(records[0].errors));
}
{
  // A full history of one session, with a redelivered duplicate, and another header.
  const created = record('checkout.session.created', (r) => r.headers.push('traceparent', '00-abc-def-01'));
  const completed = record('checkout.session.completed', () => {}, { offset: 5 });
  const dup = record('checkout.session.created', () => {}, { offset: 7 });
  const { failed: n, passed: p, stats, records } = check([created, completed, dup]);
  expect('history created, completed, duplicate created passes', n === 0 && p === 3 && stats.duplicates === 1, JSON.stringify(records.map((r) => r.errors)));
}
{
  const r = record('checkout.session.create', (r, p) => {
    delete p.idempotencykey;
    delete p.requesthash;
  });
  expect('create without Idempotency-Key passes', check([r]).failed === 0);
}
{
  const r = record('checkout.session.created', (r, p) => {
    p.data.customer_id = '018d0c94-bdb8-7c55-9a12-6e0f3b8d2c19';
    p.data.customer_email = null;
    p.data.customer_phone = '+221771234567';
    p.data.success_url = 'https://shop.example.sn/paiement/réussi?commande=12';
    p.data.metadata = { order_id: 'A-1', count: 3, gift: true, ratio: 0.5 };
    p.data.description = 'x'.repeat(2000);
  });
  expect('customer_id only, phone, non-ASCII URL, mixed metadata pass', check([r]).failed === 0, JSON.stringify(check([r]).records[0].errors));
}
for (const email of ['a.b+tag@example.com', "o'hara@example.co.uk", 'x@bücher.de', 'a@b.c', 'first_last-1@sub-domain.example']) {
  const r = record('checkout.session.created', (r, p) => (p.data.customer_email = email));
  expect(`email ${email} passes (the gateway accepts it)`, check([r]).failed === 0, JSON.stringify(check([r]).records[0].errors));
}
{
  const r = record('checkout.session.create', () => {}, { headers: [TEST_MALFORMED_HEADER, TEST_MALFORMED_VALUE], payload: 'not json' });
  const { failed: n, passed: p, stats } = check([r]);
  expect('a command marked as deliberately malformed test input is skipped', n === 0 && p === 0 && stats.skipped === 1);
}

// ---- what must fail ------------------------------------------------------------------
rejects('amount as a string', record('checkout.session.created', (r, p) => (p.data.amount = '10000')), /\/data\/amount must be integer/);
rejects('amount 0', record('checkout.session.created', (r, p) => (p.data.amount = 0)), /\/data\/amount must be >= 1/);
rejects('amount as a float', record('checkout.session.create', (r, p) => (p.data.amount = 100.5)), /\/data\/amount must be integer/);
rejects('unknown type', record('checkout.session.created', (r, p) => (p.type = 'checkout.session.paid')), /unknown type "checkout.session.paid"/);
rejects('event type on the commands topic', record('checkout.session.created', () => {}, { topic: COMMANDS }), /belongs on topic checkout.session.events/);
rejects('command type on the events topic', record('checkout.session.complete', () => {}, { topic: EVENTS }), /belongs on topic checkout.session.commands/);
rejects('unknown topic', record('checkout.session.created', () => {}, { topic: 'checkout.session.other' }), /not a channel address/);
rejects('key differs from subject', record('checkout.session.created', (r) => (r.key = '018d0cab-c440-7b3a-9d2e-41f6c8a05e78')), /key .* differs from subject/);
rejects('no key', record('checkout.session.created', (r) => (r.key = null)), /record has no key/);
rejects('no content-type header', record('checkout.session.created', (r) => (r.headers = [])), /headers \/ must have required property 'content-type'/);
rejects('content-type application/json', record('checkout.session.expire', (r) => (r.headers = ['content-type', 'application/json'])), /headers \/content-type must be equal to constant/);
rejects('content-type twice', record('checkout.session.created', (r) => r.headers.push('content-type', 'application/cloudevents+json')), /appears 2 times/);
rejects('malformed-test header on the events topic is not a pass', record('checkout.session.created', (r, p) => {
  r.headers.push(TEST_MALFORMED_HEADER, TEST_MALFORMED_VALUE);
  p.data.amount = -1;
}), /\/data\/amount must be >= 1/);
rejects('payload not JSON', record('checkout.session.created', () => {}, { payload: '{"specversion": "1.0",' }), /payload is not JSON/);
rejects('payload null (tombstone)', record('checkout.session.created', () => {}, { payload: null }), /payload is not a JSON object/);
rejects('extra attribute', record('checkout.session.created', (r, p) => (p.traceid = 'x')), /must NOT have additional properties: traceid/);
rejects('extra field in data', record('checkout.session.completed', (r, p) => (p.data.payment_reference = 'pay_1')), /\/data must NOT have additional properties: payment_reference/);
rejects('missing field in data', record('checkout.session.expired', (r, p) => delete p.data.url), /\/data must have required property 'url'/);
rejects('completed with status open', record('checkout.session.completed', (r, p) => (p.data.status = 'open')), /\/data\/status must be equal to constant: "complete"/);
rejects('expired with status complete', record('checkout.session.expired', (r, p) => (p.data.status = 'complete')), /\/data\/status must be equal to constant: "expired"/);
rejects('created with status expired', record('checkout.session.created', (r, p) => (p.data.status = 'expired')), /\/data\/status must be equal to constant: "open"/);
rejects('unknown status', record('checkout.session.created', (r, p) => (p.data.status = 'paid')), /\/data\/status must be equal to one of the allowed values/);
rejects('wrong source', record('checkout.session.created', (r, p) => (p.source = '/caisse/gateway')), /\/source must be equal to constant/);
rejects('command with the events source', record('checkout.session.create', (r, p) => (p.source = '/caisse/checkout-sessions')), /\/source must be equal to constant/);
rejects('specversion 1', record('checkout.session.created', (r, p) => (p.specversion = 1)), /\/specversion must be/);
rejects('time with fractions', record('checkout.session.create', (r, p) => (p.time = '2024-01-15T10:30:00.000Z')), /\/time must match pattern/);
rejects('time with an offset', record('checkout.session.created', (r, p) => (p.data.expires_at = '2024-01-15T11:30:00+00:00')), /\/data\/expires_at must match pattern/);
rejects('impossible date', record('checkout.session.created', (r, p) => (p.data.expires_at = '2024-02-30T11:30:00Z')), /\/data\/expires_at must match format "date-time"/);
rejects('upper-case UUID in a command (the gateway lower-cases ids)', record('checkout.session.complete', (r, p) => (p.data.customer_id = '018D0C94-BDB8-7C55-9A12-6E0F3B8D2C19')), /\/data\/customer_id must match pattern/);
rejects('upper-case UUID in an event', record('checkout.session.created', (r, p) => (p.data.created_by = p.data.created_by.toUpperCase())), /\/data\/created_by must match pattern/);
rejects('event id not a UUID', record('checkout.session.expired', (r, p) => (p.id = 'evt_123')), /\/id must match pattern/);
rejects('environment prod', record('checkout.session.created', (r, p) => (p.environment = p.data.environment = 'prod')), /\/environment must be equal to one of the allowed values/);
rejects('neither customer_id nor customer_email', record('checkout.session.created', (r, p) => (p.data.customer_email = null)), /\/data must match a schema in anyOf/);
rejects('bad email', record('checkout.session.created', (r, p) => (p.data.customer_email = 'customer@localhost')), /\/data\/customer_email must match pattern/);
rejects('bad phone', record('checkout.session.created', (r, p) => (p.data.customer_phone = '0612345678')), /\/data\/customer_phone must match pattern/);
rejects('ftp URL', record('checkout.session.created', (r, p) => (p.data.success_url = 'ftp://example.com/x')), /\/data\/success_url must match pattern/);
rejects('metadata value an object', record('checkout.session.created', (r, p) => (p.data.metadata = { a: { b: 1 } })), /\/data\/metadata\/a must be string,number,boolean/);
rejects('quantity 0', record('checkout.session.created', (r, p) => (p.data.quantity = 0)), /\/data\/quantity must be >= 1/);
rejects('idempotencykey without requesthash', record('checkout.session.create', (r, p) => delete p.requesthash), /must have property requesthash when property idempotencykey is present/);
rejects('complete without customer_id', record('checkout.session.complete', (r, p) => delete p.data.customer_id), /\/data must have required property 'customer_id'/);
rejects('complete with an empty payment_reference', record('checkout.session.complete', (r, p) => (p.data.payment_reference = '')), /\/data\/payment_reference must NOT have fewer than 1 characters/);
rejects('expire with environment missing', record('checkout.session.expire', (r, p) => delete p.data.environment), /\/data must have required property 'environment'/);
rejects('subject differs from data.checkout_session_id', record('checkout.session.complete', (r, p) => (p.data.checkout_session_id = '018d0cab-c440-7b3a-9d2e-41f6c8a05e78')), /differs from data.checkout_session_id/);
rejects('organizationid differs from data', record('checkout.session.created', (r, p) => (p.organizationid = p.data.created_by)), /organizationid differs/);
rejects('environment differs from data', record('checkout.session.created', (r, p) => (p.environment = 'live')), /environment differs/);
rejects('created time is not created_at', record('checkout.session.created', (r, p) => (p.time = '2024-01-15T10:30:01Z')), /differs from data.created_at/);
rejects('expired time is not updated_at', record('checkout.session.expired', (r, p) => (p.time = p.data.expires_at)), /differs from data.updated_at/);
// The catalog's products.
rejects('product with an empty name', record('product.created', (r, p) => (p.data.name = '')), /\/data\/name must NOT have fewer than 1 characters/);
rejects('product without active', record('product.created', (r, p) => delete p.data.active), /\/data must have required property 'active'/);
rejects('product event with the sessions\' source', record('product.updated', (r, p) => (p.source = '/caisse/checkout-sessions')), /\/source must be equal to constant/);
rejects('subject differs from data.product_id', record('product.created', (r, p) => (p.data.product_id = '018d0cab-c440-7b3a-9d2e-41f6c8a05e78')), /differs from data.product_id/);
rejects('product updated time is not updated_at', record('product.updated', (r, p) => (p.time = p.data.created_at)), /differs from data.updated_at/);
rejects('product update changing what cannot change', record('product.update', (r, p) => (p.data.changes = { created_at: '2024-01-15T10:30:00Z' })), /\/data\/changes must NOT have additional properties: created_at/);
rejects('product update changing nothing', record('product.update', (r, p) => (p.data.changes = {})), /\/data\/changes must NOT have fewer than 1 properties/);
rejects('product create with the tenant of another', record('product.create', (r, p) => (p.organizationid = p.data.product_id)), /must NOT have additional properties: organizationid/);
// The catalog's prices.
rejects('price with both unit_amount and custom_unit_amount', record('price.created', (r, p) => (p.data.custom_unit_amount = { minimum: 1, maximum: 2 })), /\/data must match exactly one schema in oneOf/);
rejects('price with neither unit_amount nor custom_unit_amount', record('price.created', (r, p) => (p.data.unit_amount = null)), /\/data must match exactly one schema in oneOf/);
rejects('recurring price without recurring', record('price.created', (r, p) => (p.data.recurring = null)), /\/data\/recurring must be object/);
rejects('one_time price with recurring', record('price.created', (r, p) => (p.data.type = 'one_time')), /\/data\/recurring must be null/);
rejects('pay-what-you-want recurring price', record('price.created', (r, p) => {
  p.data.unit_amount = null;
  p.data.custom_unit_amount = { minimum: 100, maximum: 200 };
}), /\/data\/type must be equal to constant/);
rejects('price with an interval of a fortnight', record('price.created', (r, p) => (p.data.recurring.interval = 'fortnight')), /\/data\/recurring\/interval must be equal to one of the allowed values/);
rejects('subject differs from data.price_id', record('price.created', (r, p) => (p.data.price_id = '018d0cab-c440-7b3a-9d2e-41f6c8a05e78')), /differs from data.price_id/);
rejects('price event with the products\' source', record('price.updated', (r, p) => (p.source = '/caisse/products')), /\/source must be equal to constant/);
rejects('price update changing an amount', record('price.update', (r, p) => (p.data.changes = { unit_amount: 100 })), /\/data\/changes must NOT have additional properties: unit_amount/);
// The catalog's subscriptions.
rejects('subscription with a status of its own', record('subscription.renewed', (r, p) => (p.data.status = 'paused')), /\/data\/status must be equal to one of the allowed values/);
rejects('canceled event of an active subscription', record('subscription.canceled', (r, p) => (p.data.status = 'active')), /\/data\/status must be equal to constant/);
rejects('past_due event with the products\' source', record('subscription.past_due', (r, p) => (p.source = '/caisse/products')), /\/source must be equal to constant/);
rejects('subject differs from data.subscription_id', record('subscription.created', (r, p) => (p.data.subscription_id = '018d0cab-c440-7b3a-9d2e-41f6c8a05e78')), /differs from data.subscription_id/);
rejects('subscription renewed time is not updated_at', record('subscription.renewed', (r, p) => (p.time = p.data.created_at)), /differs from data.updated_at/);
rejects('subscription cancel with a reason', record('subscription.cancel', (r, p) => (p.data.reason = 'too dear')), /\/data must NOT have additional properties: reason/);
// The catalog's customers.
rejects('customer with a lower-case country', record('customer.created', (r, p) => (p.data.billing_address.country = 'sn')), /\/data\/billing_address\/country must match pattern/);
rejects('customer address without a city', record('customer.updated', (r, p) => delete p.data.billing_address.city), /\/data\/billing_address must have required property 'city'/);
rejects('customer phone not E.164', record('customer.created', (r, p) => (p.data.phone = '771234567')), /\/data\/phone must match pattern/);
rejects('customer event with the products\' source', record('customer.deleted', (r, p) => (p.source = '/caisse/products')), /\/source must be equal to constant/);
rejects('subject differs from data.customer_id', record('customer.delete', (r, p) => (p.data.customer_id = '018d0cab-c440-7b3a-9d2e-41f6c8a05e78')), /differs from data.customer_id/);
rejects('customer delete with changes', record('customer.delete', (r, p) => (p.data.changes = { name: 'x' })), /\/data must NOT have additional properties: changes/);

// Across records.
// Record `index` of the history must fail with `pattern`; the others must pass unless
// othersFail (a reordered history has more than one record out of place).
function rejectsHistory(name, recs, index, pattern, othersFail = false) {
  const { records } = check(recs);
  const errors = records[index].errors;
  const others = records.filter((r, i) => i !== index && r.errors.length > 0);
  expect(name, errors.some((e) => pattern.test(e)) && (othersFail || others.length === 0), JSON.stringify(records.map((r) => r.errors)));
}
rejectsHistory('same id, other JSON', [
  record('checkout.session.created'),
  record('checkout.session.created', (r, p) => (p.data.title = 'Other'), { offset: 9 }),
], 1, /already used with other JSON/);
rejectsHistory('one key on two partitions', [
  record('checkout.session.created'),
  record('checkout.session.completed', () => {}, { partition: 4, offset: 1 }),
], 1, /also on partition 3/);
rejectsHistory('completed before created (of a session whose create command was read)', [
  record('checkout.session.create'),
  record('checkout.session.completed', () => {}, { offset: 1 }),
  record('checkout.session.created', () => {}, { offset: 2 }),
], 1, /first event is checkout.session.completed/, true);
{
  // A session seeded straight into PostgreSQL (no create command) may start with expired.
  const { failed: n } = check([record('checkout.session.expired', () => {}, { offset: 1 })]);
  expect('a session without a create command may start with expired', n === 0);
}
rejectsHistory('expired after completed', [
  record('checkout.session.created'),
  record('checkout.session.completed', () => {}, { offset: 1 }),
  record('checkout.session.expired', () => {}, { offset: 2 }),
], 2, /checkout.session.expired after checkout.session.completed/);
{
  // A payment's events change no status: a refund flag may follow the session's expiry.
  const { failed: n, records } = check([
    record('checkout.session.created'),
    record('checkout.session.expired', () => {}, { offset: 1 }),
    record('checkout.session.payment_refund_required', () => {}, { offset: 2 }),
    record('checkout.session.payment_failed', () => {}, { offset: 3 }),
  ], { partialHistory: true });
  expect('payment events may follow a terminal event', n === 0, JSON.stringify(records.map((r) => r.errors)));
}
rejects('a payment event whose time is not its attempt\'s settling', record('checkout.session.payment_failed', (r, p) => (p.time = p.data.updated_at)), /time .* differs from data.payment_attempt.settled_at/);
rejects('a payment event without its attempt', record('checkout.session.payment_failed', (r, p) => delete p.data.payment_attempt), /\/data must have required property 'payment_attempt'/);
rejects('a payment command that keeps a whole card number', record('checkout.session.payment', (r, p) => (p.data.account_last4 = '4242424242424242')), /\/data\/account_last4 must match pattern/);
rejectsHistory('two created events with different ids', [
  record('checkout.session.created'),
  record('checkout.session.created', (r, p) => (p.id = '018d0cab-c44c-7f10-8b6d-2a7e9c3f51d5'), { offset: 1 }),
], 1, /checkout.session.created \(another id\) after checkout.session.created/);
{
  const { failed: n } = check([record('checkout.session.completed')], { partialHistory: true });
  expect('--partial-history accepts a session starting with completed', n === 0);
}
{
  const { failed: n, records } = check([
    record('product.create'),
    record('product.created', () => {}, { offset: 1 }),
    record('product.updated', () => {}, { offset: 2 }),
    record('product.updated', (r, p) => (p.id = '018d0ccb-f2a0-7b31-9e04-2c6d8f1a3b51'), { offset: 3 }),
  ]);
  expect('a product created then updated twice passes', n === 0, JSON.stringify(records.map((r) => r.errors)));
}
{
  const { failed: n, records } = check([
    record('price.create'),
    record('price.created', () => {}, { offset: 1 }),
    record('price.updated', () => {}, { offset: 2 }),
  ]);
  expect('a price created then archived passes', n === 0, JSON.stringify(records.map((r) => r.errors)));
}
{
  const { failed: n, records } = check([
    record('customer.create'),
    record('customer.created', () => {}, { offset: 1 }),
    record('customer.updated', () => {}, { offset: 2 }),
    record('customer.deleted', () => {}, { offset: 3 }),
  ]);
  expect('a customer created, updated then deleted passes', n === 0, JSON.stringify(records.map((r) => r.errors)));
}
{
  // A completion's customer has no create command: its created event comes alone.
  const { failed: n } = check([record('customer.created')]);
  expect('a customer created by a completion passes', n === 0);
}
rejectsHistory('customer deleted twice', [
  record('customer.created'),
  record('customer.deleted', () => {}, { offset: 1 }),
  record('customer.deleted', (r, p) => (p.id = '018d0ccb-f31c-7d53-8c4d-5e6f7a8b9ca1'), { offset: 2 }),
], 2, /customer.deleted after customer.deleted/);
rejectsHistory('product updated before created (of a product whose create command was read)', [
  record('product.create'),
  record('product.updated', () => {}, { offset: 1 }),
  record('product.created', () => {}, { offset: 2 }),
], 1, /first event is product.updated, not product.created/, true);
{
  const { failed: n, records } = check([
    record('subscription.created'),
    record('subscription.renewed', () => {}, { offset: 1 }),
    record('subscription.past_due', () => {}, { offset: 2 }),
    record('subscription.cancel', () => {}, { offset: 0 }),
    record('subscription.canceled', () => {}, { offset: 3 }),
  ]);
  expect('a subscription created, renewed, past due then canceled passes', n === 0, JSON.stringify(records.map((r) => r.errors)));
}
rejectsHistory('subscription past due after canceled', [
  record('subscription.created'),
  record('subscription.canceled', () => {}, { offset: 1 }),
  record('subscription.past_due', () => {}, { offset: 2 }),
], 2, /subscription.past_due after subscription.canceled/);
rejectsHistory('subscription renewed after canceled', [
  record('subscription.created'),
  record('subscription.canceled', () => {}, { offset: 1 }),
  record('subscription.renewed', () => {}, { offset: 2 }),
], 2, /subscription.renewed after subscription.canceled/);

// A broken document must be refused, whatever else is right.
{
  const text = readFileSync(path, 'utf8');
  const dir = mkdtempSync(resolve(tmpdir(), 'caisse-contract-'));
  const refused = (name, broken, pattern) => {
    const file = resolve(dir, 'asyncapi.yaml');
    writeFileSync(file, broken);
    const problems = loadContract(file).problems;
    expect(`document with ${name} is refused`, broken !== text && problems.some((p) => pattern.test(p)), JSON.stringify(problems.slice(0, 3)));
  };
  refused('asyncapi 2.6.0', text.replace('asyncapi: 3.0.0', 'asyncapi: 2.6.0'), /asyncapi is "2.6.0"/);
  refused('a dangling $ref', text.replace("$ref: '#/components/schemas/Timestamp'", "$ref: '#/components/schemas/Timestamps'"), /does not resolve/);
  refused('an external $ref', text.replace("$ref: '#/components/schemas/Environment'", "$ref: 'common.yaml#/Environment'"), /not a local reference/);
  refused('an operation naming another channel\'s message', text.replace("      - $ref: '#/channels/commands/messages/checkoutSessionCreate'\n", "      - $ref: '#/channels/events/messages/checkoutSessionCreated'\n"), /is not one of #\/channels\/commands's messages/);
  refused('a duplicate key', text.replace('  title: caisse checkout sessions on Kafka\n', '  title: caisse checkout sessions on Kafka\n  title: again\n'), /not valid YAML/);
  refused('an unknown schema keyword', text.replace('          maxLength: 250\n', '          maxLenght: 250\n'), /does not compile/);
  refused('an example that breaks its schema', text.replace('              amount: 10000\n', '              amount: "10000"\n'), /example .*amount must be integer/);
  refused('a misplaced server field', text.replace('    protocol: kafka\n', '    protocol: kafka\n    url: kafka://x\n'), /AsyncAPI 3.0.0 schema/);
  rmSync(dir, { recursive: true, force: true });
}

// The README's event examples are what consumers copy: each must pass, and each event type
// must have one.
{
  const readme = readFileSync(resolve(repo, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]).filter((b) => b.includes('"specversion"'));
  const types = new Set();
  blocks.forEach((block, i) => {
    let payload;
    try {
      payload = JSON.parse(block);
    } catch (e) {
      expect(`README event example ${i + 1} is JSON`, false, e.message);
      return;
    }
    types.add(payload.type);
    const r = {
      topic: contract.typeInfo.get(payload.type)?.address ?? EVENTS,
      partition: 0,
      offset: i,
      key: payload.subject,
      payload: JSON.stringify(payload),
      headers: ['content-type', 'application/cloudevents+json'],
    };
    const { failed: n, records } = check([r], { partialHistory: true });
    expect(`README example ${payload.type} passes`, n === 0, JSON.stringify(records[0].errors));
  });
  for (const type of ['checkout.session.created', 'checkout.session.completed', 'checkout.session.expired', 'product.updated', 'price.updated', 'subscription.renewed']) {
    expect(`README has an example of ${type}`, types.has(type));
  }
}

process.stdout.write(`contract-selftest: ${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : 0);
