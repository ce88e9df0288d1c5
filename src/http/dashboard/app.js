// The dashboard of gitops-deploy-server: plain ES modules, no build step, no framework. This is
// the entry (index.html loads it): sign-in, the router and the wiring between the modules:
//   api.js           the management API client (docs/API.md), token kept in localStorage
//   event-stream.js  a run's Server-Sent Events, read with fetch and resumed with Last-Event-ID
//   format.js        escaping and formatting (badges, times, hashes, errors)
//   shell.js         connection banner, flash messages, header
//   poller.js        polling: one request at a time, backing off on errors
//   actions.js       the deploy / redeploy / update-images buttons
//   view-*.js        one module per view (view-token.js: the token form and "API off" note)
// The server serves this directory flat at /assets/<name> (no subdirectories), so every import
// is './<name>.js'.
//
// Rendering rule: every string that comes from the server goes through esc() before it is put
// into innerHTML, or is set as a text node (log lines). Tables are built as one HTML string
// and assigned once, so 1,000 rows render in one layout pass.

import { onAuthFailure, session, storeToken } from './api.js';
import { esc } from './format.js';
import { $, connection, loadVersion } from './shell.js';
import { planView } from './view-plan.js';
import { runView } from './view-run.js';
import { runsView } from './view-runs.js';
import { serviceView } from './view-service.js';
import { servicesView } from './view-services.js';
import { apiDisabledView, tokenView } from './view-token.js';

// Re-exported from the entry, where code in the page finds them: the browser test imports
// SseParser from /assets/app.js.
export { esc } from './format.js';
export { RunStream, SseParser } from './event-stream.js';

// ---------------------------------------------------------------------------------------------
// Sign-in: the token form, the "API off" note, and the header once signed in

function setSignedIn(signedIn) {
  session.ready = signedIn;
  $('#nav').hidden = !signedIn;
  $('#forget-token').hidden = !session.token;
}

function showTokenForm(message = '') {
  disposeView();
  connection.clear();
  setSignedIn(false);
  tokenView($('#view'), message, (token) => {
    storeToken(token);
    void signIn();
  });
}

function showApiDisabled(message) {
  disposeView();
  connection.clear();
  setSignedIn(false);
  apiDisabledView($('#view'), message, { onRetry: () => void signIn(), onChangeToken: () => showTokenForm('') });
}

// Any request refused for its token (401) or because the API is off (403) leads here.
onAuthFailure({ unauthorized: showTokenForm, disabled: showApiDisabled });

async function signIn() {
  if (!session.token) return showTokenForm('');
  $('#view').innerHTML = '<p class="muted">Connecting…</p>';
  if (!(await loadVersion())) return;
  setSignedIn(true);
  route();
}

// ---------------------------------------------------------------------------------------------
// Router: #/services, #/services/<name>, #/runs, #/runs/<id>, #/plan

let disposeCurrent = null;

function disposeView() {
  if (disposeCurrent) {
    const dispose = disposeCurrent;
    disposeCurrent = null;
    dispose();
  }
}

function parseHash() {
  const path = location.hash.replace(/^#\/?/, '').split('?')[0];
  return path.split('/').filter(Boolean).map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  });
}

function route() {
  if (!session.ready) return;
  disposeView();
  const [section = 'services', id, ...rest] = parseHash();
  for (const link of document.querySelectorAll('[data-nav]')) {
    link.classList.toggle('active', link.dataset.nav === section);
  }
  const view = $('#view');
  view.innerHTML = '';
  window.scrollTo(0, 0);
  if (rest.length > 0) disposeCurrent = notFoundView(view);
  else if (section === 'services') disposeCurrent = id === undefined ? servicesView(view) : serviceView(view, id);
  else if (section === 'runs') disposeCurrent = id === undefined ? runsView(view) : runView(view, id);
  else if (section === 'plan' && id === undefined) disposeCurrent = planView(view);
  else disposeCurrent = notFoundView(view);
}

function notFoundView(view) {
  view.innerHTML = `<div class="card narrow"><h1>Not found</h1><p>There is no page at <code>${esc(location.hash)}</code>. <a href="#/services">Services</a></p></div>`;
  return () => {};
}

// ---------------------------------------------------------------------------------------------
// Start

function boot() {
  $('#forget-token').addEventListener('click', () => {
    storeToken('');
    showTokenForm('');
  });
  window.addEventListener('hashchange', route);
  void signIn();
}

if (typeof document !== 'undefined' && document.getElementById('view')) boot();
