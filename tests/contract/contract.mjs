// The contract checker: loads common/contracts/asyncapi.yaml, checks the document itself, and
// validates Kafka records (kcat -J envelopes) against it. Written in Node with ajv on
// purpose: an implementation independent of the C code (jansson, session.c) that
// produces the records, so a bug shared by producer and reader cannot hide.
//
// Used by validate-events.mjs (records from stdin) and selftest.mjs (tampered records).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Ajv from 'ajv'; // draft-07: the base of AsyncAPI 3.0's default schema format
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const require = createRequire(import.meta.url);

// Records deliberately malformed by a test (to check that the session worker skips
// them) carry this header; only on the commands topic, where such tests write. They
// are counted apart instead of failing the run. Never honoured on the events topic.
export const TEST_MALFORMED_HEADER = 'caisse-test-input';
export const TEST_MALFORMED_VALUE = 'malformed';

const CONTENT_TYPE = 'application/cloudevents+json';

// Cross-field rules that JSON Schema cannot state; each is described in the message
// schemas of asyncapi.yaml (subject, organizationid, environment, time). Keyed by the
// CloudEvents type; `dataId` names the data field the subject must equal, `time` the data
// field the event time must equal.
const SESSION_ID = 'checkout_session_id';
const CROSS_FIELD_RULES = {
  'checkout.session.create': { dataId: SESSION_ID },
  'checkout.session.complete': { dataId: SESSION_ID },
  'checkout.session.expire': { dataId: SESSION_ID },
  'checkout.session.payment': { dataId: SESSION_ID },
  'checkout.session.created': { dataId: SESSION_ID, tenant: true, time: 'created_at' },
  'checkout.session.completed': { dataId: SESSION_ID, tenant: true, time: 'updated_at' },
  'checkout.session.expired': { dataId: SESSION_ID, tenant: true, time: 'updated_at' },
  // A payment event's time is its attempt's settling, a member of data.payment_attempt.
  'checkout.session.payment_failed': { dataId: SESSION_ID, tenant: true, time: 'payment_attempt.settled_at' },
  'checkout.session.payment_refund_required': { dataId: SESSION_ID, tenant: true, time: 'payment_attempt.settled_at' },
  'product.create': { dataId: 'product_id' },
  'product.update': { dataId: 'product_id' },
  'product.created': { dataId: 'product_id', tenant: true, time: 'created_at' },
  'product.updated': { dataId: 'product_id', tenant: true, time: 'updated_at' },
  'price.create': { dataId: 'price_id' },
  'price.update': { dataId: 'price_id' },
  'price.created': { dataId: 'price_id', tenant: true, time: 'created_at' },
  'price.updated': { dataId: 'price_id', tenant: true, time: 'updated_at' },
  'coupon.create': { dataId: 'coupon_id' },
  'coupon.update': { dataId: 'coupon_id' },
  'coupon.created': { dataId: 'coupon_id', tenant: true, time: 'created_at' },
  'coupon.updated': { dataId: 'coupon_id', tenant: true, time: 'updated_at' },
  'subscription.cancel': { dataId: 'subscription_id' },
  'subscription.created': { dataId: 'subscription_id', tenant: true, time: 'created_at' },
  'subscription.renewed': { dataId: 'subscription_id', tenant: true, time: 'updated_at' },
  'subscription.canceled': { dataId: 'subscription_id', tenant: true, time: 'updated_at' },
  'subscription.past_due': { dataId: 'subscription_id', tenant: true, time: 'updated_at' },
  'customer.create': { dataId: 'customer_id' },
  'customer.update': { dataId: 'customer_id' },
  'customer.delete': { dataId: 'customer_id' },
  'customer.created': { dataId: 'customer_id', tenant: true, time: 'created_at' },
  'customer.updated': { dataId: 'customer_id', tenant: true, time: 'updated_at' },
  'customer.deleted': { dataId: 'customer_id', tenant: true },
};

