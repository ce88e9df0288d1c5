// The run detail view (#/runs/<id>): the run's deployments and their logs, streamed live.
// Log lines are set as text nodes, never as HTML.

import { ApiError, AuthError, api } from './api.js';
import { RunStream } from './event-stream.js';
import { badge, duration, enc, errorHtml, errorText, esc, factsHtml, shaHtml, timeHtml } from './format.js';
import { $, connection } from './shell.js';

/** Log lines kept in the page per deployment; older ones are dropped from the view. */
const MAX_LOG_LINES = 20_000;
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

const STREAM_LABELS = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  waiting: 'reconnecting…',
  finished: 'finished',
  unavailable: 'no live log',
};

export function runView(view, runId) {
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

/** The server's FINAL_DEPLOYMENT_STATUSES (src/domain/types.ts). */
function isFinished(status) {
  return ['succeeded', 'skipped', 'failed', 'interrupted', 'rolled-back'].includes(status);
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
