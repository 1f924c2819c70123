// Stacked bar charts in SVG, for today's spend by hour (today.js) and the
// history's spend by day (history.js): one column per hour or day, one
// stacked segment per series, a round USD axis.

const SVG = 'http://www.w3.org/2000/svg';
const PALETTE = [
  '#2563eb',
  '#d97706',
  '#059669',
  '#db2777',
  '#7c3aed',
  '#0891b2',
  '#65a30d',
  '#dc2626',
  '#4b5563',
  '#c026d3',
];

const colors = new Map();
/** A series' colour: the same name keeps its colour in every chart of the page. */
export function colorOf(name) {
  let c = colors.get(name);
  if (c === undefined) {
    c = PALETTE[colors.size % PALETTE.length];
    colors.set(name, c);
  }
  return c;
}

export function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A round axis maximum (1, 2, 2.5 or 5 × 10^n) at or above max, and its step. */
function niceAxis(max) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  return { top: step * Math.ceil(max / step), step };
}

/** An axis label: as many decimals as the step needs. */
function axisUsd(v, step) {
  let d = 0;
  while (d < 6 && Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) > 1e-6) d++;
  return `$${v.toFixed(d > 0 ? Math.max(2, d) : 0)}`;
}

/**
 * A stacked bar chart. `columns`: how many; `series`: `[{name, values, color?}]`
 * (USD per column, drawn in this order, coloured by name unless `color`); `label(i)`: a
 * column's axis label, drawn every `tickEvery` columns; `title(i, name, v)`:
 * a segment's tooltip; `attrs(i, name)`: extra attributes of a segment (for
 * tests); `highlight`: a column to shade; `empty`: the text when nothing spent.
 */
export function stackedBars(o) {
  const W = 960;
  const H = 240;
  const L = 64;
  const R = 8;
  const T = 10;
  const B = 26;
  const bw = (W - L - R) / o.columns;
  const gap = Math.min(4, bw / 5);
  const totals = new Array(o.columns).fill(0);
  for (const s of o.series) for (let i = 0; i < o.columns; i++) totals[i] += s.values[i];
  const { top, step } = niceAxis(Math.max(0, ...totals));
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const root = svg('svg', {
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-label': o.ariaLabel,
    class: 'chart-svg',
  });
  for (let v = 0; v <= top + step / 2; v += step) {
    root.append(
      svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }),
      svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, axisUsd(v, step)),
    );
  }
  if (o.highlight !== undefined) {
    root.append(
      svg('rect', { x: L + o.highlight * bw, y: T, width: bw, height: H - T - B, class: 'now' }),
    );
  }
  for (let i = 0; i < o.columns; i++) {
    let base = 0;
    for (const s of o.series) {
      const v = s.values[i];
      if (v <= 0) continue;
      const rect = svg('rect', {
        x: L + i * bw + gap / 2,
        width: Math.max(1, bw - gap),
        y: y(base + v),
        height: Math.max(1, y(base) - y(base + v)),
        fill: s.color ?? colorOf(s.name),
        ...o.attrs(i, s.name),
      });
      rect.append(svg('title', {}, o.title(i, s.name, v)));
      root.append(rect);
      base += v;
    }
    if (i % o.tickEvery === 0) {
      root.append(
        svg(
          'text',
          { x: L + i * bw + bw / 2, y: H - 8, 'text-anchor': 'middle', class: 'tick' },
          o.label(i),
        ),
      );
    }
  }
  root.append(svg('line', { x1: L, x2: W - R, y1: y(0), y2: y(0), class: 'axis' }));
  if (totals.every((t) => t <= 0)) {
    root.append(
      svg('text', { x: (W + L) / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, o.empty),
    );
  }
  return root;
}
