// The hosted checkout page in a real browser: Debian's chromium driven by playwright-core
// (executablePath, never a browser download), against the stack tests/browser/run.sh starts.
// A customer opens a session's `url`, changes the quantity, applies a coupon, fills the
// billing address and pays with the test provider's numbers; the merchant then sees the
// payment in GET /checkout-sessions/:id, on Kafka (kcat) and in a webhook whose signature
// is verified with the npm standardwebhooks library. Every state the page reaches is
// screenshotted into CAISSE_BROWSER_SCREENSHOTS, checked by axe-core (no serious or
// critical violation) and, opened afresh, weighed (HTML + CSS + JS, at most 30 KB, nothing
// from another origin). The form's ids and names are the ones fixed for the page (HOSTED.md,
// "The form"). Every scenario runs; CAISSE_BROWSER_ONLY=a,b runs those and names the others.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { Webhook } from 'standardwebhooks';

const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`browser: ${name} is not set (tests/browser/run.sh sets it)`);
    process.exit(2);
  }
  return v;
}
const GATEWAY = env('CAISSE_BROWSER_URL');
const API_KEY = env('CAISSE_BROWSER_API_KEY');
const DISPLAY_NAME = env('CAISSE_BROWSER_DISPLAY_NAME');
const RECEIVER = env('CAISSE_BROWSER_RECEIVER_URL');
const CHROMIUM = env('CAISSE_BROWSER_CHROMIUM');
const SHOTS = env('CAISSE_BROWSER_SCREENSHOTS');
const BROKERS = env('CAISSE_KAFKA_BROKERS');
const PAGE_WEIGHT_MAX = 30 * 1024; // issue 14: each page at most 30 KB transferred

// The test provider's numbers (README, "Hosted checkout").
const MOMO_OK = '+221700000001';
const MOMO_DECLINED = '+221700000002';
const MOMO_PENDING_OK = '+221700000003';
const CARD_OK = '4242424242424242';

const STATES = new Set(['open', 'processing', 'complete', 'expired']);

