// The dashboard of gitops-deploy-server: one plain ES module, no build step, no framework.
// It talks only to the management API (docs/API.md) with the bearer token kept in localStorage.
//
// Rendering rule: every string that comes from the server goes through esc() before it is put
// into innerHTML, or is set as a text node (log lines). Tables are built as one HTML string
// and assigned once, so 1,000 rows render in one layout pass.

const TOKEN_KEY = 'gds.apiToken';
const POLL_MS = 5_000;
const POLL_MAX_BACKOFF_MS = 60_000;
const STREAM_MIN_BACKOFF_MS = 1_000;
const STREAM_MAX_BACKOFF_MS = 10_000;
/** The server sends `: ping` every 15 s; a stream silent for longer is dead (half-open connection). */
const STREAM_IDLE_MS = 45_000;
/** Log lines kept in the page per deployment; older ones are dropped from the view. */
const MAX_LOG_LINES = 20_000;
/** A request without a complete answer by then counts as unreachable (the plan has its own). */
const REQUEST_TIMEOUT_MS = 30_000;
/** The plan fetches the remote (git's own timeout is 120 s by default) and reads every service. */
const PLAN_TIMEOUT_MS = 300_000;
const STATES = ['problem', 'failed', 'changed', 'never-deployed', 'in-sync', 'self'];
const DECISIONS = ['deploy', 'problem', 'self', 'unchanged'];

// ---------------------------------------------------------------------------------------------
// Escaping and formatting

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** HTML-escapes any value (null and undefined become ''). */
export function esc(value) {
  return value === null || value === undefined ? '' : String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const enc = encodeURIComponent;

/** Status words the stylesheet knows; anything else is drawn neutral. */
const BADGE_KINDS = {
  succeeded: 'ok', 'in-sync': 'ok', unchanged: 'muted', skipped: 'muted', self: 'muted',
  failed: 'bad', problem: 'bad', interrupted: 'bad',
  running: 'run', deploy: 'run', update: 'run',
  queued: 'wait', changed: 'wait', 'never-deployed': 'wait',
};

function badge(status, extraClass = '') {
  const kind = BADGE_KINDS[status] ?? 'muted';
  return `<span class="badge b-${kind}${extraClass ? ` ${extraClass}` : ''}">${esc(status ?? '?')}</span>`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const timeCache = new Map();

/** `<time>` with a short local time (today) or date and time, and the full one as a tooltip. */
function timeHtml(iso) {
  if (!iso) return '<span class="muted">–</span>';
  const today = new Date().toDateString();
  const key = `${iso}|${today}`;
  let html = timeCache.get(key);
  if (html === undefined) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return esc(iso);
    const short = d.toDateString() === today ? timeFormat.format(d) : dateTimeFormat.format(d);
    html = `<time datetime="${esc(iso)}" title="${esc(fullFormat.format(d))}">${esc(short)}</time>`;
    if (timeCache.size > 5_000) timeCache.clear();
    timeCache.set(key, html);
  }
  return html;
}

function duration(startIso, endIso) {
  if (!startIso) return '';
  const ms = (endIso ? Date.parse(endIso) : Date.now()) - Date.parse(startIso);
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1_000) return `${ms} ms`;
  const s = Math.round(ms / 1_000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** A shortened hash in `<code>`, the full one as a tooltip. */
function shaHtml(sha, length = 8) {
  if (!sha) return '<span class="muted">–</span>';
  return `<code title="${esc(sha)}">${esc(String(sha).slice(0, length))}</code>`;
}

/** `{code, message}` (or a plain string) as one line of text. */
function errorText(error) {
  if (!error) return '';
  if (typeof error === 'string') return error;
  return [error.code, error.message].filter(Boolean).join(': ');
}

function errorHtml(error, extraClass = '') {
  return error ? `<div class="error-text${extraClass ? ` ${extraClass}` : ''}">${esc(errorText(error))}</div>` : '';
}

/** Label/value pairs (values already escaped) as a compact definition list. */
function factsHtml(pairs) {
  return `<dl class="facts">${pairs.map(([label, value]) => `<div><dt>${esc(label)}</dt><dd>${value}</dd></div>`).join('')}</dl>`;
}

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

// ---------------------------------------------------------------------------------------------
// Server-Sent Events parser (fetch + ReadableStream: EventSource cannot send Authorization)

/**
 * Incremental `text/event-stream` parser: feed it decoded text in chunks of any size; it calls
 * `onEvent({ id, event, data })` for each complete event (a blank line ends one). Comment lines
 * (`: ping`) are ignored; CR, LF and CRLF all end lines, also when split across chunks.
 */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = '';
    this.afterCR = false;
    this.reset();
  }

  reset() {
    this.type = '';
    this.data = [];
    this.id = undefined;
  }

  push(chunk) {
    let text = this.buffer + chunk;
    if (this.afterCR && text[0] === '\n') text = text.slice(1); // the LF of a CRLF split across chunks
    this.afterCR = false;
    let pos = 0;
    // The next CR is searched once and reused: searching per line would rescan a chunk without
    // any CR to its end for every line (quadratic in the chunk size).
    let cr = text.indexOf('\r');
    for (;;) {
      if (cr !== -1 && cr < pos) cr = text.indexOf('\r', pos);
      const lf = text.indexOf('\n', pos);
      let end;
      let next;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        next = cr + 1;
        if (next === text.length) this.afterCR = true;
        else if (text[next] === '\n') next++;
      } else if (lf !== -1) {
        end = lf;
        next = lf + 1;
      } else {
        break;
      }
      this.line(text.slice(pos, end));
      pos = next;
    }
    this.buffer = text.slice(pos);
  }

  line(line) {
    if (line === '') {
      if (this.data.length > 0 || this.type !== '') {
        this.onEvent({ id: this.id, event: this.type || 'message', data: this.data.join('\n') });
      }
      this.reset();
      return;
    }
    if (line[0] === ':') return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    // `retry` and unknown fields are ignored: the reconnection policy is ours.
  }
}

// ---------------------------------------------------------------------------------------------
// API client

