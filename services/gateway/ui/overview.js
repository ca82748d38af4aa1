// overview.js - GET /v1/overview drawn: orders per state, the rates of the
// last minutes as lines, and each consumer group's lag and dead letters.

const SVG = 'http://www.w3.org/2000/svg';

function line(values, max, cls) {
  const n = values.length;
  const points = values.map((v, i) => `${(i / Math.max(1, n - 1)) * 600},${115 - (v / max) * 105}`);
  const p = document.createElementNS(SVG, 'polyline');
  p.setAttribute('points', points.join(' '));
  p.setAttribute('class', `rate ${cls}`);
  return p;
}

export function renderOverview(doc, { states, rates, groups }) {
  states.replaceChildren();
  for (const [state, n] of Object.entries(doc.orders)) {
    const d = document.createElement('div');
    d.className = `count ${state.toLowerCase()}`;
    d.dataset.state = state;
    const b = document.createElement('b');
    b.textContent = n;
    d.append(b, document.createTextNode(` ${state.toLowerCase()}`));
    states.append(d);
  }
  const open = document.createElement('div');
  open.className = 'count open';
  open.textContent = `${doc.open_orders} open, oldest ${doc.oldest_open_age_seconds} s`;
  states.append(open);

  const kinds = ['accepted', 'completed', 'cancelled'];
  const max = Math.max(1, ...kinds.flatMap((k) => doc.rates[k]));
  rates.replaceChildren(...kinds.map((k) => line(doc.rates[k], max, k)));
  const label = document.createElementNS(SVG, 'text');
  label.setAttribute('x', 4);
  label.setAttribute('y', 12);
  label.setAttribute('class', 'axis');
  label.textContent = `${max}/s`;
  rates.append(label);

  const body = groups.querySelector('tbody');
  body.replaceChildren();
  for (const g of doc.groups) {
    const tr = document.createElement('tr');
    tr.dataset.group = g.group;
    if (!g.up) tr.className = 'down';
    for (const v of [g.group, g.lag, g.dead_lettered, g.up ? g.instances : `${g.instances} (one is down)`]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.append(td);
    }
    if (g.dead_lettered > 0) tr.classList.add('dead');
    body.append(tr);
  }
}