// The event sequence each kind of object allows, its events keyed by the object's id: the
// created event first (for objects whose create command was read), never again, and at
// most one terminal event (a session: open → complete | expired; a customer: deleted; a product: any number
// of updates).
const LIFECYCLES = [
  {
    created: 'checkout.session.created',
    createCommand: 'checkout.session.create',
    types: new Set([
      'checkout.session.created',
      'checkout.session.completed',
      'checkout.session.expired',
      'checkout.session.payment_failed',
      'checkout.session.payment_refund_required',
    ]),
    terminal: new Set(['checkout.session.completed', 'checkout.session.expired']),
    // A payment's events change no status: a pending payment may fail, or succeed too late
    // and be flagged for refund, after the session completed or expired.
    afterTerminal: new Set(['checkout.session.payment_failed', 'checkout.session.payment_refund_required']),
  },
  {
    created: 'product.created',
    createCommand: 'product.create',
    types: new Set(['product.created', 'product.updated']),
    terminal: new Set(),
  },
  {
    created: 'price.created',
    createCommand: 'price.create',
    types: new Set(['price.created', 'price.updated']),
    terminal: new Set(),
  },
  {
    created: 'coupon.created',
    createCommand: 'coupon.create',
    types: new Set(['coupon.created', 'coupon.updated']),
    terminal: new Set(),
  },
  {
    // Made by a completion, not by a create command of its own (createCommand null): its
    // created event comes first only as far as the history read shows it.
    created: 'subscription.created',
    createCommand: null,
    types: new Set(['subscription.created', 'subscription.renewed', 'subscription.canceled', 'subscription.past_due']),
    terminal: new Set(['subscription.canceled']),
  },
  {
    created: 'customer.created',
    createCommand: 'customer.create',
    types: new Set(['customer.created', 'customer.updated', 'customer.deleted']),
    terminal: new Set(['customer.deleted']),
  },
];
const CREATE_COMMANDS = new Set(LIFECYCLES.map((l) => l.createCommand).filter((c) => c !== null));

// ---- the document ------------------------------------------------------------------

function unescapePointerToken(token) {
  return decodeURIComponent(token).replace(/~1/g, '/').replace(/~0/g, '~');
}

function resolvePointer(doc, ref) {
  if (typeof ref !== 'string' || !ref.startsWith('#/')) return undefined;
  let node = doc;
  for (const raw of ref.slice(2).split('/')) {
    const token = unescapePointerToken(raw);
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, token)) return undefined;
    node = node[token];
  }
  return node;
}

// Follows a chain of Reference Objects to the object itself.
function deref(doc, node, seen = new Set()) {
  while (node && typeof node === 'object' && typeof node.$ref === 'string') {
    if (seen.has(node.$ref)) return undefined;
    seen.add(node.$ref);
    node = resolvePointer(doc, node.$ref);
  }
  return node;
}