// ---- small tools ------------------------------------------------------------------------
class Failure extends Error {}
function check(cond, message) {
  if (!cond) throw new Failure(message);
}
function eq(actual, expected, what) {
  check(
    JSON.stringify(actual) === JSON.stringify(expected),
    `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
  );
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Digits only: amounts compare the same whatever the language's separators and symbol.
const digits = (text) => (text ?? '').replace(/[^0-9]/g, '');
// Every kind of space ICU uses (no-break, narrow no-break) as a plain one.
const spaces = (text) => (text ?? '').replace(/[\s\u00a0\u202f]+/g, ' ').trim();

async function until(what, timeoutMs, probe, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() >= deadline) throw new Failure(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

// ---- the merchant's API -------------------------------------------------------------------
async function api(method, route, body, headers = {}) {
  const res = await fetch(GATEWAY + route, {
    method,
    headers: {
      'x-api-key': API_KEY,
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON: the status says enough */
  }
  return { status: res.status, json, text, headers: res.headers };
}

// The session as the merchant reads it; with attempts, its payment attempts too
// (?expand=payment_attempts, oldest first).
async function getSession(id, attempts = false) {
  const route = `/checkout-sessions/${id}${attempts ? '?expand=payment_attempts' : ''}`;
  const r = await api('GET', route);
  eq(r.status, 200, `GET ${route} (${r.text})`);
  return r.json;
}

async function createSession(merchant, fields = {}) {
  const body = {
    amount: 5000,
    currency_code: 'XOF',
    customer_email: 'awa.diop@example.com',
    customer_name: 'Awa Diop',
    customer_phone: '+221770000000',
    title: 'Panier de mangues',
    description: 'Mangues Kent du Sénégal, 5 kg',
    success_url: `${merchant.url}/success?session={CHECKOUT_SESSION_ID}`,
    cancel_url: `${merchant.url}/cancel`,
    metadata: { suite: 'browser' },
    ...fields,
  };
  const r = await api('POST', '/checkout-sessions', body);
  check(r.status === 201 || r.status === 202, `create: ${r.status} ${r.text}`);
  const s = r.json;
  check(typeof s?.url === 'string', `create: no url in ${r.text}`);
  // The url carries the page's secret: /checkout/<id>/<secret>.
  const u = new URL(s.url);
  const parts = u.pathname.split('/');
  eq(parts.slice(0, 3), ['', 'checkout', s.checkout_session_id], 'url path');
  check(parts.length === 4 && /^[A-Za-z0-9_-]{32,}$/.test(parts[3]), `url has no page secret: ${s.url}`);
  if (r.status === 202) await until('the created session readable', 10000, async () => (await api('GET', `/checkout-sessions/${s.checkout_session_id}`)).status === 200);
  return s;
}

async function createCoupon(percentOff) {
  const code = `BRW${percentOff}${randomUUID().slice(0, 8).toUpperCase()}`;
  const r = await api('POST', '/coupons', { code, percent_off: percentOff });
  check(r.status === 201 || r.status === 202, `POST /coupons: ${r.status} ${r.text}`);
  return code;
}

// ---- a merchant site to come back to: success_url and cancel_url land here ---------------------
async function startMerchant() {
  const hits = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="en"><head><title>Merchant</title></head>' +
      `<body><main><h1>Merchant page ${req.url.replace(/[<>&"]/g, '')}</h1></main></body></html>`);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, hits, close: () => server.close() };
}

// ---- webhooks: one endpoint for the run, its deliveries verified here again ------------------
async function createWebhookEndpoint(events = ['checkout.session.completed']) {
  const wpath = `/wh/browser/${randomUUID()}`;
  const r = await api('POST', '/webhook-endpoints', {
    url: RECEIVER + wpath,
    enabled_events: events,
    description: 'browser tests',
  });
  eq(r.status, 201, `POST /webhook-endpoints (${r.text})`);
  const secret = r.json.secret;
  const c = await fetch(`${RECEIVER}/_control/secret`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ path: wpath, secret }),
  });
  eq(c.status, 200, 'receiver secret');
  return { path: wpath, secret };
}

async function completedWebhook(endpoint, sessionId, type = 'checkout.session.completed') {
  return until(`the ${type} webhook of ${sessionId}`, 30000, async () => {
    const r = await fetch(`${RECEIVER}/_control/requests?path=${encodeURIComponent(endpoint.path)}`);
    const records = await r.json();
    const mine = records.filter((rec) => {
      try {
        const b = JSON.parse(rec.body);
        return b.type === type && (b.data?.checkout_session_id ?? b.subject) === sessionId;
      } catch {
        return false;
      }
    });
    if (mine.length === 0) return null;
    const rec = mine[0];
    // Verified by the receiver, and here with this suite's own copy of standardwebhooks:
    // throws on a bad signature or a stale timestamp.
    check(rec.verified === true, `the receiver could not verify the webhook: ${rec.verify_errors}`);
    const headers = {
      'webhook-id': rec.headers['webhook-id'],
      'webhook-timestamp': rec.headers['webhook-timestamp'],
      'webhook-signature': rec.headers['webhook-signature'],
    };
    let body;
    try {
      body = new Webhook(endpoint.secret).verify(rec.body, headers);
    } catch (e) {
      throw new Failure(`standardwebhooks refuses the webhook of ${sessionId}: ${e.message}`);
    }
    // Retries of one event share its webhook-id: one event, however often delivered.
    const ids = new Set(mine.map((m) => m.headers['webhook-id']));
    eq(ids.size, 1, `distinct ${type} webhooks for ${sessionId}`);
    return body;
  }, 500);
}

// ---- Kafka: the events of a session, read with kcat --------------------------------------------
function kafkaEvents(sessionId) {
  const r = spawnSync('kcat', ['-C', '-b', BROKERS, '-t', 'checkout.session.events', '-o', 'beginning', '-e', '-J', '-q'], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  check(r.status === 0, `kcat could not read checkout.session.events from ${BROKERS}: ${r.stderr}`);
  const events = [];
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const rec = JSON.parse(line);
    if (rec.key !== sessionId) continue;
    events.push(JSON.parse(rec.payload));
  }
  return events;
}

async function completedEvent(sessionId) {
  return until(`the checkout.session.completed event of ${sessionId} on Kafka`, 30000, async () => {
    const completed = kafkaEvents(sessionId).filter((e) => e.type === 'checkout.session.completed');
    if (completed.length === 0) return null;
    // Redeliveries keep the event id: exactly one completion, whatever was retried.
    eq(new Set(completed.map((e) => e.id)).size, 1, `distinct completed events of ${sessionId}`);
    return completed[0];
  }, 1000);
}

// What the merchant must see of a paid session, in GET, the event and the webhook alike.
function checkPaid(s, want, where) {
  eq(s.checkout_session_id, want.id, `${where}: checkout_session_id`);
  eq(s.status, 'complete', `${where}: status`);
  eq(s.quantity, want.quantity, `${where}: quantity`);
  eq(s.amount_subtotal, want.subtotal, `${where}: amount_subtotal`);
  eq(s.amount_discount, want.discount, `${where}: amount_discount`);
  eq(s.amount_total, want.total, `${where}: amount_total`);
  eq(s.coupon?.code ?? null, want.coupon ?? null, `${where}: coupon.code`);
  if (want.billing) {
    check(s.billing_address && typeof s.billing_address === 'object', `${where}: billing_address is ${JSON.stringify(s.billing_address)}`);
    for (const [k, v] of Object.entries(want.billing)) eq(s.billing_address[k], v, `${where}: billing_address.${k}`);
  }
  const p = s.payment;
  check(p && typeof p === 'object', `${where}: payment is ${JSON.stringify(p)}`);
  eq(p.provider, 'test', `${where}: payment.provider`);
  eq(p.method, want.method, `${where}: payment.method`);
  eq(p.status, 'succeeded', `${where}: payment.status`);
  eq(p.amount, want.total, `${where}: payment.amount`);
  eq(p.currency_code, 'XOF', `${where}: payment.currency_code`);
  check(typeof p.reference === 'string' && p.reference.length > 0, `${where}: payment.reference`);
  check(typeof p.completed_at === 'string', `${where}: payment.completed_at`);
  // The full account number is never given back: the last 4 digits at most.
  check(!JSON.stringify(s).includes(want.account.replace('+', '')), `${where}: the account number ${want.account} appears in clear`);
}

async function checkMerchantSide(id, want, endpoint) {
  const s = await getSession(id, true);
  checkPaid(s, want, 'GET');
  check(Array.isArray(s.payment_attempts), `GET: payment_attempts is ${JSON.stringify(s.payment_attempts)}`);
  eq(s.payment_attempts.map((a) => a.status), want.attempts, 'GET: payment_attempts statuses (oldest first)');
  const ev = await completedEvent(id);
  eq(ev.subject, id, 'event subject');
  checkPaid(ev.data, want, 'Kafka event');
  const wh = await completedWebhook(endpoint, id);
  eq(wh.type, 'checkout.session.completed', 'webhook type');
  checkPaid(wh.data, want, 'webhook');
  return s;
}

// ---- the browser side -------------------------------------------------------------------------
const report = { axe: [], weights: [], shots: [] };

// A context whose pages record their JavaScript errors and the CSP's refusals: a page that
// breaks its own policy (an inline script or style) fails the scenario.
async function newContext(browser, t, options = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1024, height: 900 }, ...options });
  ctx.setDefaultTimeout(10000);
  t.contexts.push(ctx);
  ctx.on('page', (p) => watch(p, t));
  return ctx;
}
function watch(page, t) {
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) t.cspErrors.push(m.text());
  });
  page.on('pageerror', (e) => t.jsErrors.push(String(e)));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (!['http:', 'https:'].includes(u.protocol)) return;
    if (u.origin !== new URL(GATEWAY).origin && !t.allowedOrigins.has(u.origin)) t.thirdParty.push(r.url());
  });
}

