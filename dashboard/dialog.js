// The one modal dialog (#dialog, a <dialog> opened with showModal): every
// action asks here before it sends anything, and shows here what the API
// answered when it failed (e.g. 403 FORBIDDEN for the read-only token, in the
// API's own words). Cancel, Escape or the close button send nothing.

import { describeError } from './api.js';
import { $ } from './format.js';

let current = null;

/**
 * Opens the dialog: `title`, `body` (nodes), `ok` (the confirming button's
 * label), `danger` (a red button). `onOk` runs on confirm: it may call
 * `step()` to show a next step (then the dialog stays open), throw (the error
 * is shown in the dialog, which stays open), or return (the dialog closes).
 */
export function openDialog({ title, body, ok, danger = false, onOk }) {
  const d = $('dialog');
  current = { onOk };
  $('dialog-title').textContent = title;
  $('dialog-body').replaceChildren(...body);
  setOk(ok, danger);
  $('dialog-cancel').textContent = 'Cancel';
  $('dialog-cancel').hidden = false;
  showError(null);
  if (!d.open) d.showModal();
  $('dialog-ok').focus();
}

/** The next step of the flow: new body, new button and handler (`onOk` null: only a Close button). */
export function step({ title, body, ok, danger = false, onOk }) {
  if (title !== undefined) $('dialog-title').textContent = title;
  $('dialog-body').replaceChildren(...body);
  current = { onOk };
  showError(null);
  if (onOk === null) {
    $('dialog-ok').hidden = true;
    $('dialog-cancel').textContent = ok ?? 'Close';
    $('dialog-cancel').focus();
  } else {
    setOk(ok, danger);
    $('dialog-cancel').textContent = 'Cancel';
  }
}

export function closeDialog() {
  current = null;
  $('dialog-body').replaceChildren();
  const d = $('dialog');
  if (d.open) d.close();
}

export const dialogOpen = () => $('dialog').open;

function setOk(label, danger) {
  const b = $('dialog-ok');
  b.textContent = label;
  b.hidden = false;
  b.disabled = false;
  b.className = danger ? 'btn danger' : 'btn';
}

function showError(e) {
  const p = $('dialog-error');
  p.hidden = e === null;
  p.textContent = e === null ? '' : `Not done: ${describeError(e)}`;
}

async function confirm() {
  const c = current;
  if (c === null || c.onOk === null) return;
  const b = $('dialog-ok');
  b.disabled = true;
  showError(null);
  try {
    await c.onOk();
    // Closed unless onOk moved on to another step.
    if (current === c) closeDialog();
  } catch (e) {
    if (current === c) {
      showError(e);
      b.disabled = false;
    }
  }
}

export function setupDialog() {
  $('dialog-ok').addEventListener('click', confirm);
  $('dialog-cancel').addEventListener('click', closeDialog);
  // Escape closes it (the <dialog>'s own cancel): forget the flow too.
  $('dialog').addEventListener('close', () => {
    current = null;
    $('dialog-body').replaceChildren();
  });
  $('dialog').addEventListener('submit', (e) => {
    // A form in the body (the limits): Enter confirms, nothing is submitted.
    e.preventDefault();
    confirm();
  });
}