function collectRefs(node, path, out) {
  if (Array.isArray(node)) {
    node.forEach((v, i) => collectRefs(v, `${path}/${i}`, out));
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref') out.push({ path, ref: v });
      else collectRefs(v, `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, out);
    }
  }
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function formatAjvErrors(errors, limit = 8) {
  const lines = (errors || []).slice(0, limit).map((e) => {
    let detail = '';
    if (e.keyword === 'additionalProperties') detail = `: ${e.params.additionalProperty}`;
    else if (e.keyword === 'const') detail = `: ${JSON.stringify(e.params.allowedValue)}`;
    else if (e.keyword === 'enum') detail = `: ${JSON.stringify(e.params.allowedValues)}`;
    return `${e.instancePath || '/'} ${e.message}${detail}`;
  });
  if ((errors || []).length > limit) lines.push(`… and ${errors.length - limit} more`);
  return lines;
}

// AsyncAPI's official JSON Schema of 3.0.0 documents (the @asyncapi/specs package: plain
// JSON, no parser or network needed).
function officialSchemaErrors(doc) {
  let schema;
  try {
    schema = require('@asyncapi/specs').schemas['3.0.0'];
  } catch (e) {
    return [`cannot load the AsyncAPI 3.0.0 JSON Schema from @asyncapi/specs: ${e.message}`];
  }
  // Not strict: the official schema uses keywords and formats ajv's strict mode flags.
  // meta: false because the official schema embeds its own copy of the draft-07 meta-schema.
  const ajv = new Ajv({ allErrors: true, strict: false, meta: false, validateSchema: false });
  addFormats(ajv);
  const validate = ajv.compile(schema);
  if (validate(doc)) return [];
  // The official schema's oneOf branches multiply errors; the first few locate the problem.
  return formatAjvErrors(validate.errors, 12).map((l) => `AsyncAPI 3.0.0 schema: ${l}`);
}

// Loads and checks the document. Returns { problems, doc, channelsByAddress, typeInfo }.
export function loadContract(path) {
  const problems = [];
  let doc;
  try {
    // uniqueKeys (the default) rejects duplicate keys, which YAML would otherwise hide.
    doc = YAML.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    return { problems: [`${path}: not valid YAML: ${e.message}`] };
  }
  if (!isObject(doc)) return { problems: [`${path}: not a YAML mapping`] };

  if (doc.asyncapi !== '3.0.0') problems.push(`asyncapi is ${JSON.stringify(doc.asyncapi)}, expected "3.0.0"`);
  for (const key of ['info', 'channels', 'operations', 'components']) {
    if (!isObject(doc[key]) || Object.keys(doc[key]).length === 0) problems.push(`${key} is missing or empty`);
  }
  for (const key of ['schemas', 'messages']) {
    if (!isObject(doc.components?.[key])) problems.push(`components.${key} is missing`);
  }
  if (problems.length > 0) return { problems };

  problems.push(...officialSchemaErrors(doc));

  // Every $ref is local (the document is self-contained) and resolves.
  const refs = [];
  collectRefs(doc, '#', refs);
  for (const { path: at, ref } of refs) {
    if (typeof ref !== 'string' || !ref.startsWith('#/')) problems.push(`${at}: $ref ${JSON.stringify(ref)} is not a local reference`);
    else if (resolvePointer(doc, ref) === undefined) problems.push(`${at}: $ref ${ref} does not resolve`);
  }
  if (problems.length > 0) return { problems };

  // Schemas are compiled straight out of the document, so their "#/components/schemas/…"
  // references resolve as written. The document's top-level keys are declared as
  // annotation keywords so that ajv's strict mode accepts the document as a root.
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats(ajv);
  for (const key of Object.keys(doc)) {
    if (!ajv.getKeyword(key)) ajv.addKeyword({ keyword: key });
  }
  const DOC_ID = 'urn:caisse:asyncapi';
  ajv.addSchema({ ...doc, $id: DOC_ID });
  const compileAt = (pointer, what) => {
    try {
      return ajv.compile({ $ref: `${DOC_ID}#${pointer}` });
    } catch (e) {
      problems.push(`${what}: the schema at ${pointer} does not compile: ${e.message}`);
      return null;
    }
  };
  // A schema given either inline or as a $ref: where it is, as a JSON pointer.
  const schemaPointer = (node, inlinePointer) =>
    isObject(node) && typeof node.$ref === 'string' ? node.$ref.slice(1) : inlinePointer;

  // Channels and their messages.
  const channelsByAddress = new Map();
  const typeInfo = new Map(); // CloudEvents type → { address, messageKey, ... }
  const channelMessageRefs = new Map(); // "#/channels/x/messages/y" → address
  for (const [channelKey, channelNode] of Object.entries(doc.channels)) {
    const channel = deref(doc, channelNode);
    if (!isObject(channel) || typeof channel.address !== 'string') {
      problems.push(`channel ${channelKey} has no address`);
      continue;
    }
    const kafkaTopic = channel.bindings?.kafka?.topic;
    if (kafkaTopic !== undefined && kafkaTopic !== channel.address) {
      problems.push(`channel ${channelKey}: kafka binding topic ${kafkaTopic} differs from address ${channel.address}`);
    }
    const entry = { key: channelKey, address: channel.address, types: new Map() };
    channelsByAddress.set(channel.address, entry);
    if (!isObject(channel.messages) || Object.keys(channel.messages).length === 0) {
      problems.push(`channel ${channelKey} has no messages`);
      continue;
    }
    for (const [messageKey, messageNode] of Object.entries(channel.messages)) {
      const where = `channel ${channelKey} message ${messageKey}`;
      channelMessageRefs.set(`#/channels/${channelKey}/messages/${messageKey}`, channel.address);
      const message = deref(doc, messageNode);
      const messagePointer = isObject(messageNode) && messageNode.$ref ? messageNode.$ref.slice(1) : `/channels/${channelKey}/messages/${messageKey}`;
      if (!isObject(message) || message.payload === undefined) {
        problems.push(`${where} has no payload`);
        continue;
      }
      const payloadSchema = deref(doc, message.payload);
      const type = deref(doc, payloadSchema?.properties?.type)?.const;
      if (typeof type !== 'string') {
        problems.push(`${where}: the payload schema has no properties.type.const (the CloudEvents type)`);
        continue;
      }
      if (typeInfo.has(type)) {
        problems.push(`${where}: type ${type} is also the type of ${typeInfo.get(type).where}`);
        continue;
      }
      if (message.contentType !== undefined && message.contentType !== CONTENT_TYPE) {
        problems.push(`${where}: contentType ${message.contentType}, expected ${CONTENT_TYPE}`);
      }
      const info = {
        type,
        where,
        address: channel.address,
        message,
        payload: compileAt(schemaPointer(message.payload, `${messagePointer}/payload`), `${where} payload`),
        headers: message.headers !== undefined ? compileAt(schemaPointer(message.headers, `${messagePointer}/headers`), `${where} headers`) : null,
        key: null,
      };
      const bindings = deref(doc, message.bindings);
      const keySchema = bindings?.kafka?.key;
      if (keySchema === undefined) {
        problems.push(`${where}: no Kafka key in its bindings`);
      } else {
        const bindingsPointer = isObject(message.bindings) && message.bindings.$ref ? message.bindings.$ref.slice(1) : `${messagePointer}/bindings`;
        info.key = compileAt(schemaPointer(keySchema, `${bindingsPointer}/kafka/key`), `${where} key`);
      }
      if (info.headers === null) problems.push(`${where}: no headers schema (content-type)`);
      entry.types.set(type, info);
      typeInfo.set(type, info);
    }
  }

  // Operations: each names a channel and a subset of that channel's messages.
  const sentBy = new Set();
  const receivedBy = new Set();
  for (const [opKey, opNode] of Object.entries(doc.operations)) {
    const op = deref(doc, opNode);
    if (!isObject(op) || !['send', 'receive'].includes(op.action)) {
      problems.push(`operation ${opKey}: action must be send or receive`);
      continue;
    }
    const channelRef = op.channel?.$ref;
    const channelMatch = typeof channelRef === 'string' && /^#\/channels\/([^/]+)$/.exec(channelRef);
    if (!channelMatch) {
      problems.push(`operation ${opKey}: channel must be a $ref to #/channels/<name>`);
      continue;
    }
    for (const m of op.messages || []) {
      const address = channelMessageRefs.get(m.$ref);
      if (address === undefined || !m.$ref.startsWith(`${channelRef}/messages/`)) {
        problems.push(`operation ${opKey}: message ${m.$ref} is not one of ${channelRef}'s messages`);
        continue;
      }
      (op.action === 'send' ? sentBy : receivedBy).add(m.$ref);
    }
  }
  for (const ref of channelMessageRefs.keys()) {
    if (!sentBy.has(ref)) problems.push(`no send operation has message ${ref}`);
    if (!receivedBy.has(ref)) problems.push(`no receive operation has message ${ref}`);
  }

  const contract = { problems, doc, channelsByAddress, typeInfo };
  if (problems.length > 0) return contract;

  // The examples are documentation consumers copy: they must pass the contract too. Each
  // on its own: they show alternative outcomes of one session, not one history.
  for (const info of typeInfo.values()) {
    for (const example of info.message.examples || []) {
      const headers = [];
      for (const [k, v] of Object.entries(example.headers || {})) headers.push(k, v);
      const checker = createChecker(contract, { partialHistory: true });
      checker.add({
        topic: info.address,
        partition: 0,
        offset: 0,
        key: example.payload?.subject ?? null,
        payload: JSON.stringify(example.payload),
        headers,
      });
      for (const r of checker.finish().records) {
        if (r.errors.length > 0) problems.push(`${info.where} example ${example.name}: ${r.errors.join('; ')}`);
      }
    }
  }
  return contract;
}