async function state(page) {
  return page.locator('main').first().getAttribute('data-state', { timeout: 1000 });
}

// Opens url as a customer does; the page must answer 200 with HTML.
async function open(page, url, what) {
  const res = await page.goto(url);
  check(res !== null, `${what}: no answer for ${url}`);
  eq(res.status(), 200, `${what}: GET ${new URL(url).pathname}`);
  check((res.headers()['content-type'] ?? '').startsWith('text/html'), `${what}: Content-Type ${res.headers()['content-type']}`);
  return res;
}
async function expectState(page, want, what) {
  const got = await until(`${what}: main[data-state]`, 10000, async () => {
    const s = await state(page).catch(() => null);
    return STATES.has(s) ? s : null;
  });
  eq(got, want, `${what}: main[data-state]`);
  check(await page.locator('h1').first().isVisible(), `${what}: no visible h1`);
}

async function screenshot(page, t, label) {
  const file = path.join(SHOTS, `${t.name}--${String(++t.shot).padStart(2, '0')}-${label}.png`);
  await page.screenshot({ path: file, fullPage: true });
  report.shots.push(path.basename(file));
}

// axe-core in the page as it is: evaluated through the DevTools protocol, which the page's
// CSP does not govern. A page of a context without JavaScript cannot run it: its HTML, as
// the browser holds it, is checked in a JavaScript context with the page's scripts blocked
// (the same DOM, the same stylesheet).
async function axeCheck(page, t, label, jsEnabled) {
  let target = page;
  let scratch = null;
  if (!jsEnabled) {
    const html = await page.content();
    const url = page.url();
    scratch = await t.browser.newContext({ viewport: page.viewportSize() ?? { width: 1024, height: 900 } });
    await scratch.route('**/*', (route) => {
      const r = route.request();
      if (r.url() === url && r.resourceType() === 'document') return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html });
      if (r.resourceType() === 'script') return route.abort();
      return route.continue();
    });
    target = await scratch.newPage();
    await target.goto(url);
  }
  try {
    await target.evaluate(AXE_SOURCE);
    const result = await target.evaluate(() =>
      // eslint-disable-next-line no-undef
      axe.run(document, { resultTypes: ['violations'] }).then((r) =>
        r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) })),
      ),
    );
    report.axe.push({ scenario: t.name, state: label, violations: result });
    const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    check(bad.length === 0, `axe (${label}): ${bad.map((v) => `${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(', ')}`).join('; ')}`);
  } finally {
    if (scratch) await scratch.close();
  }
}

