// Webhook deliveries that failed every attempt (GET /v1/webhooks/dead-letters,
// admin only), each with a Retry (POST /v1/webhooks/dead-letters/:id/retry,
// confirmed first). The read-only token gets 403 there: that is how the page
// learns which token it holds (access.js), and the section says it needs the
// admin token.

import { adminButton, setAccess } from './access.js';
import { refresh, report } from './act.js';
import { api, describeError, Refused, session } from './api.js';
import { openDialog } from './dialog.js';
import { $, el, fmtInt } from './format.js';

const LIMIT = 50;
let sig = '';

function alertText(e) {
  const whose = e.pool_id !== '' ? `pool ${e.pool_id}` : `agent ${e.agent_id}`;
  return `${whose}: ${e.budget} budget at ${e.threshold_pct} %`;
}

function retry(d) {
  openDialog({
    title: 'Send this alert again?',
    body: [
      el('p', '', `${alertText(d.event)}, to webhook ${d.webhook_id}.`),
      el(
        'p',
        'sub',
        `A new run starts (run ${d.run + 1}): the same event and body, attempts from 0 with the same backoff.`,
      ),
    ],
    ok: 'Retry',
    onOk: async () => {
      const r = await api(`/v1/webhooks/dead-letters/${encodeURIComponent(d.id)}/retry`, {
        method: 'POST',
        body: {},
      });
      report(`Dead letter queued again (run ${r.run}): ${alertText(d.event)}.`);
      sig = '';
      refresh();
      pollDeadLetters().catch(() => {});
    },
  });
}

function row(d) {
  const tr = el('tr');
  tr.dataset.id = d.id;
  const td = el('td');
  td.append(adminButton('Retry', 'link retry', () => retry(d)));
  tr.append(
    el('td', '', d.failed_at.replace('T', ' ').replace('Z', '')),
    el('td', 'mono', d.webhook_id),
    el('td', '', alertText(d.event)),
    el('td', 'num', `${fmtInt(d.attempts)} (run ${d.run})`),
    el('td', 'no', `${d.last_status ?? 'no answer'} · ${d.last_error ?? ''}`),
    td,
  );
  return tr;
}

function show(list) {
  const s = JSON.stringify(list);
  if (s === sig) return;
  sig = s;
  $('dl-table').tBodies[0].replaceChildren(...list.map(row));
  $('dl-table').hidden = list.length === 0;
  $('dl-count').textContent =
    list.length === 0 ? '' : `${fmtInt(list.length)}${list.length === LIMIT ? '+' : ''}`;
  $('dl-sub').textContent =
    list.length === 0
      ? 'None: every alert was delivered, or is still being tried.'
      : 'The latest first. A retry sends the same event again to the same webhook.';
}

/** Reads the dead letters (admin), or learns that the token is the read-only one (403). */
export async function pollDeadLetters() {
  if (session.access === 'read') return;
  try {
    const r = await api(`/v1/webhooks/dead-letters?limit=${LIMIT}`);
    setAccess('admin');
    $('dead-letters').hidden = false;
    show(r.dead_letters);
  } catch (e) {
    if (e instanceof Refused && e.status === 403) {
      setAccess('read');
      $('dead-letters').hidden = false;
      sig = '';
      $('dl-table').hidden = true;
      $('dl-count').textContent = '';
      $('dl-sub').textContent =
        'Webhook dead letters need the admin token: this is the read-only token.';
      return;
    }
    if (e instanceof Refused) throw e;
    // The token passed (the store is what failed): an admin token.
    setAccess('admin');
    $('dead-letters').hidden = false;
    sig = '';
    $('dl-table').hidden = true;
    $('dl-sub').textContent = `Dead letters unavailable: ${describeError(e)}`;
  }
}

export function resetDeadLetters() {
  sig = '';
  $('dead-letters').hidden = true;
  $('dl-table').tBodies[0].replaceChildren();
  $('dl-count').textContent = '';
  $('dl-sub').textContent = '';
  setAccess(null);
}
