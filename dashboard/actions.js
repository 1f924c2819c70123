// The drill-down's actions on one agent, each confirmed in the dialog before
// anything is sent, through the routes the SDK calls (admin token only):
//   Suspend / Resume   POST /v1/agents/:id/suspend | resume
//   Change limits…     PUT /v1/agents/:id/budget (limits.js)
//   Rotate key…        POST /v1/agents/:id/keys: the new key is shown once

import { refresh, report } from './act.js';
import { api } from './api.js';
import { openDialog, step } from './dialog.js';
import { $, button, el } from './format.js';
import { editAgentLimits } from './limits.js';

let agentOf = () => undefined;

const path = (id, what) => `/v1/agents/${encodeURIComponent(id)}/${what}`;

function suspend(a) {
  openDialog({
    title: `Suspend ${a.agent_id}?`,
    body: [
      el(
        'p',
        '',
        `Every authorize of ${a.agent_id} is denied (AGENT_SUSPENDED) until it is resumed. Holds already made can still be settled or released; its key keeps authenticating.`,
      ),
    ],
    ok: 'Suspend',
    danger: true,
    onOk: async () => {
      await api(path(a.agent_id, 'suspend'), { method: 'POST', body: {} });
      report(`Suspended ${a.agent_id}.`);
      refresh();
    },
  });
}

function resume(a) {
  openDialog({
    title: `Resume ${a.agent_id}?`,
    body: [el('p', '', `${a.agent_id} may be authorized again, within its limits.`)],
    ok: 'Resume',
    onOk: async () => {
      await api(path(a.agent_id, 'resume'), { method: 'POST', body: {} });
      report(`Resumed ${a.agent_id}.`);
      refresh();
    },
  });
}

/** Copies the key: the Clipboard API where the page may use it, else a selection and copy. */
async function copy(input, said) {
  try {
    if (navigator.clipboard?.writeText === undefined) throw new Error('no clipboard API');
    await navigator.clipboard.writeText(input.value);
    said.textContent = 'Copied to the clipboard.';
  } catch {
    input.select();
    const ok = document.execCommand?.('copy') === true;
    said.textContent = ok
      ? 'Copied to the clipboard.'
      : 'Could not copy: select the key and copy it.';
  }
}

function rotate(a) {
  const id = a.agent_id;
  openDialog({
    title: `Rotate the key of ${id}?`,
    body: [
      el(
        'p',
        '',
        `A new key is made for ${id}, and its current key stops working at once, on every API process: its workers need the new key.`,
      ),
    ],
    ok: 'Rotate key',
    danger: true,
    onOk: async () => {
      const rec = await api(path(id, 'keys'), { method: 'POST', body: {} });
      const input = el('input', 'new-key');
      input.id = 'new-key';
      input.readOnly = true;
      input.value = rec.api_key;
      input.spellcheck = false;
      const said = el('span', 'sub copy-said');
      const copyButton = button('Copy', 'btn copy', () => copy(input, said));
      copyButton.id = 'copy-key';
      const row = el('div', 'key-row');
      row.append(input, copyButton);
      step({
        title: `New key of ${id}`,
        body: [
          el(
            'p',
            'once',
            'This key is shown once: it won’t be shown again (the server keeps only its digest). Copy it now.',
          ),
          row,
          said,
        ],
        ok: 'Done',
        onOk: null,
      });
      report(`Rotated the key of ${id}: the old key no longer works.`);
      refresh();
    },
  });
}

/** Wires the drill-down's buttons; `current()` gives the drilled agent's dashboard row. */
export function setupActions(current) {
  agentOf = current;
  const run = (fn) => () => {
    const a = agentOf();
    if (a !== undefined) fn(a);
  };
  $('act-suspend').addEventListener('click', run(suspend));
  $('act-resume').addEventListener('click', run(resume));
  $('act-limits').addEventListener('click', run(editAgentLimits));
  $('act-rotate').addEventListener('click', run(rotate));
}

/** Suspend for an agent that is not suspended, Resume for one that is. */
export function showActions(a) {
  const suspended = a?.status === 'SUSPENDED';
  $('act-suspend').hidden = a === undefined || suspended;
  $('act-resume').hidden = a === undefined || !suspended;
}
