// The services view (#/services): every service with its state, filterable by name and state.
// Rows are built as one HTML string and assigned once, so 1,000 rows render in one layout pass.

import { actionButtons, bindActions, deployAllChanged } from './actions.js';
import { api } from './api.js';
import { BADGE_KINDS, badge, enc, errorHtml, esc, shaHtml, timeHtml } from './format.js';
import { Poller } from './poller.js';
import { $ } from './shell.js';

const STATES = ['problem', 'failed', 'drifted', 'rolled-back', 'pinned', 'orphaned', 'changed', 'never-deployed', 'in-sync', 'self'];

/** Kept across views so the filter survives a visit to a service or a run. */
const servicesFilter = { q: '', state: 'all' };
let servicesCache = null;

export function servicesView(view) {
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
  const problem = s.problem ? errorHtml(s.problem, 'small') : s.drift ? driftHtml(s.drift) : '';
  return `<tr data-name="${name}" data-state="${esc(s.state)}">` +
    `<td class="name"><a href="${href}">${name}</a>${s.self ? ' <span class="badge b-muted" title="The deploy server itself: updated through a helper container">this server</span>' : ''}</td>` +
    `<td class="col-runtime">${esc(s.runtime)}</td>` +
    `<td class="state">${badge(s.state)}${problem}</td>` +
    `<td class="deployed">${deployed}</td>` +
    `<td class="col-last">${lastHtml}</td>` +
    `<td class="col-actions">${actionButtons(s)}</td></tr>`;
}

/** Why a drifted service is drifted (the drift check's findings) and whether self-heal holds it. */
export function driftHtml(drift) {
  const reasons = Array.isArray(drift.reasons) ? drift.reasons : [];
  const held = drift.held ? `<div class="small drift-held">${esc(drift.held)}</div>` : '';
  const healing = drift.healRunId && !drift.held ? ` <a class="small" href="#/runs/${esc(enc(drift.healRunId))}">healing</a>` : '';
  return `<div class="small drift-reasons">${reasons.map((r) => esc(r)).join('<br>')}${healing}</div>${held}`;
}
