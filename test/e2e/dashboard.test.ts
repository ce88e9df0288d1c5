// End to end in a real browser (Chromium through playwright-core): the dashboard served by the
// real server, signed in with its API token, watching real Podman deployments; and the page's
// own mechanics (1,000-service table, escaping, the event-stream parser and its reconnects)
// against stubbed API answers, which need no engine.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page, type Route } from 'playwright-core';
import { EnvRepo, TestServer, removeProject, requireEngines, stepper, uid, type RunView } from './harness.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const DASHBOARD_DIR = fileURLToPath(new URL('../../src/http/dashboard/', import.meta.url));
const SCREENSHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));
const API_TOKEN = `e2e-dashboard-token-${uid()}${uid()}`;

/** Chromium is needed; locally its absence skips with the fix, under CI=true it fails. */
function requireChromium(t: TestContext): boolean {
  if (existsSync(CHROMIUM)) return true;
  const why = `no Chromium at ${CHROMIUM}: install Debian's chromium package (or set CHROMIUM_PATH)`;
  if (process.env['CI']) throw new Error(`CI=true but ${why}`);
  t.skip(why);
  return false;
}

async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A page that records uncaught script errors (a broken page must fail the test, not just look empty). */
async function openPage(context: BrowserContext): Promise<{ page: Page; pageErrors: string[] }> {
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(String(error?.stack ?? error)));
  page.setDefaultTimeout(30_000);
  return { page, pageErrors };
}

async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.locator('#token-input').fill(token);
  await page.locator('#token-form button[type=submit]').click();
}

/** Rows of the services table, as the page shows them. */
function serviceRows(page: Page) {
  return page.locator('#svc-rows tr[data-name]');
}

// ---------------------------------------------------------------------------------------------
// Stubbed API: the page's mechanics without a server

const STUB_ORIGIN = 'http://dashboard.test';
const STUB_TOKEN = 'stub-token';
const STUB_NOW = Date.parse('2025-01-01T12:00:00Z');

interface StubService {
  name: string;
  state: string;
  [key: string]: unknown;
}

/** 1,000 services with every state represented, and hostile text where the server echoes text. */
function stubServices(count: number): StubService[] {
  return Array.from({ length: count }, (_, i) => {
    const name = i === 7 ? 'gitops-deploy-server' : `svc-${String(i).padStart(4, '0')}`;
    const state = i === 7 ? 'self' : i % 97 === 3 ? 'problem' : i % 50 === 1 ? 'failed' : i % 37 === 2 ? 'changed' : i % 101 === 5 ? 'never-deployed' : 'in-sync';
    const at = new Date(STUB_NOW - i * 60_000).toISOString();
    const deployed = state !== 'never-deployed' && state !== 'problem';
    return {
      name,
      runtime: i % 3 === 0 ? 'docker' : 'podman',
      composeFile: i % 3 === 0 ? 'docker-compose.yml' : 'podman-compose.yml',
      projectName: name,
      state,
      desiredFingerprint: `f${String(i).padStart(63, '0')}`,
      deployedFingerprint: deployed ? `f${String(i).padStart(63, '1')}` : null,
      deployedCommit: deployed ? `c0ffee${String(i).padStart(34, '0')}` : null,
      deployedAt: deployed ? at : null,
      problem: state === 'problem' ? { code: 'COMPOSE_FILE_INVALID', message: `bad yaml <img src=x onerror="window.__xss=1"> in ${name}` } : null,
      lastDeployment: deployed
        ? {
            id: `d${i}`,
            runId: `r${i}`,
            action: 'deploy',
            status: state === 'failed' ? 'failed' : 'succeeded',
            reason: i === 0 ? 'changed: <script>window.__xss=2</script>.env' : 'changed: podman-compose.yml, .env',
            startedAt: at,
            finishedAt: at,
            error: state === 'failed' ? { code: 'COMPOSE_FAILED', message: 'podman-compose up failed: Error: something broke' } : null,
          }
        : null,
    };
  });
}

function json(route: Route, status: number, body: unknown): Promise<void> {
  return route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });
}

const CONTENT_TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

/**
 * Serves the dashboard files from the source tree and answers the API with `api`; requests
 * without the stub token get the server's 401.
 */
