// app.js - the page: the key, the order form with a preset for every path
// of the saga, recent orders kept live by the event stream, one order's
// timeline, and the overview.
import { apiKey, setApiKey, call, ApiError } from './api.js';
import { openStream } from './stream.js';
import { renderTimeline } from './timeline.js';
import { renderOverview } from './overview.js';

const $ = (id) => document.getElementById(id);
const RANK = { PENDING: 0, CONFIRMED: 2, COMPLETED: 3, CANCELLED: 3 };
// What the page asks the stream for: the events that move an order's
// status (for the list), and every event of the order on the timeline.
// An order first shows with OrderCreated (its total), or with
// OrderCancelled when the order service refused it.
const STATUS_EVENTS = 'OrderCreated,OrderConfirmed,OrderCompleted,OrderCancelled';
// The brief form is what the table needs: the timeline is read from GET /v1/orders/{id}.
const MAX_ROWS = 50;

// Order ids are time-ordered UUIDs (version 7): their first 48 bits are
// when the gateway accepted the order, in ms. So ids sort by age, and the
// time is read from the id.
const requestedAt = (id) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);

const orders = new Map(); // order_id -> row data, newest first in the table
const rows = () => $('orders').querySelector('tbody');
let selected = null, stream = null, overviewTimer = null, refetch = null;

function message(text) {
  $('message').textContent = text || '';
  $('message').hidden = !text;
}

function fail(e) {
  message(e instanceof ApiError ? e.message : String(e));
  if (e.status === 401) stop();
}

// --- recent orders -------------------------------------------------------

function row(o) {
  let tr = document.querySelector(`#orders tr[data-order="${CSS.escape(o.order_id)}"]`);
  if (!tr) {
    tr = document.createElement('tr');
    tr.dataset.order = o.order_id;
    for (let i = 0; i < 4; i++) tr.append(document.createElement('td'));
    tr.addEventListener('click', () => select(o.order_id));
    const body = rows();
    // newest first: before the first row of an older order
    const older = [...body.children].find((r) => r.dataset.order < o.order_id);
    body.insertBefore(tr, older || null);
    while (body.children.length > MAX_ROWS) {
      orders.delete(body.lastElementChild.dataset.order);
      body.lastElementChild.remove();
    }
  }
  const cells = tr.children;
  cells[0].textContent = `…${o.order_id.slice(-8)}`;
  cells[0].title = o.order_id;
  cells[1].textContent = o.status + (o.cancel_reason ? ` (${o.cancel_reason})` : '');
  cells[1].className = `status ${o.status.toLowerCase()}`;
  tr.dataset.status = o.status;
  cells[2].textContent = o.total_cents === undefined ? '' : (o.total_cents / 100).toFixed(2);
  const at = requestedAt(o.order_id);
  cells[3].textContent = Number.isNaN(at) ? '' : new Date(at).toLocaleTimeString();
  tr.classList.toggle('selected', o.order_id === selected);
}

function update(o) {
  const had = orders.get(o.order_id);
  const merged = { ...had, ...o };
  if (had && RANK[had.status] > RANK[o.status]) merged.status = had.status; // never moves back
  orders.set(o.order_id, merged);
  row(merged);
}

async function loadRecent() {
  const page = await call('GET', '/v1/orders?limit=50');
  rows().replaceChildren();
  orders.clear();
  for (const o of page.items.slice().reverse()) update(o);
}

// --- one order's timeline --------------------------------------------------

async function select(id) {
  selected = id;
  document.querySelectorAll('#orders tr').forEach((tr) => tr.classList.toggle('selected', tr.dataset.order === id));
  $('timeline-title').textContent = id;
  if (stream) stream.refilter();
  await drawTimeline();
}

async function drawTimeline() {
  if (!selected) return;
  try {
    const o = await call('GET', `/v1/orders/${encodeURIComponent(selected)}`);
    renderTimeline($('lanes'), o, $('timeline-state'));
    update({ order_id: o.order_id, status: o.status, total_cents: o.total_cents, cancel_reason: o.cancel_reason });
  } catch (e) {
    if (e.status === 404) $('timeline-state').textContent = 'not in the read model yet';
    else fail(e);
  }
}

// --- the event stream ----------------------------------------------------------

// Whether an order not in the table belongs in it: the table has room, or
// the order is newer than its oldest row (an event of an order that left
// the table does not bring it back).
function isRecent(id) {
  const body = rows();
  return body.children.length < MAX_ROWS || body.lastElementChild.dataset.order < id;
}

