// Benchmark: the dashboard in a real browser (Chromium through playwright-core) against the real
// server holding many services.
//
//   node --import tsx bench/dashboard.ts            # N = 1000 services, 20 output lines each
//   node --import tsx bench/dashboard.ts 3000 50    # other service count / lines per deployment
//
// The server (startServer + loadConfig) runs in this process over a real environment repository
// with N services; only the runtime registry is a fake: each deploy writes LINES lines of output
// over ~10 ms and every 25th service fails, so the table has several states. Figures:
//   dashboard api         GET /api/services latency and size, as the page polls it
//   dashboard services    sign-in to N rows on screen; JS time to build and insert the table
//   dashboard filter      keystroke to filtered rows laid out (median and max over queries)
//   dashboard run live    a deploy of N services watched live: lines shown, lag behind the run's end
//   dashboard run replay  the same finished run opened afresh: all N*LINES lines replayed
// Prints figures; never fails on timing (it fails if the page does not show what it should).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Page } from 'playwright-core';
import { benchServiceName as name, repoWithServices, startBenchServer } from './bench-server.js';
import type { Runtime, RuntimeRegistry } from '../src/ports/runtime.js';
import { median, ms } from './stats.js';

const N = Number(process.argv[2] ?? 1000);
const LINES = Number(process.argv[3] ?? 20);
const TOKEN = 'bench-dashboard-token-0123456789';
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';


/** Deploys take ~10 ms and print LINES lines; every 25th service fails. */
function fakeRuntimes(): RuntimeRegistry {
  const runtime = (kind: 'podman' | 'docker' | 'swarm'): Runtime => ({
    kind,
    async deploy(service, ctx) {
      for (let i = 0; i < LINES; i++) {
        ctx.output(`[${service.name}] step ${i + 1}/${LINES}: creating container ${service.projectName}_app_1\n`);
        if (i % 5 === 4) await new Promise((resolve) => setTimeout(resolve, 2));
      }
      if (Number(service.name.slice(4)) % 25 === 24) throw new Error(`${service.name}: simulated compose failure`);
      return { images: { app: 'sha256:bench' }, gated: [] };
    },
    async update() {
      return { imagesBefore: {}, imagesAfter: {}, recreated: [], gated: [] };
    },
  });
  return { podman: runtime('podman'), docker: runtime('docker'), swarm: runtime('swarm') };
}