async function stubServer(page: Page, api: (route: Route, url: URL) => Promise<void> | void): Promise<void> {
  await page.route(`${STUB_ORIGIN}/**`, async (route) => {
    const url = new URL(route.request().url());
    if (url.pathname === '/' || url.pathname.startsWith('/assets/')) {
      const file = url.pathname === '/' ? 'index.html' : url.pathname.slice('/assets/'.length);
      return route.fulfill({ status: 200, contentType: CONTENT_TYPES[path.extname(file)] ?? 'text/plain', body: readFileSync(path.join(DASHBOARD_DIR, file)) });
    }
    if (url.pathname.startsWith('/api/')) {
      if (route.request().headers()['authorization'] !== `Bearer ${STUB_TOKEN}`) {
        return json(route, 401, { error: { code: 'API_TOKEN_INVALID', message: 'The bearer token does not match API_TOKEN' } });
      }
      if (url.pathname === '/api/version') return json(route, 200, { name: 'stub-server', version: '0.1.0', startedAt: new Date(STUB_NOW).toISOString(), pid: 1 });
      return api(route, url);
    }
    return json(route, 404, { error: { code: 'ROUTE_NOT_FOUND', message: 'No route' } });
  });
}

/** One SSE event as the server writes it. */
function sse(id: number, event: string, data: unknown): string {
  return `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

test('dashboard mechanics against a stubbed API (no engine needed)', { timeout: 180_000 }, async (t) => {
  if (!requireChromium(t)) return;
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const step = stepper(t);

  await step('the API being off shows a clear note, not the token form', async () => {
    const context = await browser.newContext();
    const { page, pageErrors } = await openPage(context);
    await page.route(`${STUB_ORIGIN}/**`, async (route) => {
      const url = new URL(route.request().url());
      if (url.pathname === '/' || url.pathname.startsWith('/assets/')) {
        const file = url.pathname === '/' ? 'index.html' : url.pathname.slice('/assets/'.length);
        return route.fulfill({ status: 200, contentType: CONTENT_TYPES[path.extname(file)] ?? 'text/plain', body: readFileSync(path.join(DASHBOARD_DIR, file)) });
      }
      return json(route, 403, { error: { code: 'API_DISABLED', message: 'The management API is disabled: set API_TOKEN' } });
    });
    await page.goto(`${STUB_ORIGIN}/`);
    await signIn(page, 'anything');
    await page.locator('#api-disabled').waitFor();
    assert.match(await page.locator('#api-disabled').innerText(), /no API_TOKEN configured/);
    assert.deepEqual(pageErrors, []);
    await context.close();
  });

  await step('1,000 services render and filter without multi-second renders; server text is escaped', async () => {
    const services = stubServices(1_000);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const { page, pageErrors } = await openPage(context);
    await stubServer(page, (route, url) => {
      if (url.pathname === '/api/services') return json(route, 200, { commit: 'c0ffee'.padEnd(40, '0'), services });
      return json(route, 404, { error: { code: 'ROUTE_NOT_FOUND', message: 'No route' } });
    });
    await page.goto(`${STUB_ORIGIN}/#/services`);
    await page.locator('#token-form').waitFor();

    await signIn(page, 'wrong-token');
    await page.locator('#token-error').waitFor();
    assert.equal(await page.locator('#token-error').innerText(), 'The bearer token does not match API_TOKEN');

    const started = Date.now();
    await signIn(page, STUB_TOKEN);
    await page.waitForFunction((n) => document.querySelectorAll('#svc-rows tr[data-name]').length === n, 1_000, { polling: 'raf' });
    const firstRender = Date.now() - started;
    const renderJs = await page.evaluate(() => performance.getEntriesByName('gds:services-render').map((e) => e.duration));
    await screenshot(page, 'dashboard-services-1000', false);

    // Filtering: time from the keystroke to the filtered rows being laid out, measured in the page.
    const filterTimes: Record<string, number> = {};
    const expectCount = (q: string, state: string) =>
      services.filter((s) => (state === 'all' || s.state === state) && s.name.toLowerCase().includes(q.toLowerCase())).length;
    for (const q of ['svc-00', 'SVC-09', '5', 'no-such-service', '']) {
      const expected = expectCount(q, 'all');
      filterTimes[q || '(cleared)'] = await page.evaluate(
        // No named inner functions here: tsx would wrap them in a helper the page does not have.
        async ({ q, expected }) => {
          const input = document.querySelector<HTMLInputElement>('#svc-filter')!;
          const t0 = performance.now();
          input.value = q;
          input.dispatchEvent(new Event('input', { bubbles: true }));
          while (document.querySelectorAll('#svc-rows tr[data-name]').length !== expected) {
            if (performance.now() - t0 > 10_000) throw new Error(`filter ${q}: rows never became ${expected}`);
            await new Promise((resolve) => requestAnimationFrame(resolve));
          }
          void document.body.offsetHeight; // include the layout
          return performance.now() - t0;
        },
        { q, expected },
      );
      assert.equal(await serviceRows(page).count(), expected, `rows for filter "${q}"`);
    }

    // State chips combine with the text filter.
    const failed = expectCount('', 'failed');
    await page.locator('#svc-states button[data-state="failed"]').click();
    await page.waitForFunction((n) => document.querySelectorAll('#svc-rows tr[data-name]').length === n, failed);
    assert.match(await page.locator('#svc-states button[data-state="failed"]').innerText(), new RegExp(`failed\\s+${failed}`));
    await page.locator('#svc-filter').fill('svc-01');
    await page.waitForFunction((n) => document.querySelectorAll('#svc-rows tr[data-name]').length === n, expectCount('svc-01', 'failed'));
    assert.equal(await serviceRows(page).count(), expectCount('svc-01', 'failed'));
    assert.ok(await page.locator('#svc-rows tr[data-state="failed"] .error-text').first().isVisible());
    await page.locator('#svc-filter').fill('');
    await page.locator('#svc-states button[data-state="all"]').click();
    await page.waitForFunction((n) => document.querySelectorAll('#svc-rows tr[data-name]').length === n, 1_000);

    // Nothing the server sent became markup.
    const injected = await page.evaluate(() => ({
      images: document.querySelectorAll('#svc-rows img').length,
      scripts: document.querySelectorAll('#view script').length,
      flags: [(window as unknown as { __xss?: number }).__xss ?? null],
      text: document.querySelector('#svc-rows')!.textContent ?? '',
    }));
    assert.equal(injected.images, 0);
    assert.equal(injected.scripts, 0);
    assert.deepEqual(injected.flags, [null]);
    assert.ok(injected.text.includes('<img src=x onerror="window.__xss=1">'), 'the hostile text is shown as text');
    assert.ok(injected.text.includes('<script>window.__xss=2</script>'));

    // The token is kept across reloads until "Forget token".
    assert.equal(await page.evaluate(() => localStorage.getItem('gds.apiToken')), STUB_TOKEN);
    await page.reload();
    await page.waitForFunction((n) => document.querySelectorAll('#svc-rows tr[data-name]').length === n, 1_000);
    await page.locator('#forget-token').click();
    await page.locator('#token-form').waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem('gds.apiToken')), null);
    assert.deepEqual(pageErrors, []);

    const ms = (n: number) => `${n.toFixed(1)} ms`;
    console.log(
      `dashboard, 1,000 services: sign-in to 1,000 rows on screen ${firstRender} ms; ` +
        `table build+insert (JS) ${renderJs.map(ms).join(', ')}; ` +
        `filter keystroke to rows laid out: ${Object.entries(filterTimes).map(([q, v]) => `"${q}" ${ms(v)}`).join(', ')}`,
    );
    await context.close();
  });

  await step('the runs list pages with Older through the `next` cursor', async () => {
    const context = await browser.newContext();
    const { page, pageErrors } = await openPage(context);
    const runs = Array.from({ length: 60 }, (_, i) => ({
      id: `r-${String(60 - i).padStart(3, '0')}`, status: i === 0 ? 'running' : i % 7 === 0 ? 'failed' : 'succeeded',
      trigger: 'deploy-all-changed', origin: 'webhook', service: null, commit: 'ab'.repeat(20), error: null,
      createdAt: new Date(STUB_NOW - i * 60_000).toISOString(), startedAt: null, finishedAt: null,
      counts: { deployed: 1, succeeded: 1, failed: 0, skipped: 0 }, services: ['web'],
    }));
    const requested: string[] = [];
    await stubServer(page, (route, url) => {
      if (url.pathname !== '/api/runs') return json(route, 404, { error: { code: 'ROUTE_NOT_FOUND', message: 'No route' } });
      requested.push(url.search);
      const limit = Number(url.searchParams.get('limit') ?? 20);
      const before = url.searchParams.get('before');
      const from = before ? runs.findIndex((r) => r.id === before) + 1 : 0;
      const items = runs.slice(from, from + limit);
      return json(route, 200, { runs: items, next: from + limit < runs.length ? items[items.length - 1]!.id : null });
    });
    await page.goto(`${STUB_ORIGIN}/#/runs`);
    await signIn(page, STUB_TOKEN);
    await page.waitForFunction(() => document.querySelectorAll('#runs-rows tr[data-run]').length === 50);
    await page.locator('#runs-older').click();
    await page.waitForFunction(() => document.querySelectorAll('#runs-rows tr[data-run]').length === 60);
    assert.ok(await page.locator('#runs-older').isHidden(), 'no Older button on the last page');
    assert.equal(await page.locator('#runs-rows tr[data-run]').last().getAttribute('data-run'), 'r-001');
    assert.ok(requested.includes('?limit=50&before=r-011'), `requests: ${requested.join(' ')}`);
    assert.deepEqual(pageErrors, []);
    await context.close();
  });

  await step('the SSE parser handles any chunking, CRLF, comments and multi-line data', async () => {
    const context = await browser.newContext();
    const { page } = await openPage(context);
    await stubServer(page, (route) => json(route, 404, { error: { code: 'ROUTE_NOT_FOUND', message: 'No route' } }));
    await page.goto(`${STUB_ORIGIN}/`);
    const results = await page.evaluate(async () => {
      const { SseParser } = (await import('/assets/app.js' as string)) as { SseParser: new (onEvent: (e: unknown) => void) => { push(chunk: string): void } };
      const text = ': ping\r\n\r\nid: 1\r\nevent: output\r\ndata: {"line":"a"}\r\n\r\nid:2\nevent:run\ndata: one\ndata: two\n\n: ping\n\nid: 3\revent: end\rdata: {}\r\r';
      const chunkings = [[text], [...text], [text.slice(0, 17), text.slice(17, 18), text.slice(18, 61), text.slice(61)]];
      const [whole, byChar, split] = chunkings.map((chunks) => {
        const events: unknown[] = [];
        const parser = new SseParser((e) => events.push(e));
        for (const c of chunks) parser.push(c);
        return events;
      });
      return { whole, byChar, split };
    });
    const expected = [
      { id: '1', event: 'output', data: '{"line":"a"}' },
      { id: '2', event: 'run', data: 'one\ntwo' },
      { id: '3', event: 'end', data: '{}' },
    ];
    assert.deepEqual(results.whole, expected);
    assert.deepEqual(results.byChar, expected);
    assert.deepEqual(results.split, expected);
    await context.close();
  });

  await step('a run page reconnects with Last-Event-ID: no line lost or doubled, ends on `end`', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const { page, pageErrors } = await openPage(context);
    const runId = 'r-stub-1';
    const deploymentId = 'd-stub-1';
    const eventRequests: Array<string | null> = [];
    const at = new Date(STUB_NOW).toISOString();
    const run = (status: string) => ({
      id: runId, status, trigger: 'deploy-all-changed', origin: 'api', service: null, commit: 'ab'.repeat(20), error: null,
      createdAt: at, startedAt: at, finishedAt: status === 'running' ? null : at,
      deployments: [{ id: deploymentId, service: 'web', action: 'deploy', status: status === 'running' ? 'running' : 'succeeded', reason: 'changed: .env', commit: 'ab'.repeat(20), error: null, imagesBefore: null, imagesAfter: null, startedAt: at, finishedAt: null, output: '' }],
    });
    let finished = false;
    const line = (id: number, n: number) => sse(id, 'output', { runId, deploymentId, service: 'web', line: `line ${n} <b>not bold</b>` });
    await stubServer(page, (route, url) => {
      if (url.pathname === `/api/runs/${runId}`) return json(route, 200, run(finished ? 'succeeded' : 'running'));
      if (url.pathname === `/api/runs/${runId}/events`) {
        const last = route.request().headers()['last-event-id'] ?? null;
        eventRequests.push(last);
        let body: string;
        if (last === null) {
          // First connection: the stream breaks after event 5 (mid-event: a half-sent event 6).
          body = sse(1, 'run', { runId, status: 'running', commit: 'ab'.repeat(20), error: null }) +
            sse(2, 'deployment', { runId, deploymentId, service: 'web', action: 'deploy', status: 'running', reason: 'changed: .env', error: null }) +
            line(3, 1) + line(4, 2) + line(5, 3) + 'id: 6\nevent: output\ndata: {"runId":"r-stub-1","deploymentId":"d-stub-1","service":"web","li';
        } else {
          // The server replays from the id the client names; it overlaps by one here on purpose.
          finished = true;
          body = line(5, 3) + line(6, 4) + ': ping\n\n' + line(7, 5) +
            sse(8, 'deployment', { runId, deploymentId, service: 'web', action: 'deploy', status: 'succeeded', reason: 'changed: .env', error: null }) +
            sse(9, 'run', { runId, status: 'succeeded', commit: 'ab'.repeat(20), error: null }) + sse(10, 'end', { runId, status: 'succeeded' });
        }
        return route.fulfill({ status: 200, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }, body });
      }
      return json(route, 404, { error: { code: 'ROUTE_NOT_FOUND', message: 'No route' } });
    });
    await page.goto(`${STUB_ORIGIN}/#/runs/${runId}`);
    await signIn(page, STUB_TOKEN);
    await page.locator('#stream-state[data-state="finished"]').waitFor({ timeout: 20_000 });
    await page.locator('#run-status[data-status="succeeded"]').waitFor();
    const log = await page.locator(`section[data-deployment-id="${deploymentId}"] pre[data-log]`).innerText();
    assert.equal(log.trim(), [1, 2, 3, 4, 5].map((n) => `line ${n} <b>not bold</b>`).join('\n'));
    assert.deepEqual(eventRequests, [null, '5'], 'the reconnect named the last complete event');
    assert.equal(await page.locator(`section[data-deployment-id="${deploymentId}"] .badge`).first().innerText(), 'succeeded');
    assert.deepEqual(pageErrors, []);
    await context.close();
  });
});

// ---------------------------------------------------------------------------------------------
// The real server, real Podman deployments

/** GETs the management API with the token (the harness' own get() sends none); fails on any error answer. */
async function apiGet<T>(server: TestServer, route: string): Promise<T> {
  const response = await fetch(`${server.url}${route}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${route} answered ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** Triggers deploy-all-changed by the signed webhook and waits (bounded) for its run to finish. */
async function deployAllByWebhook(server: TestServer, timeoutMs = 180_000): Promise<RunView> {
  const answer = await server.post('/deploy-all-changed');
  assert.equal(answer.status, 202, JSON.stringify(answer.json));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await apiGet<RunView>(server, `/api/runs/${encodeURIComponent(answer.json.runId)}`);
    if (run.status === 'succeeded' || run.status === 'failed') return run;
    if (Date.now() > deadline) throw new Error(`run ${run.id} still ${run.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function busybox(command: string, init = true): string {
  return `services:
  app:
    image: localhost/busybox:test
${init ? '    init: true\n' : ''}    command: ${command}
    environment:
      MODE: \${MODE}
`;
}

test('dashboard against the real server and real Podman deployments', { timeout: 600_000 }, async (t) => {
  if (!requireEngines(t)) return;
  if (!requireChromium(t)) return;
  const id = uid();
  const WEB = `web-${id}`;
  const WORKER = `worker-${id}`;
  // PID 1 `sleep` without an init ignores SIGTERM, so replacing this container waits the whole
  // stop timeout: the run stays running for seconds while the other service's lines stream.
  const SLOW = `slow-${id}`;
  const repo = new EnvRepo();
  const serverEnv = { API_TOKEN, STOP_TIMEOUT_SECONDS: '8' };
  /** What the clean-up must close, whichever step failed (the server is replaced on restart). */
  const live: { server?: TestServer; browser?: Browser } = {};
  t.after(async () => {
    await live.browser?.close();
    await live.server?.close();
    for (const project of [WEB, WORKER, SLOW]) removeProject('podman', project);
    live.server?.dispose();
    repo.dispose();
  });
  let server = (live.server = await TestServer.start({ checkout: repo.checkout, env: serverEnv }));
  const browser = (live.browser = await launchBrowser());
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const { page, pageErrors } = await openPage(context);
  const step = stepper(t);
  const short = (sha: string) => sha.slice(0, 8);
  let commit = '';
  let runId = '';

  await step('three services are deployed by the webhook', async () => {
    repo.write(`services/${WEB}/podman-compose.yml`, busybox('["sleep", "3600"]'));
    repo.write(`services/${WEB}/.env`, 'MODE=one\n');
    repo.write(`services/${WORKER}/podman-compose.yml`, busybox('["sleep", "3600"]'));
    repo.write(`services/${WORKER}/.env`, 'MODE=one\n');
    repo.write(`services/${SLOW}/podman-compose.yml`, busybox('["sleep", "3600"]', false));
    repo.write(`services/${SLOW}/.env`, 'MODE=one\n');
    commit = repo.push('three services');
    const run = await deployAllByWebhook(server);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
  });

  await step('the page asks for the token; a wrong one shows the server\'s message', async () => {
    await page.goto(`${server.url}/`);
    await page.locator('#token-form').waitFor();
    await screenshot(page, 'dashboard-token');
    const refused = await fetch(`${server.url}/api/version`, { headers: { authorization: 'Bearer wrong-token' } });
    const expected = ((await refused.json()) as { error: { message: string } }).error.message;
    await signIn(page, 'wrong-token');
    await page.locator('#token-error').waitFor();
    assert.equal(await page.locator('#token-error').innerText(), expected);
  });

  await step('with the right token the services table shows them in sync at the deployed commit', async () => {
    await signIn(page, API_TOKEN);
    for (const name of [WEB, WORKER, SLOW]) {
      const row = page.locator(`#svc-rows tr[data-name="${name}"]`);
      await row.waitFor();
      assert.equal(await row.getAttribute('data-state'), 'in-sync', name);
      assert.equal(await row.locator('td.deployed code').innerText(), short(commit), name);
      assert.equal(await row.locator('td.deployed code').getAttribute('title'), commit, name);
    }
    const header = await page.locator('#server-version').innerText();
    assert.match(header, /^v\d/);
    await page.locator('#svc-filter').fill(SLOW);
    await page.waitForFunction(() => document.querySelectorAll('#svc-rows tr[data-name]').length === 1);
    await page.locator('#svc-filter').fill('');
    await page.waitForFunction(() => document.querySelectorAll('#svc-rows tr[data-name]').length === 3);
    await screenshot(page, 'dashboard-services');
  });

  await step('a pushed change deployed from the dashboard streams its log while the run is running', async () => {
    repo.write(`services/${WEB}/.env`, 'MODE=two\n');
    repo.write(`services/${SLOW}/.env`, 'MODE=two\n');
    commit = repo.push('web and slow: mode two');
    await page.locator('#deploy-all').click();
    await page.waitForURL(/#\/runs\/[^/]+$/);
    runId = decodeURIComponent(new URL(page.url()).hash.replace('#/runs/', ''));
    // Lines on screen while the run is still running: the log streams, it is not loaded at the end.
    await page.waitForFunction(
      () =>
        document.querySelector('#run-status')?.getAttribute('data-status') === 'running' &&
        [...document.querySelectorAll('pre[data-log]')].some((pre) => (pre.textContent ?? '').trim().length > 0),
      undefined,
      { polling: 'raf', timeout: 60_000 },
    );
    assert.equal(await page.locator('#stream-state').getAttribute('data-state'), 'live');
    await screenshot(page, 'dashboard-run-streaming');

    await page.locator('#run-status[data-status="succeeded"]').waitFor({ timeout: 180_000 });
    await page.locator('#stream-state[data-state="finished"]').waitFor();
    const run = await apiGet<RunView & { deployments: Array<RunView['deployments'][number] & { id: string }> }>(server, `/api/runs/${encodeURIComponent(runId)}`);
    assert.equal(run.status, 'succeeded');
    assert.deepEqual(run.deployments.map((d) => d.service).sort(), [SLOW, WEB].sort());
    // Every streamed line shows once, in order: the page's log equals the stored output.
    for (const d of run.deployments) {
      const shown = await page.locator(`section[data-deployment-id="${d.id}"] pre[data-log]`).innerText();
      assert.equal(shown.replace(/\r\n/g, '\n').trimEnd(), d.output.replace(/\r\n/g, '\n').trimEnd(), `log of ${d.service}`);
      assert.equal(await page.locator(`section[data-deployment-id="${d.id}"] .badge`).first().innerText(), 'succeeded');
    }
    await screenshot(page, 'dashboard-run-finished');
  });

  await step('the runs list and a service page link to the run', async () => {
    await page.goto(`${server.url}/#/runs`);
    const row = page.locator(`#runs-rows tr[data-run="${runId}"]`);
    await row.waitFor();
    assert.equal(await row.locator('.badge').first().innerText(), 'succeeded');
    await screenshot(page, 'dashboard-runs');
    await page.goto(`${server.url}/#/services/${SLOW}`);
    await page.locator('table.history').waitFor();
    assert.ok(await page.locator(`table.history a[href="#/runs/${runId}"]`).count() >= 1, 'history links to the run');
    assert.ok(await page.locator('table.files code', { hasText: 'podman-compose.yml' }).count() >= 1);
    await screenshot(page, 'dashboard-service-detail');
  });

  await step('Redeploy on a row (confirmed) queues a run the flash message links to', async () => {
    await page.goto(`${server.url}/#/services`);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.locator(`#svc-rows tr[data-name="${WORKER}"] button[data-act="deploy"]`).click();
    const link = page.locator('#flash a[href^="#/runs/"]');
    await link.waitFor();
    await link.click();
    await page.locator('#run-status[data-status="succeeded"]').waitFor({ timeout: 120_000 });
    assert.equal(await page.locator('section.deployment a.service').innerText(), WORKER);
  });

  await step('the plan preview lists a pushed change as deploy with its changed file', async () => {
    repo.write(`services/${WORKER}/.env`, 'MODE=three\n');
    repo.push('worker: mode three');
    await page.goto(`${server.url}/#/plan`);
    await page.locator('#plan-run').click();
    const row = page.locator(`#plan-table tr[data-service="${WORKER}"]`);
    await row.waitFor({ timeout: 60_000 });
    assert.equal(await row.getAttribute('data-decision'), 'deploy');
    assert.match(await row.locator('td.files').innerText(), /\.env/);
    assert.equal(await page.locator(`#plan-table tr[data-service="${WEB}"]`).count(), 0, 'unchanged services are folded away');
    await screenshot(page, 'dashboard-plan');
    await page.locator('#deploy-all').click();
    await page.waitForURL(/#\/runs\/[^/]+$/);
    await page.locator('#run-status[data-status="succeeded"]').waitFor({ timeout: 120_000 });
  });

  await step('a server restart shows the retry banner, then the page carries on', async () => {
    await page.goto(`${server.url}/#/services`);
    await page.locator(`#svc-rows tr[data-name="${WORKER}"]`).waitFor();
    const port = new URL(server.url).port;
    const dataDir = server.dataDir;
    await server.close();
    await page.locator('#banner').waitFor({ state: 'visible', timeout: 30_000 });
    // Either the stopping server's own 503 (SERVER_STOPPING, with a retry hint) or no answer at all.
    assert.match(await page.locator('#banner').innerText(), /unreachable|server is stopping/i);
    assert.equal(await serviceRows(page).count(), 3, 'the table keeps its rows');
    await screenshot(page, 'dashboard-unreachable');
    server = live.server = await TestServer.start({ checkout: repo.checkout, dataDir, env: { ...serverEnv, PORT: port } });
    await page.locator('#banner').waitFor({ state: 'hidden', timeout: 60_000 });
    assert.equal(await serviceRows(page).count(), 3);
  });

  await step('a narrow window keeps the table usable', async () => {
    await page.setViewportSize({ width: 420, height: 800 });
    await page.goto(`${server.url}/#/services`);
    await page.locator(`#svc-rows tr[data-name="${WEB}"]`).waitFor();
    await screenshot(page, 'dashboard-narrow');
    assert.deepEqual(pageErrors, []);
  });
});