/** An answer with an error body from the server (`{error: {code, message}}`). */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The server did not answer (network down, restarting, or a proxy's 502/503/504 page). */
class UnreachableError extends Error {}

/** The token was refused or the API is off; the page already shows the token form or the note. */
class AuthError extends Error {}

const session = {
  token: readStoredToken(),
  /** Bumped whenever the token changes, so a late 401 for an old token does not log out a new one. */
  generation: 0,
  ready: false,
};

function readStoredToken() {
  try {
    return typeof localStorage === 'undefined' ? '' : localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

function storeToken(token) {
  session.token = token;
  session.generation++;
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Private mode without storage: the token lives for this page only.
  }
}

async function readError(response) {
  let body = null;
  try {
    const text = await response.text();
    body = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: a proxy page or a cut connection.
  }
  // Only the server's own error shape counts: a proxy's page or Fastify's 503 while the server
  // closes (`{"error": "Service Unavailable"}`) means the server itself did not answer.
  const ours = typeof body?.error === 'object' && body.error !== null && typeof body.error.code === 'string';
  const code = ours ? body.error.code : undefined;
  const message = (ours ? body.error.message : undefined) ?? `HTTP ${response.status} ${response.statusText}`.trim();
  return { code, message, hasBody: ours };
}

/** Turns 401/403 into the token form or the "API off" note, and throws AuthError. */
function handleAuthFailure(status, code, message, generation) {
  if (generation !== session.generation) throw new AuthError(message);
  if (status === 401) {
    storeToken('');
    showTokenForm(message || 'The server refused the token.');
    throw new AuthError(message);
  }
  if (status === 403 && code === 'API_DISABLED') {
    showApiDisabled(message);
    throw new AuthError(message);
  }
}

/**
 * Calls the management API with the bearer token; returns the parsed JSON body. A request that
 * gets no complete answer within `timeoutMs` counts as the server being unreachable, so a hung
 * connection cannot stall a poller for ever.
 */
async function api(path, { method = 'GET', timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
  const generation = session.generation;
  const signal = AbortSignal.timeout(timeoutMs);
  const unreachable = (error) =>
    new UnreachableError(error?.name === 'TimeoutError' ? `The server did not answer within ${Math.round(timeoutMs / 1_000)} s` : 'Server unreachable');
  let response;
  try {
    response = await fetch(path, {
      method,
      signal,
      cache: 'no-store',
      headers: { Authorization: `Bearer ${session.token}`, Accept: 'application/json' },
    });
  } catch (error) {
    throw unreachable(error);
  }
  if (response.ok) {
    let text;
    try {
      text = await response.text();
    } catch (error) {
      throw unreachable(error);
    }
    return text ? JSON.parse(text) : null;
  }
  const { code, message, hasBody } = await readError(response);
  handleAuthFailure(response.status, code, message, generation);
  if (!hasBody && response.status >= 502) throw new UnreachableError(`Server unreachable (${message})`);
  throw new ApiError(response.status, code ?? `HTTP_${response.status}`, message);
}

// ---------------------------------------------------------------------------------------------
// Page shell: banner, flash messages, token form, header

const $ = (selector, root = document) => root.querySelector(selector);

/**
 * Sources that currently fail to reach the server (pollers), each with the time of its next try.
 * The banner shows while any fails; the tables keep their last data.
 */
const connection = {
  failures: new Map(),
  timer: 0,

  failed(source, error, retryInMs) {
    this.failures.set(source, { message: error instanceof UnreachableError ? error.message : `Could not refresh: ${error.message}`, at: Date.now() + retryInMs });
    this.render();
  },

  ok(source) {
    if (this.failures.delete(source)) {
      this.render();
      if (this.failures.size === 0) void loadVersion(); // the server may have restarted
    }
  },

  clear() {
    this.failures.clear();
    this.render();
  },

  render() {
    const banner = $('#banner');
    clearTimeout(this.timer);
    if (this.failures.size === 0) {
      banner.hidden = true;
      banner.textContent = '';
      return;
    }
    const [first] = this.failures.values();
    const seconds = Math.max(0, Math.ceil((first.at - Date.now()) / 1_000));
    banner.textContent = `${first.message}, retrying${seconds > 0 ? ` in ${seconds} s` : ' now'}… The data below may be out of date.`;
    banner.hidden = false;
    this.timer = setTimeout(() => this.render(), 1_000);
  },
};

let flashTimer = 0;

/** A dismissable message under the header; `html` must already be escaped. */
function flash(html, kind = 'info') {
  const box = $('#flash');
  box.className = `flash flash-${kind}`;
  box.innerHTML = `<span>${html}</span><button type="button" class="link" aria-label="Dismiss">×</button>`;
  box.hidden = false;
  $('button', box).onclick = () => (box.hidden = true);
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => (box.hidden = true), 30_000);
}

function runLink(runId, label = runId) {
  return `<a href="#/runs/${esc(enc(runId))}">${esc(label)}</a>`;
}

/** Flash for a 202 action answer: the run it queued (or joined), with a link. */
function flashQueued(what, answer) {
  const joined = answer?.coalesced ? 'joined the waiting run' : 'queued as run';
  flash(`${esc(what)} ${joined} ${runLink(answer.runId)}.`, 'ok');
}

function flashError(what, error) {
  if (error instanceof AuthError || error?.name === 'AbortError') return;
  flash(`${esc(what)} failed: ${esc(error.code ? `${error.code}: ${error.message}` : error.message)}`, 'error');
}

function setSignedIn(signedIn) {
  session.ready = signedIn;
  $('#nav').hidden = !signedIn;
  $('#forget-token').hidden = !session.token;
}

function showTokenForm(message = '') {
  disposeView();
  connection.clear();
  setSignedIn(false);
  const view = $('#view');
  view.innerHTML = `
    <form class="card narrow" id="token-form" autocomplete="off">
      <h1>API token</h1>
      <p>This dashboard uses the server's management API. Enter the token configured as
        <code>API_TOKEN</code> on the server. It is kept in this browser's local storage until you
        choose <em>Forget token</em>.</p>
      ${message ? `<p class="error-text" role="alert" id="token-error">${esc(message)}</p>` : ''}
      <label for="token-input">Token</label>
      <div class="row">
        <input id="token-input" name="token" type="password" required spellcheck="false" autocomplete="off">
        <button type="submit" class="primary">Use token</button>
      </div>
    </form>`;
  const form = $('#token-form');
  const input = $('#token-input');
  input.focus();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    storeToken(token);
    void signIn();
  });
}

function showApiDisabled(message) {
  disposeView();
  connection.clear();
  setSignedIn(false);
  $('#view').innerHTML = `
    <div class="card narrow" id="api-disabled">
      <h1>The management API is off</h1>
      <p>This server has no <code>API_TOKEN</code> configured, so every <code>/api</code> route is
        refused and the dashboard cannot show anything. Set <code>API_TOKEN</code> (or
        <code>API_TOKEN_FILE</code>) in the server's environment and restart it.</p>
      <p class="muted">${esc(message)}</p>
      <div class="row"><button type="button" id="retry-api">Try again</button>
        <button type="button" id="change-token" class="link">Use another token</button></div>
    </div>`;
  $('#retry-api').onclick = () => void signIn();
  $('#change-token').onclick = () => showTokenForm('');
}

