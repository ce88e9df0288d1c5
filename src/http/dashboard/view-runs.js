// The runs view (#/runs): the newest runs, polled, with older pages through the `next` cursor.

import { deployAllChanged } from './actions.js';
import { api } from './api.js';
import { badge, enc, errorHtml, esc, duration, runLink, shaHtml, timeHtml } from './format.js';
import { Poller, mergeNewest } from './poller.js';
import { $, flashError } from './shell.js';

export function runsView(view) {
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