// The page at url opened afresh (empty cache, no cookie): every byte it transfers, HTML,
// CSS and JS (headers included), must stay under the target, and all from the gateway.
async function weigh(t, url, label, options = {}) {
  const ctx = await t.browser.newContext(options);
  try {
    const page = await ctx.newPage();
    const sizes = [];
    const foreign = [];
    page.on('requestfinished', async (r) => {
      const s = await r.sizes().catch(() => null);
      if (s) sizes.push({ url: r.url(), type: r.resourceType(), bytes: s.responseBodySize + s.responseHeadersSize });
    });
    page.on('request', (r) => {
      if (new URL(r.url()).origin !== new URL(GATEWAY).origin) foreign.push(r.url());
    });
    const res = await page.goto(url, { waitUntil: 'networkidle' });
    check(res !== null && res.status() === 200, `${label}: GET ${new URL(url).pathname} answered ${res?.status()} when weighed`);
    await sleep(200);
    const total = sizes.reduce((a, s) => a + s.bytes, 0);
    const byType = {};
    for (const s of sizes) byType[s.type] = (byType[s.type] ?? 0) + s.bytes;
    report.weights.push({ scenario: t.name, state: label, javascript: options.javaScriptEnabled !== false, bytes: total, by_type: byType, requests: sizes.length });
    check(foreign.length === 0, `${label}: requests to other origins: ${foreign.join(', ')}`);
    check(total <= PAGE_WEIGHT_MAX, `${label}: ${total} bytes transferred (target ${PAGE_WEIGHT_MAX}): ${JSON.stringify(byType)}`);
    return total;
  } finally {
    await ctx.close();
  }
}

// Everything a page in a state gets: a screenshot, axe, and its weight opened afresh.
async function inspect(page, t, label, jsEnabled, weighUrl = null, weighOptions = {}) {
  await screenshot(page, t, label);
  await axeCheck(page, t, label, jsEnabled);
  if (weighUrl) await weigh(t, weighUrl, label, { javaScriptEnabled: jsEnabled, ...weighOptions });
}

const form = (page, name) => page.locator(`#checkout-form [name="${name}"]`);

async function fillBilling(page, billing) {
  await form(page, 'line1').fill(billing.line1);
  await form(page, 'city').fill(billing.city);
  await form(page, 'postal_code').fill(billing.postal_code);
  await form(page, 'country').selectOption(billing.country);
}

async function choosePayment(page, method, account) {
  await page.locator(`#method-${method}`).check();
  await page.locator('#account').fill(account);
}

// Clicks a submit button and waits for the page that answers (a 303 somewhere, or the page
// again). When nothing is sent, says why if the browser's own form validation stopped it.
async function submit(page, selector) {
  try {
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.locator(selector).click()]);
  } catch (e) {
    const invalid = page.locator('#checkout-form :invalid');
    const names = [];
    for (let i = 0; i < (await invalid.count().catch(() => 0)); i++) names.push(await invalid.nth(i).getAttribute('name'));
    if (names.length) {
      throw new Failure(`clicking ${selector} sent nothing: the browser's form validation stopped it at the empty required field(s) ${names.join(', ')}` +
        (selector === '#pay' ? '' : ` (a button that only recomputes the order needs formnovalidate)`));
    }
    throw new Failure(`clicking ${selector}: no page came back (${e.message.split('\n')[0]})`);
  }
}
const pay = (page) => submit(page, '#pay');

async function totals(page) {
  const text = async (sel) => ((await page.locator(sel).count()) ? page.locator(sel).first().innerText() : null);
  return { line: digits(await text('#line-total')), discount: digits(await text('#discount')), total: digits(await text('#total')) };
}

function successUrl(merchant, id) {
  return `${merchant.url}/success?session=${id}`;
}
async function expectSuccessUrl(page, merchant, id, timeoutMs = 15000) {
  await page.waitForURL((u) => u.href.startsWith(`${merchant.url}/success`), { timeout: timeoutMs });
  eq(page.url(), successUrl(merchant, id), 'landed on success_url with {CHECKOUT_SESSION_ID} replaced');
}

const FRENCH = { locale: 'fr-FR', extraHTTPHeaders: { 'Accept-Language': 'fr-FR,fr;q=0.9,en;q=0.5' } };
const BILLING = { line1: '12 avenue Cheikh Anta Diop', city: 'Dakar', postal_code: '10700', country: 'SN' };

// ---- scenarios ----------------------------------------------------------------------------------
const scenarios = [];
const scenario = (name, what, fn) => scenarios.push({ name, what, fn });

