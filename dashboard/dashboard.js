// The Tollgate dashboard: plain ES modules, no dependencies, no build. This
// one starts the page: the token (asked for, kept in this tab's
// sessionStorage only, forgotten on "Forget token" or when the server refuses
// it), then the poll loop (loop.js). The modules, one job each:
//
//   api.js          the /v1 API with the token        access.js    admin or read-only
//   format.js       formatting, DOM helpers           loop.js      the poll loop
//   agents.js       the agents' rows                  view.js      sorting and filtering
//   pools.js        the pools' rows                   fleet.js     the fleet's cards, backlog
//   decisions.js    decisions of the last minute      today.js     today's spend by hour, model
//   chart.js        SVG bar charts                    drill.js     one agent's drill-down
//   dialog.js       the confirmation dialog           act.js       what actions share
//   actions.js      suspend, resume, rotate a key     limits.js    agent and pool limits
//   history.js      spend over a range of days        csv.js       CSV files of the tables
//   dead-letters.js webhook dead letters and retries
//
// Text is only ever set with textContent (never HTML). See docs/dashboard.md.

import { clearReport, setRefresher } from './act.js';
import { setupActions } from './actions.js';
import { resetAgents, setOpenHandler } from './agents.js';
import { Refused, session, TOKEN_KEY } from './api.js';
import { resetDeadLetters } from './dead-letters.js';
import { resetDecisions } from './decisions.js';
import { closeDialog, dialogOpen, setupDialog } from './dialog.js';
import { closeDrill, drill, drilledAgent, openDrill } from './drill.js';
import { $ } from './format.js';
import { resetHistory, setupHistory } from './history.js';
import { kick, onPollError, setLoopHooks, start, stop } from './loop.js';
import { resetPools } from './pools.js';
import { resetToday } from './today.js';
import { resetView, setupView } from './view.js';

function showLogin() {
  $('login').hidden = false;
  $('main').hidden = true;
  $('live').hidden = true;
  $('signout').hidden = true;
  $('token').focus();
}

function showMain() {
  if (!$('main').hidden) return;
  $('login').hidden = true;
  $('refused').hidden = true;
  $('main').hidden = false;
  $('live').hidden = false;
  $('signout').hidden = false;
}

function forget() {
  stop();
  session.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  closeDialog();
  closeDrill();
  clearReport();
  resetAgents();
  resetView();
  resetPools();
  resetDecisions();
  resetToday();
  resetHistory();
  resetDeadLetters();
}

function refuse(e) {
  forget();
  const msg = $('refused');
  msg.textContent =
    e.status === 403
      ? `Refused (403 ${e.code}): this token is neither the admin token nor the read-only token (an agent key reaches only its own agent). The token was cleared.`
      : `Refused (401 ${e.code}): the server does not accept this token. The token was cleared.`;
  msg.hidden = false;
  showLogin();
}

function main() {
  setupView();
  setupDialog();
  setupActions(drilledAgent);
  setupHistory(onPollError);
  setOpenHandler((id) => openDrill(id, onPollError));
  setRefresher(kick);
  setLoopHooks({
    refused: (e) => (e instanceof Refused ? refuse(e) : undefined),
    answered: showMain,
  });
  $('drill-close').addEventListener('click', closeDrill);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && drill.id !== null && !dialogOpen()) closeDrill();
  });
  $('signout').addEventListener('click', () => {
    forget();
    $('refused').hidden = true;
    showLogin();
  });
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = $('token').value.trim();
    $('token').value = '';
    if (value === '') return;
    session.token = value;
    $('refused').hidden = true;
    start();
  });
  session.token = sessionStorage.getItem(TOKEN_KEY);
  if (session.token) start();
  else showLogin();
}

main();
