// Formatting and DOM helpers shared by the dashboard's modules. Text is only
// ever set with textContent (never HTML).

export const $ = (id) => document.getElementById(id);

const intFmt = new Intl.NumberFormat('en-US');
export const fmtInt = (n) => intFmt.format(n);

export function fmtUsd(n) {
  if (!Number.isFinite(n)) return '–';
  if (n === 0) return '$0';
  if (Math.abs(n) < 1) return `$${n.toFixed(4)}`;
  return `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

export const pad2 = (n) => String(n).padStart(2, '0');

export function fmtTime(ms) {
  const d = new Date(ms);
  return `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}

export function fmtAge(ms) {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** Used and reserved as percents of the limit, for a bar: used clamped to 100, reserved to what is left. */
export function barWidths(used, reserved, limit) {
  if (limit <= 0) return { used: used > 0 ? 100 : 0, reserved: 0 };
  const u = Math.min(100, Math.max(0, (used / limit) * 100));
  const r = Math.min(100 - u, Math.max(0, (reserved / limit) * 100));
  return { used: u, reserved: r };
}

export function setBar(bar, used, reserved, limit, title) {
  const w = barWidths(used, reserved, limit);
  const [u, r] = bar.children;
  u.style.width = `${w.used.toFixed(2)}%`;
  r.style.width = `${w.reserved.toFixed(2)}%`;
  bar.classList.toggle('over', limit > 0 ? used >= limit : used > 0);
  bar.title = title;
}

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function barEl() {
  const b = el('div', 'bar');
  b.append(el('span', 'used'), el('span', 'reserved'));
  return b;
}

/** A `<button type="button">` with its text and click handler. */
export function button(text, cls, onClick) {
  const b = el('button', cls, text);
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

/** Fills a <dl> with term / value pairs. */
export function fillDl(dl, pairs) {
  const out = [];
  for (const [k, v] of pairs) out.push(el('dt', '', k), el('dd', '', v));
  dl.replaceChildren(...out);
}

/** By string, as the table sorts ids. */
export const byString = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