async function loadVersion() {
  try {
    const version = await api('/api/version');
    $('#server-name').textContent = version?.name ?? 'gitops-deploy-server';
    $('#server-version').textContent = version?.version ? `v${version.version}` : '';
    const started = version?.startedAt ? new Date(version.startedAt) : null;
    $('.brand').title = started && !Number.isNaN(started.getTime()) ? `started ${fullFormat.format(started)}${version.pid ? `, pid ${version.pid}` : ''}` : '';
    document.title = `${version?.name ?? 'Deploy server'} · dashboard`;
    return true;
  } catch (error) {
    if (error instanceof AuthError) return false;
    // Unreachable or an error: the views show the banner and retry on their own.
    return true;
  }
}

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
// Polling: one request at a time, paused while the page is hidden, backing off on errors

class Poller {
  constructor(task, { interval = POLL_MS } = {}) {
    this.task = task;
    this.interval = interval;
    this.failures = 0;
    this.timer = 0;
    this.inFlight = false;
    this.again = false;
    this.stopped = false;
    this.onVisibility = () => {
      if (!document.hidden && this.dueWhileHidden) this.poke();
    };
    document.addEventListener('visibilitychange', this.onVisibility);
  }

  start() {
    this.poke();
    return this;
  }

  /** Refreshes now (after an action), or right after the request in flight. */
  poke() {
    if (this.stopped) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    void this.tick();
  }

  async tick() {
    if (this.stopped) return;
    if (document.hidden) {
      this.dueWhileHidden = true;
      return;
    }
    this.dueWhileHidden = false;
    this.inFlight = true;
    let delay = this.interval;
    try {
      await this.task();
      this.failures = 0;
      connection.ok(this);
    } catch (error) {
      if (error instanceof AuthError || this.stopped) return this.stop();
      this.failures++;
      delay = Math.min(this.interval * 2 ** (this.failures - 1), POLL_MAX_BACKOFF_MS);
      connection.failed(this, error, delay);
    } finally {
      this.inFlight = false;
    }
    if (this.stopped) return;
    if (this.again) {
      this.again = false;
      delay = 0;
    }
    this.timer = setTimeout(() => void this.tick(), delay);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    document.removeEventListener('visibilitychange', this.onVisibility);
    connection.ok(this);
  }
}

/** Merges a freshly polled first page into a list that may hold older pages (newest first, by id). */
function mergeNewest(existing, fresh) {
  if (existing.length === 0 || fresh.length === 0) return null;
  const oldestFresh = fresh[fresh.length - 1].id;
  const at = existing.findIndex((item) => item.id === oldestFresh);
  if (at === -1) return null; // more new items than a page: the older pages no longer connect
  return fresh.concat(existing.slice(at + 1));
}

// ---------------------------------------------------------------------------------------------
// Actions

async function deployService(name, kind) {
  const question =
    kind === 'update'
      ? `Pull the images of ${name} and recreate its containers whose image changed?`
      : `Redeploy ${name} now from the checkout as it is, changed or not?`;
  if (!window.confirm(question)) return null;
  try {
    const answer = await api(`/api/services/${enc(name)}/${kind === 'update' ? 'update' : 'deploy'}`, { method: 'POST' });
    flashQueued(kind === 'update' ? `Image update of ${name}` : `Redeploy of ${name}`, answer);
    return answer;
  } catch (error) {
    flashError(kind === 'update' ? `Image update of ${name}` : `Redeploy of ${name}`, error);
    return null;
  }
}

/** POST /api/deploy, then opens the run. */
async function deployAllChanged(button) {
  if (button) button.disabled = true;
  try {
    const answer = await api('/api/deploy', { method: 'POST' });
    if (answer.coalesced) flashQueued('Deploy of all changed services', answer);
    location.hash = `#/runs/${enc(answer.runId)}`;
  } catch (error) {
    flashError('Deploy of all changed services', error);
  } finally {
    if (button) button.disabled = false;
  }
}

function actionButtons(service, small = true) {
  if (service.state === 'self') return '<span class="muted small" title="The server does not redeploy its own service">own service</span>';
  const name = esc(service.name);
  const cls = small ? ' class="small"' : '';
  return `<button type="button"${cls} data-act="deploy" data-name="${name}">Redeploy</button>` +
    `<button type="button"${cls} data-act="update" data-name="${name}">Update images</button>`;
}

/** Click delegation for Redeploy / Update images buttons inside `root`. */
function bindActions(root, afterAction) {
  root.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-act]');
    if (!button || !root.contains(button)) return;
    button.disabled = true;
    const answer = await deployService(button.dataset.name, button.dataset.act);
    button.disabled = false;
    if (answer) afterAction?.(answer);
  });
}

// ---------------------------------------------------------------------------------------------
// Services view

/** Kept across views so the filter survives a visit to a service or a run. */
const servicesFilter = { q: '', state: 'all' };
let servicesCache = null;

