// What every action shares: the line that says what was done (#notice), and
// a fresh poll right after a change, so the page shows it at once.

import { $, fmtTime } from './format.js';

let refresher = () => {};

/** What `refresh()` runs (the loop's next poll, now). */
export function setRefresher(fn) {
  refresher = fn;
}

export function refresh() {
  refresher();
}

/** Says what an action did, with the time (UTC), until the next one. */
export function report(text) {
  const p = $('notice');
  p.textContent = `${fmtTime(Date.now())} UTC · ${text}`;
  p.hidden = false;
}

export function clearReport() {
  const p = $('notice');
  p.textContent = '';
  p.hidden = true;
}