scenario('pay', 'quantity, a 10 % coupon, billing address, the succeeding mobile money number: success_url, GET, Kafka, webhook', async (t) => {
  const coupon = await createCoupon(10);
  const s = await createSession(t.merchant, { allow_quantity: true, allow_coupon_code: true, require_billing_address: true });
  const ctx = await newContext(t.browser, t, { locale: 'en-US', extraHTTPHeaders: { 'Accept-Language': 'en-US,en;q=0.9' } });
  const page = await ctx.newPage();
  const res = await open(page, s.url, 'new session');
  const h = res.headers();
  check((h['content-security-policy'] ?? '').includes("frame-ancestors 'none'"), `CSP: ${h['content-security-policy']}`);
  eq(h['referrer-policy'], 'no-referrer', 'Referrer-Policy');
  check((h['cache-control'] ?? '').includes('no-store'), `Cache-Control: ${h['cache-control']}`);
  await expectState(page, 'open', 'new session');
  check(await page.getByText(DISPLAY_NAME).count() > 0, `the organization's display name "${DISPLAY_NAME}" is not on the page`);
  eq(await page.locator('html').getAttribute('lang'), 'en', 'html lang');
  eq(await page.locator('script:not([src])').count(), 0, 'inline scripts');
  eq(await page.locator('#cancel').getAttribute('href'), `${t.merchant.url}/cancel`, '#cancel href');
  eq(await form(page, 'email').inputValue(), 'awa.diop@example.com', 'email prefilled');
  eq(await form(page, 'name').inputValue(), 'Awa Diop', 'name prefilled');
  const opened = await totals(page);
  eq({ line: opened.line, total: opened.total }, { line: '5000', total: '5000' }, 'totals when opened');
  await inspect(page, t, 'open', true, s.url);

  // The live total (progressive JavaScript) is welcome, not required: the server's answer to
  // the coupon below is what counts.
  await page.locator('#quantity').fill('3');
  await page.locator('#quantity').dispatchEvent('change');
  await sleep(500);
  t.note(`live total after quantity 3: ${(await totals(page)).total === '15000' ? 'updated by checkout.js' : 'not updated before submit'}`);

  await page.locator('#coupon').fill(coupon.toLowerCase());
  await submit(page, '#apply-coupon');
  await expectState(page, 'open', 'coupon applied');
  eq(await page.locator('#quantity').inputValue(), '3', 'quantity kept after the update');
  eq(await totals(page), { line: '15000', discount: '1500', total: '13500' }, 'totals with quantity 3 and 10 % off');
  check((await page.locator('#coupon-message').innerText()).trim().length > 0, 'no #coupon-message for a valid code');
  await inspect(page, t, 'coupon-applied', true);

  // A narrow phone: nothing wider than the screen.
  const phone = await newContext(t.browser, t, { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, locale: 'en-US' });
  const small = await phone.newPage();
  await small.goto(page.url().split('?')[0]);
  const overflow = await small.evaluate(() => document.documentElement.scrollWidth);
  check(overflow <= 360, `on a 360 px wide screen the page is ${overflow} px wide`);
  await screenshot(small, t, 'open-360px');

  await fillBilling(page, BILLING);
  await choosePayment(page, 'mobile_money', MOMO_OK);
  await screenshot(page, t, 'filled');
  await pay(page);
  await expectSuccessUrl(page, t.merchant, s.checkout_session_id);

  const want = { id: s.checkout_session_id, quantity: 3, subtotal: 15000, discount: 1500, total: 13500, coupon, billing: BILLING, method: 'mobile_money', account: MOMO_OK, attempts: ['succeeded'] };
  await checkMerchantSide(s.checkout_session_id, want, t.endpoint);

  // The receipt, opened again from `url`.
  await open(page, s.url, 'the page');
  await expectState(page, 'complete', 'receipt');
  eq(digits(await page.locator('#total').innerText()), '13500', 'receipt total');
  eq(await page.locator('#continue').getAttribute('href'), successUrl(t.merchant, s.checkout_session_id), '#continue href');
  eq(await page.locator('#checkout-form').count(), 0, 'no form on the receipt');
  await inspect(page, t, 'complete', true, s.url);
});

scenario('declined-then-paid', 'a declined mobile money payment shows its reason (GET, a payment_failed event and webhook), then a card payment succeeds', async (t) => {
  const failedEndpoint = await createWebhookEndpoint(['checkout.session.payment_failed']);
  const s = await createSession(t.merchant, { amount: 2500 });
  const ctx = await newContext(t.browser, t, { locale: 'en-US' });
  const page = await ctx.newPage();
  await open(page, s.url, 'the page');
  await expectState(page, 'open', 'new session');
  eq(await page.locator('#quantity').count(), 0, 'no quantity field without allow_quantity');
  eq(await page.locator('#coupon').count(), 0, 'no coupon field without allow_coupon_code');
  eq(await form(page, 'line1').count(), 0, 'no billing address unless required');
  await choosePayment(page, 'mobile_money', MOMO_DECLINED);
  await pay(page);
  eq(new URL(page.url()).pathname, new URL(s.url).pathname, 'back on the page after a decline');
  await expectState(page, 'open', 'declined');
  const reason = (await page.locator('#payment-error').innerText()).trim();
  check(reason.length > 0, '#payment-error is empty');
  t.note(`decline reason shown: "${spaces(reason)}"`);
  await inspect(page, t, 'declined', true, s.url);
  let got = await getSession(s.checkout_session_id, true);
  eq(got.status, 'open', 'GET status after the decline');
  eq(got.payment, null, 'GET payment after the decline');
  eq((got.payment_attempts ?? []).map((a) => a.status), ['failed'], 'GET payment_attempts after the decline');
  eq(got.payment_attempts[0].failure_code, 'insufficient_funds', 'failure_code');
  // The merchant hears of the failure: one checkout.session.payment_failed event, and its webhook.
  const failed = await until(`the checkout.session.payment_failed event of ${s.checkout_session_id}`, 30000, async () => {
    const evs = kafkaEvents(s.checkout_session_id).filter((e) => e.type === 'checkout.session.payment_failed');
    return evs.length ? evs : null;
  }, 1000);
  eq(new Set(failed.map((e) => e.id)).size, 1, 'distinct payment_failed events');
  eq(failed[0].subject, s.checkout_session_id, 'payment_failed subject');
  const failedHook = await completedWebhook(failedEndpoint, s.checkout_session_id, 'checkout.session.payment_failed');
  check(!JSON.stringify(failedHook).includes(MOMO_DECLINED.replace('+', '')), 'the declined number appears in clear in the payment_failed webhook');

  await choosePayment(page, 'card', CARD_OK);
  await pay(page);
  await expectSuccessUrl(page, t.merchant, s.checkout_session_id);
  got = await checkMerchantSide(s.checkout_session_id, { id: s.checkout_session_id, quantity: 1, subtotal: 2500, discount: 0, total: 2500, method: 'card', account: CARD_OK, attempts: ['failed', 'succeeded'] }, t.endpoint);
});

