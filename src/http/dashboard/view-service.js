// The service detail view (#/services/<name>): facts, input files, deployed images, history.

import { actionButtons, bindActions } from './actions.js';
import { ApiError, api } from './api.js';
import { badge, enc, errorHtml, errorText, esc, factsHtml, runLink, shaHtml, timeHtml } from './format.js';
import { Poller, mergeNewest } from './poller.js';
import { $, flashError } from './shell.js';

export function serviceView(view, name) {
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
        <span class="actions" id="svc-actions">${actionButtons(s, false, true)}</span>
      </div>
      ${s.problem ? `<div class="card error-card">${esc(errorText(s.problem))}</div>` : ''}
      ${s.drift ? `<div class="card error-card">Drifted since ${timeHtml(s.drift.since)}: the engine no longer runs what was deployed.<br>${(s.drift.reasons ?? []).map((r) => esc(r)).join('<br>')}${s.drift.held ? `<br>Self-heal: ${esc(s.drift.held)}` : s.drift.healRunId ? `<br>Self-heal: <a href="#/runs/${esc(enc(s.drift.healRunId))}">redeploying</a>` : ''}</div>` : ''}
      ${s.stateReason ? `<div class="card">${esc(s.stateReason)}</div>` : ''}
      ${s.pinned ? `<div class="card">Pinned to ${shaHtml(s.pinned.commit, 12)} (${s.pinned.reason === 'rolled-back' ? 'rolled back after a failed health gate' : 'rolled back by hand'}): deploy-all leaves it alone until its inputs change in git. Unpin or redeploy it to follow git now.</div>` : ''}
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
        <thead><tr><th>When</th><th>Action</th><th>Status</th><th>Reason</th><th>Commit</th><th>Run</th><th><span class="sr-only">Rollback</span></th></tr></thead>
        <tbody>${history.map((d) => historyRowHtml(d, s)).join('') || '<tr><td colspan="7" class="muted">No deployments yet.</td></tr>'}</tbody>
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

/** One deployment; a successful one of a commit can be deployed again (rollback, then pinned). */
function historyRowHtml(d, service) {
  const canRollBack = d.status === 'succeeded' && d.commit && !service.self;
  const rollback = canRollBack
    ? `<button type="button" class="small" data-act="rollback" data-name="${esc(service.name)}" data-to="${esc(d.id)}" title="Deploy these inputs again and pin the service there">Roll back here</button>`
    : '';
  return `<tr><td>${timeHtml(d.startedAt ?? d.createdAt)}</td><td>${esc(d.action)}</td><td>${badge(d.status)}</td>` +
    `<td>${esc(d.reason)}${errorHtml(d.error, 'small')}</td><td>${shaHtml(d.commit)}</td><td>${runLink(d.runId)}</td><td>${rollback}</td></tr>`;
}
