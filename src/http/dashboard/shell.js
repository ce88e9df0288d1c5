// The page shell around the views: the connection banner, flash messages and the header's
// server name and version. Messages passed in as HTML must already be escaped.

import { AuthError, UnreachableError, api } from './api.js';
import { esc, fullFormat, runLink } from './format.js';

export const $ = (selector, root = document) => root.querySelector(selector);

/**
 * Sources that currently fail to reach the server (pollers), each with the time of its next try.
 * The banner shows while any fails; the tables keep their last data.
 */
export const connection = {
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
export function flash(html, kind = 'info') {
  const box = $('#flash');
  box.className = `flash flash-${kind}`;
  box.innerHTML = `<span>${html}</span><button type="button" class="link" aria-label="Dismiss">×</button>`;
  box.hidden = false;
  $('button', box).onclick = () => (box.hidden = true);
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => (box.hidden = true), 30_000);
}

/** Flash for a 202 action answer: the run it queued (or joined), with a link. */
export function flashQueued(what, answer) {
  const joined = answer?.coalesced ? 'joined the waiting run' : 'queued as run';
  flash(`${esc(what)} ${joined} ${runLink(answer.runId)}.`, 'ok');
}

export function flashError(what, error) {
  if (error instanceof AuthError || error?.name === 'AbortError') return;
  flash(`${esc(what)} failed: ${esc(error.code ? `${error.code}: ${error.message}` : error.message)}`, 'error');
}

/** Fills the header from GET /api/version; false when the token was refused (or the API is off). */
export async function loadVersion() {
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