function servicesView(view) {
  view.innerHTML = `
    <div class="toolbar">
      <h1>Services</h1>
      <span class="muted small" id="svc-commit"></span>
      <span class="spacer"></span>
      <button type="button" class="primary" id="deploy-all">Deploy all changed</button>
    </div>
    <div class="filters">
      <input id="svc-filter" type="search" placeholder="Filter by name" aria-label="Filter services by name" spellcheck="false" autocomplete="off">
      <div id="svc-states" class="chips" role="group" aria-label="Filter by state"></div>
    </div>
    <p class="muted small" id="svc-summary"></p>
    <div class="table-wrap">
      <table class="services" id="services-table">
        <colgroup><col class="c-name"><col class="c-runtime col-runtime"><col class="c-state"><col class="c-deployed"><col class="c-last"><col class="c-actions"></colgroup>
        <thead><tr>
          <th>Service</th><th class="col-runtime">Runtime</th><th>State</th><th>Deployed</th>
          <th class="col-last">Last deployment</th><th class="col-actions"><span class="sr-only">Actions</span></th>
        </tr></thead>
        <tbody id="svc-rows"><tr><td colspan="6" class="muted">Loading…</td></tr></tbody>
      </table>
    </div>`;
  const input = $('#svc-filter', view);
  const rows = $('#svc-rows', view);
  const chips = $('#svc-states', view);
  input.value = servicesFilter.q;

  let data = null; // { commit, services, html: string[], lower: string[], counts }
  let lastText = '';
  let frame = 0;

  const prepare = (answer) => {
    const services = Array.isArray(answer?.services) ? answer.services : [];
    const counts = { all: services.length };
    for (const state of STATES) counts[state] = 0;
    for (const s of services) counts[s.state] = (counts[s.state] ?? 0) + 1;
    return {
      commit: answer?.commit ?? null,
      services,
      html: services.map(serviceRowHtml),
      lower: services.map((s) => String(s.name).toLowerCase()),
      counts,
    };
  };

  const renderChips = () => {
    const counts = data?.counts ?? { all: 0 };
    const states = ['all', ...STATES, ...Object.keys(counts).filter((k) => k !== 'all' && !STATES.includes(k))];
    chips.innerHTML = states
      .map((state) => {
        const n = counts[state] ?? 0;
        const pressed = servicesFilter.state === state;
        return `<button type="button" class="chip chip-${esc(BADGE_KINDS[state] ?? 'all')}${n === 0 ? ' empty' : ''}" data-state="${esc(state)}" aria-pressed="${pressed}">${esc(state)} <b>${n}</b></button>`;
      })
      .join('');
  };

  const renderRows = () => {
    frame = 0;
    if (!data) return;
    const started = performance.now();
    const q = servicesFilter.q.trim().toLowerCase();
    const state = servicesFilter.state;
    const parts = [];
    for (let i = 0; i < data.services.length; i++) {
      if (state !== 'all' && data.services[i].state !== state) continue;
      if (q && !data.lower[i].includes(q)) continue;
      parts.push(data.html[i]);
    }
    rows.innerHTML = parts.length > 0 ? parts.join('') : `<tr class="empty"><td colspan="6" class="muted">${data.services.length === 0 ? 'No services in the checkout.' : 'No service matches the filter.'}</td></tr>`;
    $('#svc-summary', view).textContent =
      parts.length === data.services.length ? `${data.services.length} services` : `${parts.length} of ${data.services.length} services shown`;
    performance.measure('gds:services-render', { start: started, end: performance.now() });
  };

  const scheduleRows = () => {
    if (!frame) frame = requestAnimationFrame(renderRows);
  };

  const show = (answer, text) => {
    if (text === lastText) return; // nothing changed: keep the DOM (and focus) as it is
    lastText = text;
    data = prepare(answer);
    $('#svc-commit', view).innerHTML = data.commit ? `checkout at ${shaHtml(data.commit)}` : '';
    renderChips();
    cancelAnimationFrame(frame);
    renderRows();
  };

  if (servicesCache) show(servicesCache.answer, servicesCache.text);

  const poller = new Poller(async () => {
    const answer = await api('/api/services');
    const text = JSON.stringify(answer);
    servicesCache = { answer, text };
    show(answer, text);
  }).start();

  input.addEventListener('input', () => {
    servicesFilter.q = input.value;
    scheduleRows();
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      input.value = '';
      servicesFilter.q = '';
      scheduleRows();
    }
  });
  chips.addEventListener('click', (event) => {
    const chip = event.target.closest('button[data-state]');
    if (!chip) return;
    servicesFilter.state = chip.dataset.state;
    for (const c of chips.children) c.setAttribute('aria-pressed', String(c === chip));
    scheduleRows();
  });
  $('#deploy-all', view).addEventListener('click', (event) => void deployAllChanged(event.currentTarget));
  bindActions(rows, () => poller.poke());

  return () => {
    poller.stop();
    cancelAnimationFrame(frame);
  };
}

function serviceRowHtml(s) {
  const name = esc(s.name);
  const href = `#/services/${esc(enc(s.name))}`;
  const last = s.lastDeployment;
  let lastHtml = '<span class="muted">–</span>';
  if (last) {
    const status = last.status === 'succeeded' ? '' : `${badge(last.status)} `;
    lastHtml = `${status}<a href="#/runs/${esc(enc(last.runId))}" title="${esc(`${last.action ?? ''} ${last.status ?? ''}`)}">${esc(last.reason || last.action || 'run')}</a>${errorHtml(last.error, 'small')}`;
  }
  const deployed = s.deployedCommit || s.deployedAt ? `${shaHtml(s.deployedCommit)} <span class="small">${timeHtml(s.deployedAt)}</span>` : '<span class="muted">never</span>';
  const problem = s.problem ? errorHtml(s.problem, 'small') : '';
  return `<tr data-name="${name}" data-state="${esc(s.state)}">` +
    `<td class="name"><a href="${href}">${name}</a>${s.self ? ' <span class="badge b-muted" title="The deploy server itself: updated through a helper container">this server</span>' : ''}</td>` +
    `<td class="col-runtime">${esc(s.runtime)}</td>` +
    `<td class="state">${badge(s.state)}${problem}</td>` +
    `<td class="deployed">${deployed}</td>` +
    `<td class="col-last">${lastHtml}</td>` +
    `<td class="col-actions">${actionButtons(s)}</td></tr>`;
}

// ---------------------------------------------------------------------------------------------
// Service detail view

