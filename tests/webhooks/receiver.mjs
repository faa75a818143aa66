// Webhook receiver for caisse's integration tests: an independent verification client.
//
//   node receiver.mjs <port>        (or WEBHOOK_RECEIVER_PORT=<port>; listens on 127.0.0.1)
//
// Every request to any path outside /_control/ is recorded in memory (path, method,
// headers, raw body, time) and its signature is verified with the npm `standardwebhooks`
// library, Webhook(secret).verify(body, headers), against every secret registered for
// that path, so our signing code is checked by code that is not ours. The answer depends
// on the behaviour configured for the path. Control API (JSON):
//
//   POST /_control/secret    {path, secret}            adds a secret (several: rotation)
//   POST /_control/behavior  {path, behavior, delay_ms?}
//        ok (200) | fail-twice (500, 500, then 200, counted per webhook-id) | gone (410)
//        | timeout (sleeps longer than the worker's timeout, then 200) | redirect (302)
//        | fail (500 always) | slow (sleeps delay_ms, default 1000, then 200)
//        | endless (200, then a body that never ends, written as fast as the client
//          reads, until it closes the connection: body_bytes_sent, body_closed_at_ms)
//   GET  /_control/requests?path=P   the records of P (every path without ?path)
//   GET  /_control/health            200 once listening
import http from 'node:http';
import { Webhook } from 'standardwebhooks';

const port = Number(process.argv[2] ?? process.env.WEBHOOK_RECEIVER_PORT);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node receiver.mjs <port> (or WEBHOOK_RECEIVER_PORT)');
  process.exit(2);
}
// "timeout" must outlast the worker's request timeout (the test stack sets it short).
const workerTimeoutMs = Number(process.env.CAISSE_WEBHOOK_TIMEOUT_MS ?? 15000);
const timeoutSleepMs = workerTimeoutMs + 3000;

const secrets = new Map(); // path -> [secret, ...]
const behaviors = new Map(); // path -> {behavior, delay_ms}
const failures = new Map(); // path + ' ' + webhook-id -> answers given so far
const records = []; // in arrival order
let seq = 0;

const BEHAVIORS = new Set(['ok', 'fail-twice', 'gone', 'timeout', 'redirect', 'fail', 'slow', 'endless']);

function send(res, status, body, headers = {}) {
  if (res.destroyed || res.writableEnded) return;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(text);
}

function verify(path, raw, headers) {
  const list = secrets.get(path) ?? [];
  const verifiedWith = [];
  const errors = [];
  list.forEach((secret, i) => {
    try {
      new Webhook(secret).verify(raw, headers);
      verifiedWith.push(i);
    } catch (e) {
      errors.push(`secret ${i}: ${e.message}`);
    }
  });
  if (list.length === 0) errors.push('no secret registered for this path');
  return { verified: verifiedWith.length > 0, verified_with: verifiedWith, verify_errors: errors };
}

function control(req, res, url, raw) {
  if (req.method === 'GET' && url.pathname === '/_control/health') return send(res, 200, { ok: true });
  if (req.method === 'GET' && url.pathname === '/_control/requests') {
    const path = url.searchParams.get('path');
    return send(res, 200, path === null ? records : records.filter((r) => r.path === path));
  }
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    return send(res, 400, { error: 'body must be JSON' });
  }
  if (typeof body?.path !== 'string' || !body.path.startsWith('/') || body.path.startsWith('/_control/'))
    return send(res, 400, { error: 'path must be a string starting with / outside /_control/' });
  if (req.method === 'POST' && url.pathname === '/_control/secret') {
    if (typeof body.secret !== 'string' || body.secret === '') return send(res, 400, { error: 'secret is required' });
    try {
      new Webhook(body.secret); // a malformed secret is the test's mistake: say so now
    } catch (e) {
      return send(res, 400, { error: `bad secret: ${e.message}` });
    }
    const list = secrets.get(body.path) ?? [];
    if (!list.includes(body.secret)) list.push(body.secret);
    secrets.set(body.path, list);
    return send(res, 200, { path: body.path, secrets: list.length });
  }
  if (req.method === 'POST' && url.pathname === '/_control/behavior') {
    if (!BEHAVIORS.has(body.behavior)) return send(res, 400, { error: `unknown behavior ${body.behavior}` });
    behaviors.set(body.path, { behavior: body.behavior, delay_ms: Number(body.delay_ms ?? 1000) });
    return send(res, 200, { path: body.path, behavior: body.behavior });
  }
  return send(res, 404, { error: 'unknown control route' });
}

function answer(res, record) {
  const { behavior, delay_ms: delayMs } = behaviors.get(record.path) ?? { behavior: 'ok', delay_ms: 0 };
  const reply = (status, text, headers) => {
    // A client that left first (its timeout, or a worker killed mid-request) never got
    // an answer: response_status stays null and client_gone says why.
    if (res.destroyed || res.writableEnded) {
      record.client_gone = true;
      return;
    }
    record.response_status = status;
    send(res, status, text, headers);
  };
  switch (behavior) {
    case 'fail-twice': {
      const k = `${record.path} ${record.headers['webhook-id'] ?? ''}`;
      const n = (failures.get(k) ?? 0) + 1;
      failures.set(k, n);
      if (n <= 2) return reply(500, { error: `fail-twice: failure ${n} of 2` });
      return reply(200, { ok: true, after_failures: 2 });
    }
    case 'gone':
      return reply(410, { error: 'gone' });
    case 'redirect':
      return reply(302, { error: 'moved' }, { location: `${record.path}/moved` });
    case 'fail':
      return reply(500, { error: 'fail' });
    case 'timeout':
      return setTimeout(() => reply(200, { ok: true, late: true }), timeoutSleepMs);
    case 'slow':
      return setTimeout(() => reply(200, { ok: true, slow: true }), delayMs);
    case 'endless': {
      record.response_status = 200;
      record.body_bytes_sent = 0;
      record.body_closed_at_ms = null;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.on('close', () => {
        record.body_closed_at_ms = Date.now();
      });
      const chunk = Buffer.alloc(16384, 'x');
      const pump = () => {
        // write() says false once its buffer is full: go on when the client has read it.
        while (!res.destroyed && !res.writableEnded) {
          record.body_bytes_sent += chunk.length;
          if (!res.write(chunk)) return res.once('drain', pump);
        }
      };
      return pump();
    }
    default:
      return reply(200, { ok: true });
  }
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url, 'http://receiver');
    if (url.pathname.startsWith('/_control/')) return control(req, res, url, raw.toString('utf8'));
    const record = {
      seq: ++seq,
      received_at_ms: Date.now(),
      method: req.method,
      path: url.pathname,
      query: url.search,
      headers: req.headers, // lower-cased by node; repeated headers joined
      body: raw.toString('utf8'),
      response_status: null, // set when answered (stays null if the client left first)
      client_gone: false,
    };
    Object.assign(record, verify(record.path, raw, req.headers));
    records.push(record);
    answer(res, record);
  });
  req.on('error', () => {});
  res.on('error', () => {});
});
server.keepAliveTimeout = 5000;
server.listen(port, '127.0.0.1', () => {
  console.log(`webhook receiver listening on http://127.0.0.1:${port}`);
});
function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections?.(); // sleeping "timeout" answers must not hold the exit
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
