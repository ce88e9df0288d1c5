// The plan view (#/plan): what "Deploy all changed" would do with the remote's newest commit.

import { deployAllChanged } from './actions.js';
import { ApiError, AuthError, api } from './api.js';
import { BADGE_KINDS, badge, enc, errorText, esc, shaHtml, timeHtml } from './format.js';
import { $ } from './shell.js';

/** The plan fetches the remote (git's own timeout is 120 s by default) and reads every service. */
const PLAN_TIMEOUT_MS = 300_000;
const DECISIONS = ['deploy', 'problem', 'self', 'unchanged'];

/** The last preview (kept across views) and the request in flight, if any. */
const planState = { answer: null, at: null, error: null, pending: null, startedAt: 0, showUnchanged: false };

export function planView(view) {
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