scenario('pending', 'a pending mobile money payment: the page waits, then the payment completes by itself', async (t) => {
  const s = await createSession(t.merchant, { amount: 7000 });
  const ctx = await newContext(t.browser, t, { locale: 'en-US' });
  const page = await ctx.newPage();
  await open(page, s.url, 'the page');
  await expectState(page, 'open', 'new session');
  await choosePayment(page, 'mobile_money', MOMO_PENDING_OK);
  const started = Date.now();
  await pay(page);
  await expectState(page, 'processing', 'pending payment');
  check(await page.locator('#refresh').count() === 1, 'no #refresh link on the processing page');
  const pending = await getSession(s.checkout_session_id, true);
  eq(pending.status, 'open', 'GET status while pending');
  eq((pending.payment_attempts ?? []).map((a) => a.status), ['pending'], 'GET payment_attempts while pending');
  await inspect(page, t, 'processing', true, page.url());
  // Nothing is touched: the page's own JavaScript notices the payment settle.
  await until('the waiting page moves on by itself', 25000, async () => {
    if (page.url().startsWith(`${t.merchant.url}/success`)) return true;
    return (await state(page).catch(() => null)) === 'complete';
  }, 250);
  t.note(`settled and shown ${((Date.now() - started) / 1000).toFixed(1)} s after paying, as ${page.url().startsWith(t.merchant.url) ? 'success_url' : 'the receipt'}`);
  if (page.url().startsWith(t.merchant.url)) eq(page.url(), successUrl(t.merchant, s.checkout_session_id), 'success_url');
  else await inspect(page, t, 'complete-after-pending', true);
  await checkMerchantSide(s.checkout_session_id, { id: s.checkout_session_id, quantity: 1, subtotal: 7000, discount: 0, total: 7000, method: 'mobile_money', account: MOMO_PENDING_OK, attempts: ['succeeded'] }, t.endpoint);
});

scenario('expired', "an expired session's page: says so, no form, a link to cancel_url", async (t) => {
  const expiresAt = new Date(Date.now() + 3000).toISOString().replace(/\.\d+Z$/, 'Z');
  const s = await createSession(t.merchant, { amount: 1500, expires_at: expiresAt });
  await until('the session expired', 15000, async () => (await getSession(s.checkout_session_id)).status === 'expired', 500);
  const ctx = await newContext(t.browser, t, { locale: 'en-US' });
  const page = await ctx.newPage();
  await open(page, s.url, 'expired session');
  await expectState(page, 'expired', 'expired session');
  eq(await page.locator('#checkout-form').count(), 0, 'no form once expired');
  eq(await page.locator('#pay').count(), 0, 'no pay button once expired');
  eq(await page.locator('#cancel').getAttribute('href'), `${t.merchant.url}/cancel`, '#cancel href');
  await inspect(page, t, 'expired', true, s.url);
  await Promise.all([page.waitForURL(`${t.merchant.url}/cancel`), page.locator('#cancel').click()]);
});