function serviceView(view, name) {
  view.innerHTML = `
    <nav class="crumbs"><a href="#/services">Services</a> / <span>${esc(name)}</span></nav>
    <div id="svc-detail"><p class="muted">Loading…</p></div>`;
  const root = $('#svc-detail', view);
  let history = [];
  let next = null;
  let detail = null;
  let lastText = '';

  const render = () => {
    const s = detail.service;
    const files = Array.isArray(detail.files) ? detail.files : [];
    const images = Object.entries(detail.deployed?.images ?? {});
    const changedCount = files.filter((f) => f.changed).length;
    root.innerHTML = `
      <div class="toolbar">
        <h1>${esc(s.name)}</h1> ${badge(s.state)}
        <span class="spacer"></span>
        <span class="actions" id="svc-actions">${actionButtons(s, false)}</span>
      </div>
      ${s.problem ? `<div class="card error-card">${esc(errorText(s.problem))}</div>` : ''}
      ${factsHtml([
        ['Runtime', esc(s.runtime)],
        ['Compose file', `<code>${esc(s.composeFile)}</code>`],
        ['Project', `<code>${esc(s.projectName)}</code>`],
        ['Deployed commit', shaHtml(detail.deployed?.commit ?? s.deployedCommit, 12)],
        ['Deployed at', timeHtml(detail.deployed?.deployedAt ?? s.deployedAt)],
        ['Fingerprint (desired / deployed)', `${shaHtml(s.desiredFingerprint, 12)} / ${shaHtml(s.deployedFingerprint, 12)}`],
      ])}
      <h2>Files <span class="muted small">${files.length} inputs${changedCount ? `, ${changedCount} changed since the last deployment` : ''}</span></h2>
      <div class="table-wrap"><table class="files">
        <thead><tr><th>Path</th><th><span class="sr-only">Change</span></th><th>Digest</th><th>Deployed digest</th></tr></thead>
        <tbody>${files.map((f) => fileRowHtml(f, Boolean(detail.deployed))).join('') || '<tr><td colspan="4" class="muted">No files.</td></tr>'}</tbody>
      </table></div>
      <h2>Deployed images</h2>
      ${images.length === 0 ? '<p class="muted">Nothing deployed yet.</p>' : `<div class="table-wrap"><table class="images">
        <thead><tr><th>Compose service</th><th>Image id</th></tr></thead>
        <tbody>${images.map(([svc, id]) => `<tr><td>${esc(svc)}</td><td>${shaHtml(String(id).replace(/^sha256:/, ''), 12)}</td></tr>`).join('')}</tbody>
      </table></div>`}
      <h2>History</h2>
      <div class="table-wrap"><table class="history">
        <thead><tr><th>When</th><th>Action</th><th>Status</th><th>Reason</th><th>Commit</th><th>Run</th></tr></thead>
        <tbody>${history.map(historyRowHtml).join('') || '<tr><td colspan="6" class="muted">No deployments yet.</td></tr>'}</tbody>
      </table></div>
      ${next ? '<p><button type="button" id="history-older">Older</button></p>' : ''}`;
  };

  const limit = () => Math.min(200, Math.max(20, history.length));

  const poller = new Poller(async () => {
    let answer;
    try {
      answer = await api(`/api/services/${enc(name)}?limit=${limit()}`);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 400)) {
        root.innerHTML = `<div class="card error-card">${esc(errorText({ code: error.code, message: error.message }))}</div>`;
        poller.stop();
        return;
      }
      throw error;
    }
    const text = JSON.stringify(answer);
    if (text === lastText) return;
    lastText = text;
    detail = answer;
    const fresh = Array.isArray(answer.history) ? answer.history : [];
    const merged = history.length > fresh.length ? mergeNewest(history, fresh) : null;
    if (merged) history = merged;
    else {
      history = fresh;
      next = answer.next ?? null;
    }
    render();
  }).start();

  root.addEventListener('click', async (event) => {
    if (event.target.id !== 'history-older' || !next) return;
    event.target.disabled = true;
    try {
      const page = await api(`/api/services/${enc(name)}?limit=50&before=${enc(next)}`);
      history = history.concat(page.history ?? []);
      next = page.next ?? null;
      render();
    } catch (error) {
      flashError('Loading older deployments', error);
      event.target.disabled = false;
    }
  });
  bindActions(root, () => poller.poke());
  return () => poller.stop();
}

const isAbsent = (digest) => digest === null || digest === undefined || digest === 'missing';

/** One input file; the marker says how it differs from the last deployment (when there was one). */
function fileRowHtml(f, hasDeployed) {
  let marker = '';
  if (hasDeployed && isAbsent(f.deployedDigest) && !isAbsent(f.digest)) marker = '<span class="badge b-wait">new</span>';
  else if (hasDeployed && isAbsent(f.digest) && !isAbsent(f.deployedDigest)) marker = '<span class="badge b-bad">removed</span>';
  else if (f.changed) marker = '<span class="badge b-wait">changed</span>';
  else if (f.digest === 'missing') marker = '<span class="badge b-bad">missing</span>';
  const digest = (d) => (d === 'missing' ? '<span class="muted">missing</span>' : shaHtml(d, 12));
  return `<tr${f.changed ? ' class="changed"' : ''}><td><code>${esc(f.path)}</code></td><td>${marker}</td><td>${digest(f.digest)}</td><td>${digest(f.deployedDigest)}</td></tr>`;
}

function historyRowHtml(d) {
  return `<tr><td>${timeHtml(d.startedAt ?? d.createdAt)}</td><td>${esc(d.action)}</td><td>${badge(d.status)}</td>` +
    `<td>${esc(d.reason)}${errorHtml(d.error, 'small')}</td><td>${shaHtml(d.commit)}</td><td>${runLink(d.runId)}</td></tr>`;
}

// ---------------------------------------------------------------------------------------------
// Runs view

function runsView(view) {
  view.innerHTML = `
    <div class="toolbar">
      <h1>Runs</h1>
      <span class="spacer"></span>
      <button type="button" class="primary" id="deploy-all">Deploy all changed</button>
    </div>
    <div class="table-wrap">
      <table class="runs" id="runs-table">
        <thead><tr><th>Run</th><th>Status</th><th>Trigger</th><th class="col-origin">Origin</th><th>Commit</th>
          <th>Created</th><th class="col-duration">Took</th><th>Deployments</th></tr></thead>
        <tbody id="runs-rows"><tr><td colspan="8" class="muted">Loading…</td></tr></tbody>
      </table>
    </div>
    <p><button type="button" id="runs-older" hidden>Older</button></p>`;
  const rows = $('#runs-rows', view);
  const older = $('#runs-older', view);
  let runs = [];
  let next = null;
  let lastText = '';

  const render = () => {
    rows.innerHTML = runs.map(runRowHtml).join('') || '<tr><td colspan="8" class="muted">No runs yet.</td></tr>';
    older.hidden = !next;
  };

  const poller = new Poller(async () => {
    const answer = await api('/api/runs?limit=50');
    const text = JSON.stringify(answer);
    if (text === lastText) return;
    lastText = text;
    const fresh = Array.isArray(answer.runs) ? answer.runs : [];
    const merged = runs.length > fresh.length ? mergeNewest(runs, fresh) : null;
    if (merged) runs = merged;
    else {
      runs = fresh;
      next = answer.next ?? null;
    }
    render();
  }).start();

  older.addEventListener('click', async () => {
    older.disabled = true;
    try {
      const page = await api(`/api/runs?limit=50&before=${enc(next)}`);
      runs = runs.concat(page.runs ?? []);
      next = page.next ?? null;
      render();
    } catch (error) {
      flashError('Loading older runs', error);
    } finally {
      older.disabled = false;
    }
  });
  $('#deploy-all', view).addEventListener('click', (event) => void deployAllChanged(event.currentTarget));
  return () => poller.stop();
}

