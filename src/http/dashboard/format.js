// Escaping and formatting for the dashboard: pure functions from values to HTML strings.
//
// Every string that comes from the server goes through esc() here before any module puts it
// into innerHTML; the helpers below escape what they are given, so their output is safe markup.

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** HTML-escapes any value (null and undefined become ''). */
export function esc(value) {
  return value === null || value === undefined ? '' : String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

export const enc = encodeURIComponent;

/** Status words the stylesheet knows; anything else is drawn neutral. */
export const BADGE_KINDS = {
  succeeded: 'ok', 'in-sync': 'ok', unchanged: 'muted', skipped: 'muted', self: 'muted',
  failed: 'bad', problem: 'bad', interrupted: 'bad', 'rolled-back': 'bad', drifted: 'bad',
  'handed-off': 'run',
  running: 'run', deploy: 'run', update: 'run',
  queued: 'wait', changed: 'wait', 'never-deployed': 'wait', pinned: 'wait',
  orphaned: 'bad', removed: 'muted', prune: 'run',
};

export function badge(status, extraClass = '') {
  const kind = BADGE_KINDS[status] ?? 'muted';
  return `<span class="badge b-${kind}${extraClass ? ` ${extraClass}` : ''}">${esc(status ?? '?')}</span>`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
export const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const timeCache = new Map();

/** `<time>` with a short local time (today) or date and time, and the full one as a tooltip. */
export function timeHtml(iso) {
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

export function duration(startIso, endIso) {
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
export function shaHtml(sha, length = 8) {
  if (!sha) return '<span class="muted">–</span>';
  return `<code title="${esc(sha)}">${esc(String(sha).slice(0, length))}</code>`;
}

/** `{code, message}` (or a plain string) as one line of text. */
export function errorText(error) {
  if (!error) return '';
  if (typeof error === 'string') return error;
  return [error.code, error.message].filter(Boolean).join(': ');
}

export function errorHtml(error, extraClass = '') {
  return error ? `<div class="error-text${extraClass ? ` ${extraClass}` : ''}">${esc(errorText(error))}</div>` : '';
}

/** Label/value pairs (values already escaped) as a compact definition list. */
export function factsHtml(pairs) {
  return `<dl class="facts">${pairs.map(([label, value]) => `<div><dt>${esc(label)}</dt><dd>${value}</dd></div>`).join('')}</dl>`;
}

/** A link to a run's page. */
export function runLink(runId, label = runId) {
  return `<a href="#/runs/${esc(enc(runId))}">${esc(label)}</a>`;
}
