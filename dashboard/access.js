// What the token may do. The admin token reads and acts; the read-only token
// (TOLLGATE_READ_TOKEN) only reads: the page disables every action button
// for it (the API would answer 403 FORBIDDEN anyway, and the page shows that
// answer if a button is forced). Which token it is, the page learns from the
// first admin-only read it makes (the dead letters: 403 for the read-only
// token, dead-letters.js): no route of its own, no guess from the token.

import { session } from './api.js';
import { $, button } from './format.js';

const READ_ONLY_TITLE = 'Needs the admin token: the read-only token cannot change anything';

/** A button for an action: enabled only with the admin token. */
export function adminButton(text, cls, onClick) {
  const b = button(text, cls, onClick);
  b.dataset.admin = '';
  setEnabled(b);
  return b;
}

function setEnabled(b) {
  const admin = session.access === 'admin';
  b.disabled = !admin;
  b.title = admin ? '' : session.access === 'read' ? READ_ONLY_TITLE : 'Checking the token…';
}

/** Sets what the token may do ('admin', 'read', or null: not known yet) and shows it. */
export function setAccess(access) {
  if (session.access === access) return;
  session.access = access;
  for (const b of document.querySelectorAll('[data-admin]')) setEnabled(b);
  const badge = $('access');
  badge.hidden = access === null;
  badge.textContent = access === 'admin' ? 'admin' : 'read-only';
  badge.className = `access ${access ?? ''}`;
  badge.title =
    access === 'admin'
      ? 'The admin token: reads and acts'
      : 'The read-only token (TOLLGATE_READ_TOKEN): reads only, acts on nothing';
  document.documentElement.dataset.access = access ?? '';
}