function runRowHtml(r) {
  const c = r.counts ?? {};
  const parts = [];
  if (c.succeeded) parts.push(`<span class="ok-text">${esc(c.succeeded)} ok</span>`);
  if (c.failed) parts.push(`<span class="bad-text">${esc(c.failed)} failed</span>`);
  if (c.skipped) parts.push(`<span class="muted">${esc(c.skipped)} skipped</span>`);
  const pending = (c.deployed ?? 0) - (c.succeeded ?? 0) - (c.failed ?? 0) - (c.skipped ?? 0);
  if (pending > 0) parts.push(`<span>${esc(pending)} pending</span>`);
  const services = Array.isArray(r.services) ? r.services : [];
  const names = services.slice(0, 3).map(esc).join(', ') + (services.length > 3 ? ` +${services.length - 3}` : '');
  const trigger = r.service ? `${esc(r.trigger)} <span class="muted">${esc(r.service)}</span>` : esc(r.trigger);
  return `<tr data-run="${esc(r.id)}"><td class="run-id">${runLink(r.id)}</td><td>${badge(r.status)}${errorHtml(r.error, 'small')}</td>` +
    `<td>${trigger}</td><td class="col-origin">${esc(r.origin)}</td><td>${shaHtml(r.commit)}</td><td>${timeHtml(r.createdAt)}</td>` +
    `<td class="col-duration">${esc(duration(r.startedAt, r.finishedAt))}</td>` +
    `<td>${parts.join(' · ') || '<span class="muted">none</span>'}${names ? `<div class="small muted">${names}</div>` : ''}</td></tr>`;
}

// ---------------------------------------------------------------------------------------------
// Run detail view: the deployments and their logs, streamed

/**
 * Reads a run's event stream with fetch (EventSource cannot send Authorization), resuming after
 * the last event id it saw on every reconnect (`Last-Event-ID`), so no line is lost or doubled.
 * Reconnects with backoff (1 s doubling to 10 s) until the `end` event or stop().
 */
export class RunStream {
  constructor(runId, { onEvent, onState }) {
    this.runId = runId;
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastId = null;
    this.ended = false;
    this.stopped = false;
    this.backoff = STREAM_MIN_BACKOFF_MS;
    this.controller = null;
  }

  start() {
    void this.loop();
    return this;
  }

  stop() {
    this.stopped = true;
    this.controller?.abort();
    clearTimeout(this.sleepTimer);
    this.wake?.();
  }

  async loop() {
    let attempt = 0;
    while (!this.stopped && !this.ended) {
      this.onState(attempt === 0 ? 'connecting' : 'reconnecting');
      attempt++;
      try {
        const outcome = await this.connect();
        if (outcome === 'stop') return;
      } catch (error) {
        if (this.stopped) return;
        if (error instanceof AuthError) return;
        this.lastError = error;
      }
      if (this.stopped || this.ended) break;
      const delay = this.backoff;
      this.backoff = Math.min(this.backoff * 2, STREAM_MAX_BACKOFF_MS);
      this.onState('waiting', delay);
      await new Promise((resolve) => {
        this.wake = resolve;
        this.sleepTimer = setTimeout(resolve, delay);
      });
    }
    if (this.ended && !this.stopped) this.onState('finished');
  }

  /** One connection: returns when it closes ('stop' when reconnecting makes no sense). */
  async connect() {
    const controller = new AbortController();
    this.controller = controller;
    const generation = session.generation;
    const headers = { Authorization: `Bearer ${session.token}`, Accept: 'text/event-stream' };
    if (this.lastId !== null) headers['Last-Event-ID'] = String(this.lastId);
    const connectTimer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    let response;
    try {
      response = await fetch(`/api/runs/${enc(this.runId)}/events`, { headers, signal: controller.signal, cache: 'no-store' });
    } finally {
      clearTimeout(connectTimer);
    }
    if (!response.ok) {
      const { code, message } = await readError(response);
      handleAuthFailure(response.status, code, message, generation);
      if (response.status === 404 || response.status === 400) {
        this.onState('unavailable', 0, { code, message });
        return 'stop';
      }
      throw new Error(message);
    }
    this.onState('live');
    this.backoff = STREAM_MIN_BACKOFF_MS;
    const parser = new SseParser((event) => this.dispatch(event));
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let idle = setTimeout(() => controller.abort(), STREAM_IDLE_MS);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        clearTimeout(idle);
        idle = setTimeout(() => controller.abort(), STREAM_IDLE_MS);
        parser.push(value);
        if (this.ended) break;
      }
    } finally {
      clearTimeout(idle);
      if (this.ended) controller.abort(); // the server closes after `end`; do not wait for it
    }
    return 'closed';
  }

  dispatch({ id, event, data }) {
    if (this.stopped) return;
    if (id !== undefined && id !== '') {
      const n = Number(id);
      if (Number.isFinite(n)) {
        if (this.lastId !== null && n <= this.lastId) return; // replayed twice: already shown
        this.lastId = n;
      }
    }
    let payload = null;
    try {
      payload = data ? JSON.parse(data) : null;
    } catch {
      return;
    }
    if (event === 'end') this.ended = true;
    this.onEvent(event, payload);
  }
}

const STREAM_LABELS = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  waiting: 'reconnecting…',
  finished: 'finished',
  unavailable: 'no live log',
};

