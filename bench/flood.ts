// Benchmark: the server under a flood of webhooks with wrong signatures, over loopback.
//
//   node --import tsx bench/flood.ts              # 10 s flood over 50 connections, then a 60 s deployment
//   node --import tsx bench/flood.ts 5 100 20 50  # flood seconds, connections, deployment seconds,
//                                                 # pause between valid webhooks (ms, default 100)
//
// The real server (startServer + loadConfig, logging at info into a counter) runs in this
// process on 127.0.0.1 over a small real environment repository; the runtime is a fake that
// answers at once, except for the one deployment of the last figure. The load comes from
// worker threads (node:http, keep-alive agents), so the client does not share the server's
// event loop; bounded by time and by count. Figures:
//   flood rejected   requests per second answered during the flood, by status (401 expected)
//   flood webhook    p50/p99 of a valid webhook's 202, sent one at a time from a second client
//                    while the flood runs (and alone first, for comparison); each one queues a
//                    deploy-all run, so git runs all along too (runs coalesce, as in production)
//   flood log        lines the server logged during the flood
//   flood api        GET /api/services and GET /api/runs/:id latency while a deployment that
//                    takes a minute runs
// Prints figures; never fails on timing.
import http from 'node:http';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { repoWithServices, startBenchServer } from './bench-server.js';
import type { Runtime, RuntimeRegistry } from '../src/ports/runtime.js';
import { signBody } from '../src/webhook/signature.js';
import { median, ms, percentile } from './stats.js';

const FLOOD_SECONDS = Number(process.argv[2] ?? 10);
const CONNECTIONS = Number(process.argv[3] ?? 50);
const DEPLOY_SECONDS = Number(process.argv[4] ?? 60);
/** Pause between two valid webhooks of the second client: each one queues a run (a sync: git processes). */
const PROBE_PAUSE_MS = Number(process.argv[5] ?? 100);
/** The flood stops at this many requests even if time remains. */
const MAX_FLOOD_REQUESTS = 2_000_000;
const SECRET = 'bench-flood-secret-0123456789abcdef';
const TOKEN = 'bench-flood-token-0123456789abcdef';

/** Instant, except while `slow.ms` is set: then every deployment takes that long. */
function fakeRuntimes(slow: { ms: number }): RuntimeRegistry {
  const runtime = (kind: 'podman' | 'docker'): Runtime => ({
    kind,
    async deploy() {
      if (slow.ms > 0) await new Promise((resolve) => setTimeout(resolve, slow.ms));
      return { images: { app: 'sha256:bench' }, gated: [] };
    },
    async update() {
      return { imagesBefore: {}, imagesAfter: {}, recreated: [], gated: [] };
    },
  });
  return { podman: runtime('podman'), docker: runtime('docker') };
}

interface LoadOptions {
  port: number;
  path: string;
  headers: Record<string, string>;
  connections: number;
  durationMs: number;
  maxRequests: number;
  /** Pause between one connection's requests (0: back to back). */
  pauseMs: number;
}
interface LoadResult {
  sent: number;
  errors: number;
  elapsedMs: number;
  statuses: Record<string, number>;
  latencies: number[];
}

// Plain JavaScript run in a worker thread: only node:http, so no TypeScript loader is needed.
const LOAD_WORKER = `
const { parentPort, workerData: o } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
const statuses = {};
const latencies = [];
let sent = 0, errors = 0;
const started = performance.now();
const deadline = started + o.durationMs;
const once = () => new Promise((resolve) => {
  const t0 = performance.now();
  const req = http.request({ agent, host: '127.0.0.1', port: o.port, method: 'POST', path: o.path, headers: o.headers }, (res) => {
    res.resume();
    res.on('end', () => { statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1; latencies.push(performance.now() - t0); resolve(); });
  });
  req.on('error', () => { errors++; resolve(); });
  req.end();
});
const loop = async () => {
  while (performance.now() < deadline && sent < o.maxRequests) {
    sent++;
    await once();
    if (o.pauseMs > 0) await new Promise((r) => setTimeout(r, Math.max(0, Math.min(o.pauseMs, deadline - performance.now()))));
  }
};
Promise.all(Array.from({ length: o.connections }, loop)).then(() => {
  const elapsedMs = performance.now() - started;
  agent.destroy();
  parentPort.postMessage({ sent, errors, elapsedMs, statuses, latencies });
});
`;