scenario('no-javascript', 'the whole flow with JavaScript disabled: quantity, coupon, billing, card, success_url, GET, Kafka, webhook', async (t) => {
  const coupon = await createCoupon(10);
  const s = await createSession(t.merchant, { amount: 5000, allow_quantity: true, allow_coupon_code: true, require_billing_address: true });
  const ctx = await newContext(t.browser, t, { javaScriptEnabled: false, locale: 'en-US' });
  const page = await ctx.newPage();
  await open(page, s.url, 'the page');
  await expectState(page, 'open', 'new session (no JavaScript)');
  await inspect(page, t, 'open-nojs', false, s.url);
  await page.locator('#quantity').fill('2');
  await page.locator('#coupon').fill(coupon);
  await submit(page, '#apply-coupon');
  await expectState(page, 'open', 'coupon applied (no JavaScript)');
  eq(await totals(page), { line: '10000', discount: '1000', total: '9000' }, 'totals with quantity 2 and 10 % off');
  await inspect(page, t, 'coupon-applied-nojs', false);
  await fillBilling(page, BILLING);
  await choosePayment(page, 'card', CARD_OK);
  await pay(page);
  await expectSuccessUrl(page, t.merchant, s.checkout_session_id);
  await checkMerchantSide(s.checkout_session_id, { id: s.checkout_session_id, quantity: 2, subtotal: 10000, discount: 1000, total: 9000, coupon, billing: BILLING, method: 'card', account: CARD_OK, attempts: ['succeeded'] }, t.endpoint);
  await open(page, s.url, 'the page');
  await expectState(page, 'complete', 'receipt (no JavaScript)');
  await inspect(page, t, 'complete-nojs', false, s.url);
  await Promise.all([page.waitForURL((u) => u.href.startsWith(`${t.merchant.url}/success`)), page.locator('#continue').click()]);
});

scenario('no-javascript-pending', 'JavaScript disabled: a pending payment, followed with the refresh link until it completes', async (t) => {
  const s = await createSession(t.merchant, { amount: 3000 });
  const ctx = await newContext(t.browser, t, { javaScriptEnabled: false, locale: 'en-US' });
  const page = await ctx.newPage();
  await open(page, s.url, 'the page');
  await choosePayment(page, 'mobile_money', MOMO_PENDING_OK);
  await pay(page);
  await expectState(page, 'processing', 'pending payment (no JavaScript)');
  await inspect(page, t, 'processing-nojs', false, page.url());
  // The customer follows the refresh link (the page may also reload itself with a meta
  // refresh, which needs no JavaScript either; the link is followed at least once).
  let clicks = 0;
  await until('the refresh link shows the payment done', 25000, async () => {
    if (page.url().startsWith(`${t.merchant.url}/success`)) return true;
    const st = await state(page).catch(() => null);
    if (st === 'complete') return true;
    if (st === 'processing' && (await page.locator('#refresh').count()) === 1) {
      clicks++;
      await Promise.all([page.waitForNavigation({ timeout: 5000 }), page.locator('#refresh').click({ timeout: 2000 })]).catch(() => {});
    }
    return false;
  }, 1500);
  check(clicks > 0, 'the refresh link was never followed');
  t.note(`refresh link followed ${clicks} time(s)`);
  if (!page.url().startsWith(t.merchant.url)) {
    await inspect(page, t, 'complete-after-refresh-nojs', false);
    await Promise.all([page.waitForURL((u) => u.href.startsWith(`${t.merchant.url}/success`)), page.locator('#continue').click()]);
  }
  eq(page.url(), successUrl(t.merchant, s.checkout_session_id), 'success_url');
  await checkMerchantSide(s.checkout_session_id, { id: s.checkout_session_id, quantity: 1, subtotal: 3000, discount: 0, total: 3000, method: 'mobile_money', account: MOMO_PENDING_OK, attempts: ['succeeded'] }, t.endpoint);
});

scenario('french', 'Accept-Language fr: French text and amounts; the lang switch to English and back; a declined then paid payment in French', async (t) => {
  const s = await createSession(t.merchant, { amount: 5000, allow_coupon_code: true });
  const ctx = await newContext(t.browser, t, FRENCH);
  const page = await ctx.newPage();
  const res = await open(page, s.url, 'French page');
  eq(await page.locator('html').getAttribute('lang'), 'fr', 'html lang with Accept-Language fr');
  check((res.headers()['content-language'] ?? '').startsWith('fr'), `Content-Language: ${res.headers()['content-language']}`);
  await expectState(page, 'open', 'French page');
  const frTotal = spaces(await page.locator('#total').innerText());
  check(/5 000 F ?CFA/.test(frTotal), `French total "${frTotal}" is not "5 000 F CFA"`);
  const frPay = spaces(await page.locator('#pay').innerText());
  await inspect(page, t, 'open-fr', true, s.url, FRENCH);

  // The switch: a link on the page, whatever the browser asks for.
  const toEn = page.locator('a[href*="lang=en"]');
  check(await toEn.count() > 0, 'no link to the English page (lang=en)');
  await Promise.all([page.waitForNavigation(), toEn.first().click()]);
  eq(await page.locator('html').getAttribute('lang'), 'en', 'html lang after the switch to English');
  const enTotal = spaces(await page.locator('#total').innerText());
  check(/5,000/.test(enTotal), `English total "${enTotal}" is not formatted 5,000`);
  const enPay = spaces(await page.locator('#pay').innerText());
  check(enPay !== frPay, `the pay button says "${enPay}" in both languages`);
  await screenshot(page, t, 'open-en-switched');
  const toFr = page.locator('a[href*="lang=fr"]');
  check(await toFr.count() > 0, 'no link back to the French page (lang=fr)');
  await Promise.all([page.waitForNavigation(), toFr.first().click()]);
  eq(await page.locator('html').getAttribute('lang'), 'fr', 'html lang after switching back');

  // A submit keeps the language (the form's hidden lang), and messages are French.
  await page.locator('#coupon').fill('NOPE-NOT-A-COUPON');
  await submit(page, '#apply-coupon');
  eq(await page.locator('html').getAttribute('lang'), 'fr', 'html lang after a submit');
  const couponMsg = spaces(await page.locator('#coupon-message').innerText());
  check(couponMsg.length > 0, 'no #coupon-message for an unknown code');
  t.note(`unknown coupon, in French: "${couponMsg}"`);
  await inspect(page, t, 'coupon-unknown-fr', true);
  await page.locator('#coupon').fill('');
  await choosePayment(page, 'mobile_money', MOMO_DECLINED);
  await pay(page);
  eq(await page.locator('html').getAttribute('lang'), 'fr', 'html lang after a declined payment');
  const reason = spaces(await page.locator('#payment-error').innerText());
  check(reason.length > 0, '#payment-error is empty');
  t.note(`decline reason, in French: "${reason}"`);
  await inspect(page, t, 'declined-fr', true);
  await choosePayment(page, 'mobile_money', MOMO_OK);
  await pay(page);
  await expectSuccessUrl(page, t.merchant, s.checkout_session_id);
  await open(page, s.url, 'the page');
  await expectState(page, 'complete', 'French receipt');
  eq(await page.locator('html').getAttribute('lang'), 'fr', 'html lang of the receipt');
  check(/5 000 F ?CFA/.test(spaces(await page.locator('#total').innerText())), 'French receipt total');
  await inspect(page, t, 'complete-fr', true, s.url, FRENCH);
});

