// timeline.js - one order's events as swimlanes, one lane per service:
// each event at its time (in order, at least a step apart), an arrow from
// the event that caused it with the time that hop took, compensations
// marked, and the final state.

const SVG = 'http://www.w3.org/2000/svg';

export const LANES = ['gateway', 'order', 'payment', 'inventory', 'shipping', 'notification'];

// The service that emits each event (schemas/*.avsc, x-producer).
const LANE_OF = {
  OrderRequested: 'gateway', CancellationRequested: 'gateway',
  OrderCreated: 'order', OrderConfirmed: 'order', OrderCompleted: 'order',
  OrderCancelled: 'order', OrderCancelling: 'order', CancellationRefused: 'order',
  PaymentProcessed: 'payment', PaymentFailed: 'payment', PaymentRefunded: 'payment',
  InventoryReserved: 'inventory', InventoryInsufficient: 'inventory', InventoryReleased: 'inventory',
  ShipmentCreated: 'shipping', ShipmentDispatched: 'shipping', ShipmentDelivered: 'shipping',
  ShipmentFailed: 'shipping', ShipmentCancelled: 'shipping',
  NotificationSent: 'notification',
};

// Events that undo an earlier step of the saga.
export const COMPENSATIONS = new Set(['PaymentRefunded', 'InventoryReleased', 'ShipmentCancelled']);

const LEFT = 120, RIGHT = 930, TOP = 24, LANE_H = 52, STEP = 56;

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

export function laneOf(event) {
  return LANE_OF[event.event] || (event.producer || 'order').replace(/-\d+$/, '');
}

function place(events) {
  const n = events.length;
  const t0 = events[0].at, span = Math.max(1, events[n - 1].at - t0);
  const room = Math.max(0, RIGHT - LEFT - 20 - (n - 1) * STEP);
  return events.map((e, i) => LEFT + 20 + i * STEP + ((e.at - t0) / span) * room);
}

function ms(d) {
  return d < 1000 ? `${d} ms` : `${(d / 1000).toFixed(d < 10000 ? 2 : 1)} s`;
}

export function renderTimeline(svg, order, stateEl) {
  svg.replaceChildren();
  const events = (order.history || []).slice().sort((a, b) => a.at - b.at);
  const defs = el('defs', {});
  const marker = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '10', refY: '5',
    markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse' });
  marker.append(el('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead' }));
  defs.append(marker);
  svg.append(defs);
  LANES.forEach((lane, i) => {
    const y = TOP + i * LANE_H;
    const g = el('g', { class: 'lane', 'data-lane': lane });
    g.append(el('rect', { x: 0, y, width: 1000, height: LANE_H, class: i % 2 ? 'lane-bg odd' : 'lane-bg' }));
    g.append(el('text', { x: 8, y: y + LANE_H / 2 + 4, class: 'lane-name' }, lane));
    svg.append(g);
  });
  const bottom = TOP + LANES.length * LANE_H;
  svg.setAttribute('viewBox', `0 0 1000 ${bottom + 26}`);
  const legend = el('g', { class: 'legend' });
  legend.append(el('circle', { cx: 14, cy: bottom + 14, r: 6, class: 'ring' }));
  legend.append(el('text', { x: 26, y: bottom + 18 }, 'compensation (undoes an earlier step)'));
  legend.append(el('path', { d: `M 290 ${bottom + 14} L 320 ${bottom + 14}`, class: 'link', 'marker-end': 'url(#arrow)' }));
  legend.append(el('text', { x: 328, y: bottom + 18 }, 'caused, with the time the hop took'));
  svg.append(legend);
  if (!events.length) {
    stateEl.textContent = 'no events yet';
    return;
  }
  const xs = place(events);
  const at = new Map();
  events.forEach((e, i) => {
    const lane = Math.max(0, LANES.indexOf(laneOf(e)));
    at.set(e.event_id, { x: xs[i], y: TOP + lane * LANE_H + LANE_H / 2, e });
  });
  const links = el('g', { class: 'links' });
  for (const e of events) {
    const to = at.get(e.event_id), from = e.causation_id && at.get(e.causation_id);
    if (!from) continue;
    const mx = (from.x + to.x) / 2;
    links.append(el('path', {
      d: `M ${from.x} ${from.y} C ${mx} ${from.y}, ${mx} ${to.y}, ${to.x - 8} ${to.y}`,
      class: 'link', 'marker-end': 'url(#arrow)', 'data-from': from.e.event, 'data-to': e.event,
    }));
    links.append(el('text', { x: from.x + 0.6 * (to.x - from.x), y: from.y + 0.6 * (to.y - from.y) - 4, class: 'hop' },
      ms(e.at - from.e.at)));
  }
  svg.append(links);
  const dots = el('g', { class: 'events' });
  events.forEach((e, i) => {
    const p = at.get(e.event_id);
    const compensation = COMPENSATIONS.has(e.event);
    const g = el('g', {
      class: `event${compensation ? ' compensation' : ''}${e.event === 'OrderCancelled' ? ' cancelled' : ''}`,
      'data-event': e.event, 'data-lane': laneOf(e),
    });
    const title = el('title', {}, `${e.event} at +${ms(e.at - events[0].at)}` +
      (compensation ? ' (compensation)' : ''));
    g.append(title);
    if (compensation) g.append(el('circle', { cx: p.x, cy: p.y, r: 11, class: 'ring' }));
    g.append(el('circle', { cx: p.x, cy: p.y, r: 6, class: 'dot' }));
    g.append(el('text', { x: p.x, y: p.y + (i % 2 ? -12 : 20), class: 'label' }, e.event));
    dots.append(g);
  });
  svg.append(dots);
  const span = ms(events[events.length - 1].at - events[0].at);
  const final = order.status === 'COMPLETED' || order.status === 'CANCELLED';
  stateEl.textContent = `${order.status}${order.cancel_reason ? ` (${order.cancel_reason})` : ''}` +
    `${final ? ' after ' : ', so far '}${span}`;
  stateEl.className = `final ${String(order.status).toLowerCase()}`;
  stateEl.dataset.status = order.status;
}