function onEvent(ev) {
  const o = { order_id: ev.order_id };
  if (ev.status) o.status = ev.status;
  if (ev.total_cents !== undefined) o.total_cents = ev.total_cents;
  if (ev.reason) o.cancel_reason = ev.reason;
  if (orders.has(ev.order_id) || isRecent(ev.order_id)) update({ status: 'PENDING', ...orders.get(ev.order_id), ...o });
  if (ev.order_id === selected) {
    clearTimeout(refetch);
    refetch = setTimeout(drawTimeline, 150);
  }
}

function onState(state, text) {
  $('stream-state').className = `state ${state}`;
  $('stream-state').textContent = `stream: ${text}`;
  if (state === 'refused') fail(new ApiError(401, 'The API key was refused (401): check the key and enter it again.'));
}

// --- the overview ----------------------------------------------------------------

async function refreshOverview() {
  try {
    renderOverview(await call('GET', '/v1/overview'), { states: $('states'), rates: $('rates'), groups: $('groups') });
  } catch (e) {
    fail(e);
  }
}

// --- placing orders ---------------------------------------------------------------

const PRESETS = {
  completed: { customer: 'ui-customer', address: '1 Main St', product: null, quantity: 1, cancel: false },
  declined: { customer: 'declined-ui-customer', address: '1 Main St', product: null, quantity: 1, cancel: false },
  stock: { customer: 'ui-customer', address: '1 Main St', product: 'p-sold-out', quantity: 1, cancel: false },
  undeliverable: { customer: 'ui-customer', address: '9 undeliverable Rd', product: null, quantity: 1, cancel: false },
  cancelled: { customer: 'ui-customer', address: '1 Main St', product: null, quantity: 1, cancel: true },
};

function preset(name) {
  const p = PRESETS[name];
  $('customer').value = p.customer;
  $('address').value = p.address;
  $('quantity').value = p.quantity;
  $('cancel-after').checked = p.cancel;
  const select = $('product');
  if (p.product && ![...select.options].some((o) => o.value === p.product)) {
    select.append(new Option(`${p.product} (no stock)`, p.product));
  }
  // The presets that should go through take the best-stocked product.
  const stocked = [...select.options].filter((o) => o.dataset.available)
    .sort((a, b) => Number(b.dataset.available) - Number(a.dataset.available))[0];
  select.value = p.product || (stocked && stocked.value);
}

async function loadProducts() {
  const page = await call('GET', '/v1/products?limit=20');
  const select = $('product');
  select.replaceChildren(...page.items.map((p) => {
    const o = new Option(`${p.product_id} ${p.name} (${(p.price_cents / 100).toFixed(2)} ${p.currency})`, p.product_id);
    o.dataset.available = p.available || 0;
    return o;
  }));
}

async function placeOrder(event) {
  event.preventDefault();
  const body = {
    customer_id: $('customer').value,
    currency: 'EUR',
    shipping_address: $('address').value,
    items: [{ product_id: $('product').value, quantity: Number($('quantity').value) }],
  };
  $('place-result').textContent = 'placing…';
  try {
    const o = await call('POST', '/v1/orders', body);
    update({ order_id: o.order_id, status: o.status });
    $('place-result').textContent = `202 Accepted: ${o.order_id}`;
    $('place-result').dataset.order = o.order_id;
    await select(o.order_id);
    if ($('cancel-after').checked) {
      await call('POST', `/v1/orders/${encodeURIComponent(o.order_id)}/cancel`);
      $('place-result').textContent += ' (cancellation requested)';
    }
  } catch (e) {
    $('place-result').textContent = e.message;
    if (e.status === 401) fail(e);
  }
}

// --- start and stop --------------------------------------------------------------

function stop() {
  if (stream) stream.close();
  stream = null;
  clearInterval(overviewTimer);
  $('app').hidden = true;
}

async function start() {
  stop();
  message('');
  try {
    await Promise.all([loadProducts(), loadRecent(), refreshOverview()]);
  } catch (e) {
    fail(e);
    return;
  }
  if (!$('message').hidden) return;
  $('app').hidden = false;
  preset('completed');
  stream = openStream({
    key: apiKey,
    query: () => `types=${STATUS_EVENTS}&view=brief${selected ? `&follow=${encodeURIComponent(selected)}` : ''}`,
    onEvent,
    onReset: () => loadRecent().catch(fail),
    onState,
  });
  overviewTimer = setInterval(refreshOverview, 2000);
}

document.addEventListener('DOMContentLoaded', () => {
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    setApiKey($('key').value.trim());
    $('key').value = '';
    start();
  });
  $('forget').addEventListener('click', () => {
    setApiKey('');
    stop();
    message('No API key: enter one to see the saga.');
  });
  $('order-form').addEventListener('submit', placeOrder);
  $('presets').addEventListener('click', (e) => {
    if (e.target.dataset.preset) preset(e.target.dataset.preset);
  });
  if (apiKey()) start();
  else message('No API key: enter one to see the saga.');
});