function load(options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(LOAD_WORKER, { eval: true, workerData: options });
    worker.once('message', (result: LoadResult) => {
      resolve(result);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

function get(agent: http.Agent, port: number, route: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host: '127.0.0.1', port, method: 'GET', path: route, headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const figures = (values: number[]) =>
  `p50=${ms(median(values)).padStart(7)} p99=${ms(percentile(values, 99)).padStart(7)} max=${ms(Math.max(...values)).padStart(7)} (n=${values.length})`;
const byStatus = (statuses: Record<string, number>) => Object.entries(statuses).map(([status, n]) => `${status}: ${n}`).join(', ');

async function main(): Promise<void> {
  const env = repoWithServices(3);
  const slow = { ms: 0 };
  let logLines = 0;
  // The real logger at the default level, into a counter: what the flood costs the log.
  const logger = pino({ level: 'info', base: { app: 'gitops-deploy-server' } }, { write: () => void (logLines += 1) });
  const { server, dispose } = await startBenchServer({ env, runtimes: fakeRuntimes(slow), webhookSecret: SECRET, apiToken: TOKEN, logger });
  const url = new URL(server.url);
  if (url.hostname !== '127.0.0.1') throw new Error(`the benchmark runs over loopback only, not ${url.hostname}`);
  const port = Number(url.port);
  const valid = { 'x-hub-signature-256': signBody(SECRET, new Uint8Array()), 'content-length': '0' };
  // Well-formed but wrong: the server computes the HMAC before it refuses, the expensive refusal.
  const wrong = { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}`, 'content-length': '0' };
  const probe = (durationMs: number, maxRequests: number) =>
    load({ port, path: '/deploy-all-changed', headers: valid, connections: 1, durationMs, maxRequests, pauseMs: PROBE_PAUSE_MS });

  try {
    // Warm-up: the first run deploys the three services; JIT and connections settle.
    await probe(2_000, 50);
    const alone = await probe(3_000, 200);
    if (Object.keys(alone.statuses).some((s) => s !== '202')) throw new Error(`valid webhooks were not all accepted: ${byStatus(alone.statuses)}`);
    console.log(`flood webhook   alone:        ${figures(alone.latencies)}`);

    const linesBefore = logLines;
    const [flood, during] = await Promise.all([
      load({ port, path: '/deploy-all-changed', headers: wrong, connections: CONNECTIONS, durationMs: FLOOD_SECONDS * 1000, maxRequests: MAX_FLOOD_REQUESTS, pauseMs: 0 }),
      probe(FLOOD_SECONDS * 1000, 100_000),
    ]);
    const floodLines = logLines - linesBefore;
    const rate = (flood.sent / flood.elapsedMs) * 1000;
    console.log(
      `flood rejected  ${rate.toFixed(0)} req/s over ${CONNECTIONS} connections for ${(flood.elapsedMs / 1000).toFixed(1)} s: ${flood.sent} sent (${byStatus(flood.statuses)}; ${flood.errors} errors); ` +
        `latency ${figures(flood.latencies)}`,
    );
    console.log(`flood webhook   during flood: ${figures(during.latencies)} (${byStatus(during.statuses)})`);
    console.log(`flood log       ${floodLines} lines logged at info during the flood (${flood.sent + during.sent} requests)`);

    // A deployment that takes DEPLOY_SECONDS, and the API polled meanwhile as the CLI and the dashboard do.
    slow.ms = DEPLOY_SECONDS * 1000;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const queued = await new Promise<string>((resolve, reject) => {
      const req = http.request({ agent, host: '127.0.0.1', port, method: 'POST', path: '/api/services/svc-0000/deploy', headers: { authorization: `Bearer ${TOKEN}`, 'content-length': '0' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => (res.statusCode === 202 ? resolve((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { runId: string }).runId) : reject(new Error(`deploy: ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end();
    });
    const services: number[] = [];
    const run: number[] = [];
    const deadline = Date.now() + DEPLOY_SECONDS * 1000 + 30_000;
    let status = 'queued';
    while (status !== 'succeeded' && status !== 'failed') {
      if (Date.now() > deadline) throw new Error(`the ${DEPLOY_SECONDS} s deployment did not end`);
      let t0 = performance.now();
      const list = await get(agent, port, '/api/services');
      services.push(performance.now() - t0);
      if (list.status !== 200) throw new Error(`GET /api/services: ${list.status}`);
      t0 = performance.now();
      const answer = await get(agent, port, `/api/runs/${queued}`);
      run.push(performance.now() - t0);
      status = (JSON.parse(answer.body) as { status: string }).status;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    slow.ms = 0;
    agent.destroy();
    console.log(`flood api       GET /api/services during a ${DEPLOY_SECONDS} s deployment: ${figures(services)}`);
    console.log(`flood api       GET /api/runs/:id during a ${DEPLOY_SECONDS} s deployment: ${figures(run)} (run ${status})`);
  } finally {
    await dispose();
    env.dispose();
  }
}

await main();