async function api<T>(base: string, route: string, method = 'GET'): Promise<{ body: T; bytes: number; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${base}${route}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`);
  return { body: JSON.parse(text) as T, bytes: text.length, ms: performance.now() - started };
}

/** Waits (in the page, per animation frame) until `selector` matches `count` elements; returns ms. */
function waitForCount(page: Page, selector: string, count: number, timeoutMs = 120_000): Promise<number> {
  return page.evaluate(
    async ({ selector, count, timeoutMs }) => {
      const t0 = performance.now();
      while (document.querySelectorAll(selector).length !== count) {
        if (performance.now() - t0 > timeoutMs) throw new Error(`${selector}: never ${count}`);
        await new Promise((resolve) => requestAnimationFrame(resolve));
      }
      return performance.now() - t0;
    },
    { selector, count, timeoutMs },
  );
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (install Debian's chromium or set CHROMIUM_PATH)`);
  const env = repoWithServices(N);
  const { server, dispose } = await startBenchServer({ env, runtimes: fakeRuntimes(), webhookSecret: 'bench-webhook-secret-0123456789', apiToken: TOKEN });

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    // A run of N deployments (the first sync brings the services), watched live from its queueing.
    const { body: queued } = await api<{ runId: string }>(server.url, '/api/deploy', 'POST');
    const liveStarted = performance.now();
    await page.goto(`${server.url}/#/runs/${queued.runId}`);
    await page.locator('#token-input').fill(TOKEN);
    await page.locator('#token-form button[type=submit]').click();
    const finishedHandle = await page.waitForFunction(
      () => document.querySelector<HTMLElement>('#stream-state')?.dataset['state'] === 'finished' && Date.now(),
      undefined,
      { polling: 'raf', timeout: 600_000 },
    );
    const pageFinishedAt = (await finishedHandle.jsonValue()) as number;
    const liveShown = performance.now() - liveStarted;
    const run = (await api<{ status: string; startedAt: string; finishedAt: string; deployments: unknown[] }>(server.url, `/api/runs/${queued.runId}`)).body;
    const lines = await page.evaluate(() => [...document.querySelectorAll('pre[data-log]')].reduce((n, pre) => n + (pre.textContent ?? '').split('\n').length - 1, 0));
    assert.equal(run.deployments.length, N, 'every service deployed');
    assert.equal(lines, N * LINES, 'every output line shown once');
    const runMs = Date.parse(run.finishedAt) - Date.parse(run.startedAt);
    const lag = pageFinishedAt - Date.parse(run.finishedAt);

    // The same run opened afresh: the whole stream is replayed.
    const replayStarted = performance.now();
    await page.goto('about:blank');
    await page.goto(`${server.url}/#/runs/${queued.runId}`);
    await page.locator('#stream-state[data-state="finished"]').waitFor({ timeout: 600_000 });
    await waitForCount(page, 'section.deployment', N);
    const replayMs = performance.now() - replayStarted;

    // The services table.
    const apiTimes: number[] = [];
    let bytes = 0;
    for (let i = 0; i < 7; i++) {
      const answer = await api<{ services: unknown[] }>(server.url, '/api/services');
      apiTimes.push(answer.ms);
      bytes = answer.bytes;
    }
    await page.goto('about:blank');
    const started = performance.now();
    await page.goto(`${server.url}/#/services`);
    await waitForCount(page, '#svc-rows tr[data-name]', N);
    const tableMs = performance.now() - started;
    const renderJs = await page.evaluate(() => performance.getEntriesByName('gds:services-render').map((e) => e.duration));
    const queries = ['svc-00', 'svc-01', '7', 'svc-0999', 'nothing-matches', ''];
    const filterTimes: number[] = [];
    for (const q of queries) {
      const expected = Array.from({ length: N }, (_, i) => name(i)).filter((n) => n.includes(q)).length;
      filterTimes.push(
        await page.evaluate(
          async ({ q, expected }) => {
            const input = document.querySelector<HTMLInputElement>('#svc-filter')!;
            const t0 = performance.now();
            input.value = q;
            input.dispatchEvent(new Event('input', { bubbles: true }));
            while (document.querySelectorAll('#svc-rows tr[data-name]').length !== expected) {
              if (performance.now() - t0 > 30_000) throw new Error(`filter ${q}: never ${expected} rows`);
              await new Promise((resolve) => requestAnimationFrame(resolve));
            }
            void document.body.offsetHeight;
            return performance.now() - t0;
          },
          { q, expected },
        ),
      );
    }
    const failedChip = await page.locator('#svc-states button[data-state="failed"] b').innerText();
    assert.equal(Number(failedChip), Math.floor(N / 25), 'failed count');
    assert.deepEqual(pageErrors, []);

    console.log(`dashboard api         N=${N}: GET /api/services median ${ms(median(apiTimes))}, ${(bytes / 1024).toFixed(0)} KiB`);
    console.log(`dashboard services    N=${N}: page load to ${N} rows ${ms(tableMs)}; build+insert (JS) ${renderJs.map(ms).join(', ')}`);
    console.log(`dashboard filter      N=${N}: keystroke to rows laid out median ${ms(median(filterTimes))}, max ${ms(Math.max(...filterTimes))} (${queries.length} queries)`);
    console.log(`dashboard run live    N=${N}, ${N * LINES} lines: run took ${runMs} ms, page finished ${ms(liveShown)} after queueing, ${lag} ms after the run's end`);
    console.log(`dashboard run replay  N=${N}, ${N * LINES} lines: finished run opened to all lines shown ${ms(replayMs)}`);
  } finally {
    await browser.close();
    await dispose();
    env.dispose();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