function runView(view, runId) {
  view.innerHTML = `
    <nav class="crumbs"><a href="#/runs">Runs</a> / <span>${esc(runId)}</span></nav>
    <div class="toolbar">
      <h1>Run <code class="run-title">${esc(runId)}</code></h1>
      <span id="run-status">${badge('queued')}</span>
      <span class="spacer"></span>
      <span id="stream-state" class="stream-state" data-state="connecting"><span class="dot"></span><span class="label">connecting…</span></span>
    </div>
    <div id="run-facts"></div>
    <div id="run-deployments" class="deployments"></div>
    <p id="run-empty" class="muted" hidden>No service was deployed in this run: nothing had changed.</p>`;
  const facts = $('#run-facts', view);
  const list = $('#run-deployments', view);
  const streamState = $('#stream-state', view);

  const run = { id: runId, status: 'queued', loaded: false };
  /** deploymentId -> { data, section, header, log, lines, pending: string[], chunks } */
  const deployments = new Map();
  let frame = 0;
  let refreshTimer = 0;
  let stopped = false;

  const renderRun = () => {
    $('#run-status', view).innerHTML = badge(run.status);
    $('#run-status', view).dataset.status = run.status;
    const rows = [
      ['Trigger', `${esc(run.trigger ?? '')}${run.service ? ` <a href="#/services/${esc(enc(run.service))}">${esc(run.service)}</a>` : ''}`],
      ['Origin', esc(run.origin ?? '')],
      ['Commit', shaHtml(run.commit, 12)],
      ['Created', timeHtml(run.createdAt)],
      ['Started', timeHtml(run.startedAt)],
      ['Finished', run.finishedAt ? `${timeHtml(run.finishedAt)} <span class="muted">after ${esc(duration(run.startedAt, run.finishedAt))}</span>` : '<span class="muted">–</span>'],
    ].filter(([, value]) => value !== '');
    facts.innerHTML = `${factsHtml(rows)}${run.error ? `<div class="card error-card">${esc(errorText(run.error))}</div>` : ''}`;
    $('#run-empty', view).hidden = !(isFinished(run.status) && deployments.size === 0 && run.loaded);
  };

  const deploymentFor = (id, data) => {
    let d = deployments.get(id);
    if (!d) {
      const section = document.createElement('section');
      section.className = 'deployment';
      section.dataset.deploymentId = id;
      section.innerHTML = '<header class="deployment-head"></header><pre class="log" data-log tabindex="0" hidden></pre>';
      list.append(section);
      d = { data: {}, section, header: $('header', section), log: $('pre', section), headHtml: '', lines: 0, pending: [], chunks: [] };
      deployments.set(id, d);
    }
    if (data) {
      Object.assign(d.data, data);
      dirtyHeads.add(d);
      scheduleFrame();
    }
    return d;
  };

  /** Deployment headers and log lines are written once per animation frame. */
  const dirtyHeads = new Set();
  const pendingLogs = new Set();
  const scheduleFrame = () => {
    if (!frame) frame = requestAnimationFrame(flush);
  };

  const renderDeploymentHead = (d) => {
    const x = d.data;
    const html = `<div class="deployment-title">
        <a href="#/services/${esc(enc(x.service ?? ''))}" class="service">${esc(x.service)}</a>
        <span class="muted">${esc(x.action)}</span> ${badge(x.status)}
        <span class="reason">${esc(x.reason)}</span>
        <span class="spacer"></span>
        <span class="muted small">${x.finishedAt ? esc(duration(x.startedAt, x.finishedAt)) : x.startedAt ? `started ${timeHtml(x.startedAt)}` : ''}</span>
      </div>${errorHtml(x.error)}${imagesHtml(x.imagesBefore, x.imagesAfter)}`;
    if (html === d.headHtml) return;
    d.headHtml = html;
    d.section.dataset.status = x.status ?? '';
    d.header.innerHTML = html;
  };

  const appendLine = (d, line) => {
    d.pending.push(line.replace(ANSI, ''));
    pendingLogs.add(d);
    scheduleFrame();
  };

  /** Writes headers, then reads every log's scroll position, then appends: two layouts per frame at most. */
  const flush = () => {
    frame = 0;
    for (const d of dirtyHeads) renderDeploymentHead(d);
    dirtyHeads.clear();
    const batch = [];
    for (const d of pendingLogs) {
      const log = d.log;
      batch.push({ d, follow: log.hidden || log.scrollTop + log.clientHeight >= log.scrollHeight - 8 });
    }
    pendingLogs.clear();
    for (const { d } of batch) {
      const log = d.log;
      log.append(document.createTextNode(`${d.pending.join('\n')}\n`));
      d.chunks.push(d.pending.length);
      d.lines += d.pending.length;
      d.pending = [];
      while (d.lines > MAX_LOG_LINES && d.chunks.length > 1) {
        d.lines -= d.chunks.shift();
        log.firstChild.remove();
      }
      log.hidden = false;
    }
    for (const { d, follow } of batch) {
      if (follow) d.log.scrollTop = d.log.scrollHeight;
    }
  };

  /** GET /api/runs/:id: the facts the events do not carry (times, images, stored output). */
  const refresh = async () => {
    let answer;
    try {
      answer = await api(`/api/runs/${enc(runId)}`);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 400)) {
        facts.innerHTML = `<div class="card error-card">${esc(errorText({ code: error.code, message: error.message }))}</div>`;
        stream.stop();
        setStreamState('unavailable');
        return;
      }
      if (!(error instanceof AuthError)) connection.failed(refresh, error, 5_000);
      if (!stopped && !(error instanceof AuthError)) scheduleRefresh(5_000);
      return;
    }
    connection.ok(refresh);
    if (stopped) return;
    const { deployments: list = [], ...rest } = answer;
    // The stream is the source of truth for the status once it runs; the GET may be older.
    const status = streamSawRun && statusRank(run.status) > statusRank(rest.status) ? run.status : rest.status;
    Object.assign(run, rest, { status, loaded: true });
    for (const item of list) {
      const { output, ...data } = item;
      const d = deploymentFor(item.id, data);
      d.storedOutput = output;
    }
    if (streamDone) fillFromStoredOutput();
    renderRun();
    if (!streamStarted) {
      streamStarted = true;
      stream.start();
    }
  };

  /**
   * At most one GET per second: it carries every deployment's stored output, so it is fetched
   * for facts the events lack (times, images) when the run changes state, not on every event.
   */
  const scheduleRefresh = (delay = 1_000) => {
    if (refreshTimer && delay > 0) return;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      refreshTimer = 0;
      void refresh();
    }, delay);
  };

  /** A run with no stream (older server, or events pruned) still shows the stored output. */
  const fillFromStoredOutput = () => {
    for (const d of deployments.values()) {
      if (d.lines === 0 && d.pending.length === 0 && d.storedOutput) {
        for (const line of d.storedOutput.replace(/\n$/, '').split(/\r?\n/)) appendLine(d, line);
      }
    }
  };

  let streamSawRun = false;
  let streamDone = false;

  const setStreamState = (state, delay = 0) => {
    streamState.dataset.state = state;
    const label = STREAM_LABELS[state] ?? state;
    $('.label', streamState).textContent = state === 'waiting' && delay ? `reconnecting in ${Math.round(delay / 1_000)} s…` : label;
  };

  const stream = new RunStream(runId, {
    onState: (state, delay) => {
      if (stopped) return;
      setStreamState(state, delay);
      if (state === 'finished' || state === 'unavailable') {
        streamDone = true;
        scheduleRefresh(0);
      }
    },
    onEvent: (type, data) => {
      if (!data) return;
      if (type === 'run') {
        streamSawRun = true;
        if (data.status) run.status = data.status;
        if ('commit' in data) run.commit = data.commit;
        if ('error' in data) run.error = data.error;
        renderRun();
        scheduleRefresh();
      } else if (type === 'deployment') {
        const { deploymentId, runId: _ignored, ...rest } = data;
        deploymentFor(deploymentId, rest);
      } else if (type === 'output') {
        const d = deploymentFor(data.deploymentId, null);
        if (!d.data.service && data.service) deploymentFor(data.deploymentId, { service: data.service });
        appendLine(d, String(data.line ?? ''));
      } else if (type === 'end') {
        streamSawRun = true;
        if (data.status) run.status = data.status;
        renderRun();
      }
    },
  });

  let streamStarted = false;
  void refresh();

  return () => {
    stopped = true;
    stream.stop();
    clearTimeout(refreshTimer);
    cancelAnimationFrame(frame);
    connection.ok(refresh);
  };
}

