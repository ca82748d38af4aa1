// The page at /ui/ in a real browser (Debian's chromium, driven by
// playwright-core): no key shows no data, a wrong key a clear message; with
// the key, a completed and a declined order placed through the form reach
// their final state on the timeline with the right lanes, the declined one
// with a compensation marked. Screenshots go to SHOTS (docs/img by default).
// Prints "N passed, N failed".
import { chromium } from 'playwright-core';

const base = process.env.GATEWAY_URL;
const key = process.env.API_KEY;
const shots = process.env.SHOTS || 'docs/img';
let passed = 0, failed = 0;

function check(ok, what) {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
// Script errors and policy violations, all along; other console errors
// (a refused request logs one) once the right key is in.
const problems = [];
let keyed = false;
page.on('console', (m) => {
  const text = m.text();
  if (m.type() === 'error' && (keyed || /Content Security Policy|Refused to/.test(text))) problems.push(text);
});
page.on('pageerror', (e) => problems.push(String(e)));

async function place(preset) {
  await page.click(`button[data-preset="${preset}"]`);
  const before = await page.textContent('#place-result');
  await page.click('#place-order');
  await page.waitForFunction((b) => {
    const t = document.getElementById('place-result').textContent;
    return t !== b && t !== 'placing…';
  }, before);
  const text = await page.textContent('#place-result');
  const id = await page.getAttribute('#place-result', 'data-order');
  check(text.startsWith('202 Accepted'), `${preset}: the form's order was accepted (${text})`);
  return id;
}

async function finalState(id, status) {
  try {
    await page.waitForFunction(([s]) =>
      document.getElementById('timeline-state').dataset.status === s, [status], { timeout: 60000 });
  } catch (e) { /* reported below */ }
  const shown = await page.getAttribute('#timeline-state', 'data-status');
  check(shown === status, `order ${id}: the timeline reaches ${status} (shows ${shown})`);
}

async function lanesOf() {
  return page.$$eval('#lanes g.event', (els) => els.map((e) => [e.dataset.lane, e.dataset.event,
    e.classList.contains('compensation')]));
}

try {
  // 1. No key: no data.
  const res = await page.goto(`${base}/ui/`);
  const csp = res.headers()['content-security-policy'] || '';
  check(csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'),
    `the page is served with a strict Content-Security-Policy (${csp.slice(0, 60)}…)`);
  check(await page.isHidden('#app'), 'without a key the page shows no data');
  check((await page.textContent('#message')).includes('No API key'), 'without a key it asks for one');

  // 2. A wrong key: a clear message, still no data.
  await page.fill('#key', 'not-the-key-0000');
  await page.click('#key-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('message').textContent.includes('401'));
  check(await page.isHidden('#app'), 'a wrong key shows no data');
  check((await page.textContent('#message')).includes('refused'),
    `a wrong key gets a clear message: "${await page.textContent('#message')}"`);

  // The page asks three things at once with the wrong key: the other two
  // refusals may still be on their way (and log) after the message shows.
  await page.waitForLoadState('networkidle');

  // 3. The key: the page, the live stream, the overview.
  keyed = true;
  await page.fill('#key', key);
  await page.click('#key-form button[type=submit]');
  await page.waitForSelector('#app:not([hidden])');
  await page.waitForFunction(() => document.getElementById('stream-state').classList.contains('on'),
    null, { timeout: 15000 }).catch(() => {});
  check(await page.$eval('#stream-state', (e) => e.classList.contains('on')), 'the event stream is live');
  await page.waitForSelector('#groups tbody tr', { timeout: 10000 }).catch(() => {});
  const groups = await page.$$eval('#groups tbody tr', (rows) => rows.map((r) => r.dataset.group));
  check(['order', 'payment', 'inventory', 'shipping', 'notification', 'gateway'].every((g) => groups.includes(g)),
    `the overview lists every consumer group (${groups.join(', ')})`);

  // 4. A completed order through the form.
  const ok = await place('completed');
  await finalState(ok, 'COMPLETED');
  let events = await lanesOf();
  const lanes = new Set(events.map((e) => e[0]));
  check(['gateway', 'order', 'payment', 'inventory', 'shipping', 'notification'].every((l) => lanes.has(l)),
    `the completed order has events in every lane (${[...lanes].join(', ')})`);
  check(events.some((e) => e[1] === 'OrderCompleted' && e[0] === 'order'), 'OrderCompleted is in the order lane');
  check(!events.some((e) => e[2]), 'the completed order has no compensation');
  const links = await page.$$eval('#lanes path.link', (p) => p.length);
  check(links >= events.length - 2, `causation links join the events (${links} links, ${events.length} events)`);
  check(await page.$(`#orders tr[data-order="${ok}"][data-status="COMPLETED"]`) !== null,
    'the recent orders show it COMPLETED (live)');
  await page.screenshot({ path: `${shots}/ui-completed.png`, fullPage: true });

  // 5. A declined order: cancelled, its reservation released (a compensation).
  const no = await place('declined');
  await finalState(no, 'CANCELLED');
  await page.waitForFunction(() => document.querySelector('#lanes g.event.compensation'),
    null, { timeout: 20000 }).catch(() => {});
  events = await lanesOf();
  check(events.some((e) => e[1] === 'PaymentFailed' && e[0] === 'payment'), 'PaymentFailed is in the payment lane');
  check(events.some((e) => e[2] && e[1] === 'InventoryReleased'),
    'the declined order shows its compensation (InventoryReleased) marked');
  check((await page.textContent('#timeline-state')).includes('PAYMENT_DECLINED'), 'the final state names the reason');
  await page.screenshot({ path: `${shots}/ui-declined.png`, fullPage: true });
  await page.locator('#timeline').screenshot({ path: `${shots}/ui-timeline.png` });
  check(problems.length === 0, `no script error or policy violation in the console (${problems.join(' | ')})`);
} catch (e) {
  check(false, `the browser test stopped: ${e.message}`);
} finally {
  await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
