// The poll loop: every second (the next poll starts when the last one has
// answered, so a slow server is never flooded):
//
//   every poll     GET /v1/dashboard          rows, statuses, bars, fleet totals, pools
//                  GET /v1/audit/lag          audit backlog
//                  GET /v1/audit?type=decision&from=…   decisions of the last minute (new ones only)
//   every 5 polls  GET /v1/dashboard/spend?date=…       today's chart
//                  GET /v1/spend?from=…&group_by=model  the day's spend by model, beside it
//                  GET /v1/webhooks/dead-letters        dead letters (admin; 403: the read-only token)
//   every 2 polls  GET /v1/agents/:id, GET /v1/audit?agent_id=…  (the drill-down, while open)
//   once           GET /v1/dashboard/history            the last 30 days (then on demand)

import { renderRows } from './agents.js';
import { api, Refused, session, TOKEN_KEY } from './api.js';
import { pollDeadLetters } from './dead-letters.js';
import { decisionsUnavailable, pollDecisions } from './decisions.js';
import { drill, pollDrill, renderDrillBudget } from './drill.js';
import { lagUnavailable, renderFleet, renderLag, serverClock } from './fleet.js';
import { $, fmtTime } from './format.js';
import { historyOnce } from './history.js';
import { renderPools } from './pools.js';
import { chartUnavailable, pollToday } from './today.js';
import { applyView, refreshRoleFilter } from './view.js';

const POLL_MS = 1000;
const CHART_EVERY = 5;
const DRILL_EVERY = 2;

const loop = {
  tick: 0,
  timer: undefined,
  running: false,
  polling: false,
  kicked: false,
  generation: 0,
};
/** What a refused token leads to (the sign-in form), and showing the page once a poll answers. */
const hooks = { refused: () => {}, answered: () => {} };

export function setLoopHooks(h) {
  Object.assign(hooks, h);
}

function banner(text) {
  const b = $('banner');
  b.textContent = text ?? '';
  b.hidden = text === undefined;
}

/** A refused token (401, or 403 on a read: an agent key) ends the session; anything else is shown in place. */
export function onPollError(e) {
  if (e instanceof Refused) hooks.refused(e);
}

const orRefused = (fallback) => (e) => (e instanceof Refused ? Promise.reject(e) : fallback(e));

async function poll(gen) {
  const started = Date.now();
  const t = loop.tick++;
  const sent = Date.now();
  const [dash, lag] = await Promise.allSettled([api('/v1/dashboard'), api('/v1/audit/lag')]);
  const received = Date.now();
  if (gen !== loop.generation) return;
  const refused = [dash, lag].find((p) => p.status === 'rejected' && p.reason instanceof Refused);
  if (refused) throw refused.reason;
  if (!sessionStorage.getItem(TOKEN_KEY)) sessionStorage.setItem(TOKEN_KEY, session.token);
  hooks.answered();
  if (dash.status === 'fulfilled') {
    const t0 = performance.now();
    renderPools(dash.value.pools ?? []);
    if (renderRows(dash.value.agents)) refreshRoleFilter();
    applyView();
    renderFleet(dash.value.agents);
    if (drill.id !== null) renderDrillBudget();
    // For whoever watches the page (the browser test): polls rendered, and the last one's cost.
    const root = document.documentElement.dataset;
    root.renderMs = (performance.now() - t0).toFixed(1);
    root.polls = String(Number(root.polls ?? 0) + 1);
    banner(undefined);
    $('updated').textContent = `live · updated ${fmtTime(received + serverClock.offset)} UTC`;
    $('live').classList.remove('stale');
  } else {
    banner(`GET /v1/dashboard failed: ${dash.reason.message}`);
    $('live').classList.add('stale');
    $('updated').textContent = `stale · ${dash.reason.message}`;
  }
  if (lag.status === 'fulfilled') renderLag(lag.value, sent, received);
  else lagUnavailable(lag.reason);

  const more = [pollDecisions().catch(orRefused(decisionsUnavailable))];
  if (t % CHART_EVERY === 0) {
    more.push(pollToday().catch(orRefused(chartUnavailable)));
    more.push(pollDeadLetters());
  }
  if (drill.id !== null && t % DRILL_EVERY === 0) more.push(pollDrill());
  historyOnce(onPollError);
  await Promise.all(more);
  return Date.now() - started;
}

function schedule(gen, delay) {
  clearTimeout(loop.timer);
  loop.timer = setTimeout(async () => {
    if (gen !== loop.generation) return;
    let spent = 0;
    loop.polling = true;
    try {
      spent = (await poll(gen)) ?? 0;
    } catch (e) {
      if (e instanceof Refused) {
        loop.polling = false;
        hooks.refused(e);
        return;
      }
      $('live').classList.add('stale');
      $('updated').textContent = `stale · ${e.message}`;
    }
    loop.polling = false;
    if (gen === loop.generation && loop.running) {
      schedule(gen, loop.kicked ? 0 : Math.max(100, POLL_MS - spent));
      loop.kicked = false;
    }
  }, delay);
}

export function start() {
  loop.running = true;
  loop.generation++;
  loop.tick = 0;
  schedule(loop.generation, 0);
}

export function stop() {
  loop.running = false;
  loop.generation++;
  clearTimeout(loop.timer);
}

/** A poll now (after an action): at once if none is running, else right after the running one. */
export function kick() {
  if (!loop.running) return;
  if (loop.polling) loop.kicked = true;
  else schedule(loop.generation, 0);
}