// ---- records -----------------------------------------------------------------------

// JSON with sorted keys: two payloads are "the same JSON" whatever their key order.
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

// Checks records one by one (add) and then across records (finish): the same id always
// carries the same JSON, a key lives on one partition, and per session the events follow
// the state machine. partialHistory: the topics may have lost their oldest records
// (retention), so a session's first event need not be checkout.session.created.
export function createChecker(contract, { partialHistory = false } = {}) {
  const records = [];
  const keyPartition = new Map(); // topic \0 key → { partition, where }
  const idPayload = new Map(); // topic \0 id → { json, where }
  const sessions = new Map(); // events: key (an object's id) → [{ offset, type, id, record }]
  const createCommands = new Set(); // subjects of create commands (sessions, products)
  const stats = { topics: new Map(), duplicates: 0, skipped: 0 };

  function add(envelope, lineNo) {
    const where =
      envelope && typeof envelope === 'object'
        ? `${envelope.topic}[${envelope.partition}]@${envelope.offset}`
        : `line ${lineNo}`;
    const record = { where, errors: [], type: null, key: envelope?.key ?? null };
    records.push(record);
    const fail = (...messages) => record.errors.push(...messages);
    if (!isObject(envelope)) {
      fail('not a kcat -J record');
      return record;
    }
    const channel = contract.channelsByAddress.get(envelope.topic);
    if (!channel) {
      fail(`topic ${envelope.topic} is not a channel address of the contract`);
      return record;
    }
    const topicStats = stats.topics.get(envelope.topic) || new Map();
    stats.topics.set(envelope.topic, topicStats);

    // Headers: kcat -J gives [name, value, name, value, …].
    const headerList = Array.isArray(envelope.headers) ? envelope.headers : [];
    const headers = {};
    const headerCount = {};
    for (let i = 0; i + 1 < headerList.length; i += 2) {
      const name = String(headerList[i]);
      headerCount[name] = (headerCount[name] || 0) + 1;
      if (!(name in headers)) headers[name] = headerList[i + 1];
    }
    if (
      channel.key === 'commands' &&
      headers[TEST_MALFORMED_HEADER] === TEST_MALFORMED_VALUE
    ) {
      record.skipped = true;
      stats.skipped++;
      return record;
    }

    let payload;
    try {
      payload = typeof envelope.payload === 'string' ? JSON.parse(envelope.payload) : undefined;
    } catch (e) {
      fail(`payload is not JSON: ${e.message}`);
      return record;
    }
    if (!isObject(payload)) {
      fail('payload is not a JSON object');
      return record;
    }
    const type = payload.type;
    const info = channel.types.get(type);
    if (!info) {
      const elsewhere = contract.typeInfo.get(type);
      fail(
        elsewhere
          ? `type ${type} belongs on topic ${elsewhere.address}, not ${envelope.topic}`
          : `unknown type ${JSON.stringify(type)} for topic ${envelope.topic}`,
      );
      return record;
    }
    record.type = type;
    topicStats.set(type, (topicStats.get(type) || 0) + 1);

    if (!info.payload(payload)) fail(...formatAjvErrors(info.payload.errors).map((l) => `payload ${l}`));
    if (!info.headers(headers)) fail(...formatAjvErrors(info.headers.errors).map((l) => `headers ${l}`));
    for (const [name, n] of Object.entries(headerCount)) {
      if (name === 'content-type' && n > 1) fail(`header content-type appears ${n} times`);
    }
    if (typeof envelope.key !== 'string') fail('record has no key');
    else if (!info.key(envelope.key)) fail(...formatAjvErrors(info.key.errors).map((l) => `key ${l}`));
    if (envelope.key !== payload.subject) fail(`key ${envelope.key} differs from subject ${payload.subject}`);

    const rules = CROSS_FIELD_RULES[type] || {};
    const data = isObject(payload.data) ? payload.data : {};
    if (rules.dataId && data[rules.dataId] !== payload.subject) {
      fail(`subject ${payload.subject} differs from data.${rules.dataId} ${data[rules.dataId]}`);
    }
    if (rules.tenant) {
      if (payload.organizationid !== data.organization_id) fail('organizationid differs from data.organization_id');
      if (payload.environment !== data.environment) fail('environment differs from data.environment');
    }
    if (rules.time) {
      const at = rules.time.split('.').reduce((o, k) => (isObject(o) ? o[k] : undefined), data);
      if (payload.time !== at) fail(`time ${payload.time} differs from data.${rules.time} ${at}`);
    }

    // Across records: same key → same partition; same id → same JSON.
    if (typeof envelope.key === 'string') {
      const k = `${envelope.topic}\0${envelope.key}`;
      const seen = keyPartition.get(k);
      if (!seen) keyPartition.set(k, { partition: envelope.partition, where });
      else if (seen.partition !== envelope.partition) fail(`key ${envelope.key} is also on partition ${seen.partition} (${seen.where})`);
    }
    if (typeof payload.id === 'string') {
      const k = `${envelope.topic}\0${payload.id}`;
      const json = canonical(payload);
      const seen = idPayload.get(k);
      if (!seen) idPayload.set(k, { json, where });
      else if (seen.json !== json) fail(`id ${payload.id} was already used with other JSON (${seen.where})`);
      else {
        record.duplicate = true;
        stats.duplicates++;
      }
    }
    if (CREATE_COMMANDS.has(type) && typeof payload.subject === 'string') createCommands.add(payload.subject);
    if (channel.key === 'events' && typeof envelope.key === 'string' && !record.duplicate) {
      const list = sessions.get(envelope.key) || [];
      sessions.set(envelope.key, list);
      list.push({ partition: envelope.partition, offset: Number(envelope.offset), type, record });
    }
    return record;
  }

  function finish() {
    // Per object, in offset order (one partition per key, checked above), its kind's
    // lifecycle: created first, then (a session) at most one of completed and expired.
    // Duplicates were left out. "Created first" is required of the objects whose create
    // command was read: a session can also have been written to PostgreSQL directly (test
    // fixtures seeding thousands of due sessions for the expiry worker), and then its first
    // event is expired; and a read of the events topic alone cannot tell the two apart.
    for (const [key, list] of sessions) {
      list.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
      const life = LIFECYCLES.find((l) => l.types.has(list[0].type));
      if (!life) continue;
      const kind = life.created.slice(0, life.created.lastIndexOf('.'));
      let terminal = null;
      list.forEach((ev, i) => {
        if (!life.types.has(ev.type)) {
          ev.record.errors.push(`${kind} ${key}: ${ev.type} is not an event of a ${kind}`);
        } else if (i === 0 && ev.type !== life.created && !partialHistory && createCommands.has(key)) {
          ev.record.errors.push(`${kind} ${key}: first event is ${ev.type}, not ${life.created}`);
        } else if (i > 0 && ev.type === life.created) {
          ev.record.errors.push(`${kind} ${key}: ${life.created} (another id) after ${list[0].type} (${list[0].record.where})`);
        } else if (terminal && !life.afterTerminal?.has(ev.type)) {
          // Nothing follows a terminal event (a canceled subscription stays canceled).
          ev.record.errors.push(`${kind} ${key}: ${ev.type} after ${terminal.type} (${terminal.record.where})`);
        } else if (life.terminal.has(ev.type)) {
          terminal = ev;
        }
      });
    }
    const passed = records.filter((r) => !r.skipped && r.errors.length === 0).length;
    const failed = records.filter((r) => r.errors.length > 0).length;
    return { records, passed, failed, stats };
  }

  return { add, finish };
}