/** Orders run statuses so a late GET never moves the shown status backwards. */
function statusRank(status) {
  return status === 'queued' ? 0 : status === 'running' ? 1 : 2;
}

function isFinished(status) {
  return status === 'succeeded' || status === 'failed' || status === 'skipped' || status === 'interrupted';
}

function imagesHtml(before, after) {
  const names = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])];
  if (names.length === 0) return '';
  const strip = (id) => (id ? String(id).replace(/^sha256:/, '') : null);
  const rows = names.map((n) => {
    const b = strip(before?.[n]);
    const a = strip(after?.[n]);
    const changed = b !== a;
    return `<tr${changed ? ' class="changed"' : ''}><td>${esc(n)}</td><td>${shaHtml(b, 12)}</td><td>${shaHtml(a, 12)}</td><td>${changed ? '<span class="badge b-wait">changed</span>' : ''}</td></tr>`;
  });
  return `<details class="images"><summary>Images</summary><table><thead><tr><th>Compose service</th><th>Before</th><th>After</th><th></th></tr></thead><tbody>${rows.join('')}</tbody></table></details>`;
}

// ---------------------------------------------------------------------------------------------
// Plan view

/** The last preview (kept across views) and the request in flight, if any. */
const planState = { answer: null, at: null, error: null, pending: null, startedAt: 0, showUnchanged: false };

function planView(view) {
  view.innerHTML = `
    <div class="toolbar">
      <h1>Plan preview</h1>
      <span class="spacer"></span>
      <button type="button" id="plan-run">Preview plan</button>
      <button type="button" class="primary" id="deploy-all" hidden>Deploy all changed</button>
    </div>
    <p class="muted small">What <em>Deploy all changed</em> would do with the remote's newest commit. The
      server fetches the remote; nothing is deployed and the checkout is not moved.</p>
    <div id="plan-progress" class="progress" hidden><span class="spinner"></span> <span id="plan-elapsed">Fetching and planning…</span></div>
    <div id="plan-result"></div>`;
  const result = $('#plan-result', view);
  const progress = $('#plan-progress', view);
  const runButton = $('#plan-run', view);
  const deployButton = $('#deploy-all', view);
  let ticker = 0;
  let disposed = false;

  const render = () => {
    const busy = Boolean(planState.pending);
    runButton.disabled = busy;
    progress.hidden = !busy;
    clearInterval(ticker);
    if (busy) {
      const tick = () => ($('#plan-elapsed', view).textContent = `Fetching and planning… ${Math.floor((Date.now() - planState.startedAt) / 1_000)} s`);
      tick();
      ticker = setInterval(tick, 500);
    }
    if (planState.error) {
      result.innerHTML = `<div class="card error-card">Preview failed: ${esc(errorText(planState.error))}</div>`;
      deployButton.hidden = true;
      return;
    }
    const plan = planState.answer;
    if (!plan) {
      result.innerHTML = busy ? '' : '<p class="muted">Nothing previewed yet.</p>';
      deployButton.hidden = true;
      return;
    }
    const services = Array.isArray(plan.services) ? plan.services : [];
    const counts = plan.counts ?? {};
    const order = (d) => {
      const i = DECISIONS.indexOf(d);
      return i === -1 ? DECISIONS.length : i;
    };
    const sorted = services.slice().sort((a, b) => order(a.decision) - order(b.decision) || String(a.service).localeCompare(String(b.service)));
    const shown = planState.showUnchanged ? sorted : sorted.filter((s) => s.decision !== 'unchanged');
    const hidden = sorted.length - shown.length;
    deployButton.hidden = !(counts.deploy > 0);
    result.innerHTML = `
      <p class="plan-head">Remote head ${shaHtml(plan.commit, 12)}${plan.currentCommit && plan.currentCommit !== plan.commit ? `, checkout at ${shaHtml(plan.currentCommit, 12)}` : plan.currentCommit ? ' <span class="muted">(the checkout is already there)</span>' : ''}
        <span class="muted small">· previewed ${timeHtml(planState.at)}</span></p>
      <p class="chips static">${DECISIONS.map((d) => `<span class="chip chip-${BADGE_KINDS[d] ?? 'muted'}">${esc(d)} <b>${esc(counts[d] ?? 0)}</b></span>`).join('')}</p>
      <div class="table-wrap"><table class="plan" id="plan-table">
        <thead><tr><th>Service</th><th>Decision</th><th>Reason</th><th>Changed files</th></tr></thead>
        <tbody>${shown.map(planRowHtml).join('') || `<tr><td colspan="4" class="muted">${services.length ? 'Every service is unchanged: a deploy would do nothing.' : 'No services.'}</td></tr>`}</tbody>
      </table></div>
      ${hidden || planState.showUnchanged ? `<label class="small"><input type="checkbox" id="plan-unchanged"${planState.showUnchanged ? ' checked' : ''}> Show unchanged services (${esc(counts.unchanged ?? hidden)})</label>` : ''}`;
  };

  const preview = () => {
    if (planState.pending) return;
    planState.error = null;
    planState.startedAt = Date.now();
    planState.pending = api('/api/plan', { method: 'POST', timeoutMs: PLAN_TIMEOUT_MS })
      .then((answer) => {
        planState.answer = answer;
        planState.at = new Date().toISOString();
      })
      .catch((error) => {
        if (!(error instanceof AuthError)) planState.error = error instanceof ApiError ? { code: error.code, message: error.message } : { message: error.message };
      })
      .finally(() => {
        planState.pending = null;
        if (!disposed) render();
      });
    render();
  };

  if (planState.pending) planState.pending.finally(() => !disposed && render());
  runButton.addEventListener('click', preview);
  deployButton.addEventListener('click', (event) => void deployAllChanged(event.currentTarget));
  result.addEventListener('change', (event) => {
    if (event.target.id !== 'plan-unchanged') return;
    planState.showUnchanged = event.target.checked;
    render();
  });
  render();
  return () => {
    disposed = true;
    clearInterval(ticker);
  };
}

function planRowHtml(p) {
  const files = Array.isArray(p.changedFiles) ? p.changedFiles : [];
  return `<tr data-service="${esc(p.service)}" data-decision="${esc(p.decision)}"><td class="name"><a href="#/services/${esc(enc(p.service))}">${esc(p.service)}</a></td>` +
    `<td>${badge(p.decision)}</td><td>${esc(p.reason)}</td>` +
    `<td class="files">${files.map((f) => `<code>${esc(f)}</code>`).join(' ')}</td></tr>`;
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