// ---- the runner ---------------------------------------------------------------------------------
async function main() {
  const only = (process.env.CAISSE_BROWSER_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of only) {
    if (!scenarios.some((s) => s.name === n)) {
      console.error(`browser: no scenario "${n}" (${scenarios.map((s) => s.name).join(', ')})`);
      process.exit(2);
    }
  }
  const selected = only.length ? scenarios.filter((s) => only.includes(s.name)) : scenarios;
  const left = scenarios.filter((s) => !selected.includes(s)).map((s) => s.name);
  if (left.length) console.log(`# CAISSE_BROWSER_ONLY: not running ${left.join(', ')}`);

  fs.mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM });
  console.log(`# ${browser.version()} (${CHROMIUM}), playwright-core, axe-core ${JSON.parse(fs.readFileSync(require.resolve('axe-core/package.json'))).version}`);
  const merchant = await startMerchant();
  const endpoint = await createWebhookEndpoint();
  const results = [];
  for (const sc of selected) {
    const t = {
      name: sc.name, browser, merchant, endpoint, contexts: [], shot: 0, notes: [],
      cspErrors: [], jsErrors: [], thirdParty: [], allowedOrigins: new Set([merchant.url]),
      note(s) { this.notes.push(s); },
    };
    const t0 = Date.now();
    let error = null;
    try {
      await sc.fn(t);
      check(t.cspErrors.length === 0, `the page broke its Content-Security-Policy: ${t.cspErrors.join(' | ')}`);
      check(t.jsErrors.length === 0, `JavaScript errors on the page: ${t.jsErrors.join(' | ')}`);
      check(t.thirdParty.length === 0, `requests to other origins: ${t.thirdParty.join(', ')}`);
    } catch (e) {
      error = e;
      for (const ctx of t.contexts) {
        for (const p of ctx.pages()) await screenshot(p, t, 'FAILED').catch(() => {});
      }
    }
    for (const ctx of t.contexts) await ctx.close().catch(() => {});
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    for (const n of t.notes) console.log(`#   ${sc.name}: ${n}`);
    if (error) {
      const why = error instanceof Failure ? error.message : (error.stack ?? String(error)).split('\n').slice(0, 4).join('\n#     ');
      console.log(`not ok - ${sc.name} (${secs} s): ${sc.what}\n#     ${why}`);
    } else {
      console.log(`ok - ${sc.name} (${secs} s): ${sc.what}`);
    }
    results.push({ name: sc.name, ok: !error, seconds: Number(secs), error: error ? String(error.message ?? error) : null, notes: t.notes });
  }
  merchant.close();
  await browser.close();
  fs.writeFileSync(path.join(SHOTS, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  fs.writeFileSync(path.join(SHOTS, 'axe.json'), JSON.stringify(report.axe, null, 2) + '\n');
  fs.writeFileSync(path.join(SHOTS, 'weights.json'), JSON.stringify(report.weights, null, 2) + '\n');
  const failed = results.filter((r) => !r.ok);
  console.log(`# browser: ${results.length - failed.length} passed, ${failed.length} failed of ${results.length}; ${report.shots.length} screenshots in ${SHOTS}`);
  for (const w of report.weights) console.log(`#   weight ${w.scenario}/${w.state}${w.javascript ? '' : ' (no JavaScript)'}: ${w.bytes} bytes ${JSON.stringify(w.by_type)}`);
  process.exit(failed.length ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
