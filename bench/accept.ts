// Benchmark: how fast the server ACCEPTS a deploy-all-changed webhook (request -> 202).
//
//   node --import tsx bench/accept.ts          # 1000 sequential, then 1000 with 50 in flight
//   node --import tsx bench/accept.ts 5000 100 # other request count / concurrency
//
// The real server (startServer + loadConfig) runs in this process on port 0 over a small real
// environment repository (bare remote + checkout); only the runtime registry is a fake that
// answers instantly, so runs finish quickly and coalescing is what a real burst would see.
// Requests are signed (X-Hub-Signature-256 over the empty body) and sent over keep-alive
// connections with node:http. The number of distinct run ids in the answers is the number of
// runs the burst created: coalescing should keep it tiny. Prints figures; never fails on timing.
import http from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { startBenchServer } from './bench-server.js';
import type { Runtime, RuntimeRegistry } from '../src/ports/runtime.js';
import { signBody } from '../src/webhook/signature.js';
import { EnvRepo } from '../test/e2e/harness.js';
import { median, ms, percentile } from './stats.js';

const SECRET = 'bench-webhook-secret-0123456789';
const TOKEN = 'bench-accept-token-0123456789';
const REQUESTS = Number(process.argv[2] ?? 1000);
const CONCURRENCY = Number(process.argv[3] ?? 50);

/** Instant runtime: every deploy succeeds at once (we measure the HTTP path, not compose). */
function instantRuntimes(): { runtimes: RuntimeRegistry; calls: { n: number } } {
  const calls = { n: 0 };
  const runtime = (kind: 'podman' | 'docker'): Runtime => ({
    kind,
    async deploy() {
      calls.n += 1;
      return { images: { app: 'sha256:bench' }, gated: [] };
    },
    async update() {
      calls.n += 1;
      return { imagesBefore: {}, imagesAfter: {}, recreated: [], gated: [] };
    },
  });
  return { runtimes: { podman: runtime('podman'), docker: runtime('docker') }, calls };
}

interface Answer {
  status: number;
  body: string;
}

function request(agent: http.Agent, url: URL, method: string, route: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: url.hostname, port: url.port, method, path: route, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const env = new EnvRepo();
  for (const name of ['alpha', 'beta', 'gamma']) {
    env.write(`services/${name}/podman-compose.yml`, `services:\n  app:\n    image: localhost/busybox:test\n    env_file: ../../secrets/${name}.env\n`);
    env.write(`services/${name}/.env`, `NAME=${name}\n`);
    env.writeSecret(`secrets/${name}.env`, `TOKEN=${name}\n`);
  }
  env.push('three services');
  const { runtimes, calls } = instantRuntimes();
  const { server, dispose } = await startBenchServer({ env, runtimes, webhookSecret: SECRET, apiToken: TOKEN });

  const url = new URL(server.url);
  const signature = signBody(server.webhookSecret, new Uint8Array());
  const headers = { 'x-hub-signature-256': signature, 'content-length': '0' };

  const waitForRuns = async (runIds: Iterable<string>) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const statuses: Record<string, number> = {};
    for (const id of runIds) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const answer = await request(agent, url, 'GET', `/api/runs/${id}`, { authorization: `Bearer ${TOKEN}` });
        const run = JSON.parse(answer.body) as { status: string };
        if (run.status === 'succeeded' || run.status === 'failed') {
          statuses[run.status] = (statuses[run.status] ?? 0) + 1;
          break;
        }
        if (Date.now() > deadline) throw new Error(`run ${id} still ${run.status} after 60 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    agent.destroy();
    return statuses;
  };

  /** Sends `total` signed POSTs with at most `inFlight` at once; returns latencies and run ids. */
  const burst = async (label: string, total: number, inFlight: number) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: inFlight });
    const latencies: number[] = [];
    const runIds = new Set<string>();
    const bad: string[] = [];
    let next = 0;
    // Event-loop delay explains the tail: the server, the runs and this client share one loop.
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const started = performance.now();
    const worker = async () => {
      while (next < total) {
        next += 1;
        const a = performance.now();
        const answer = await request(agent, url, 'POST', '/deploy-all-changed', headers);
        latencies.push(performance.now() - a);
        if (answer.status !== 202) {
          bad.push(`${answer.status} ${answer.body}`);
          continue;
        }
        runIds.add((JSON.parse(answer.body) as { runId: string }).runId);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    const wall = performance.now() - started;
    loop.disable();
    agent.destroy();
    if (bad.length > 0) throw new Error(`${bad.length} requests were not accepted, e.g. ${bad[0]}`);
    const statuses = await waitForRuns(runIds);
    console.log(
      `${label === 'warm-up' ? '  accept' : 'accept'} ${label.padEnd(14)} requests=${total} concurrency=${String(inFlight).padEnd(3)} ` +
        `p50=${ms(median(latencies)).padStart(7)} p95=${ms(percentile(latencies, 95)).padStart(7)} p99=${ms(percentile(latencies, 99)).padStart(7)} max=${ms(Math.max(...latencies)).padStart(7)}  ` +
        `throughput=${((total / wall) * 1000).toFixed(0)} req/s  runs created=${runIds.size} (${Object.entries(statuses).map(([k, v]) => `${v} ${k}`).join(', ')})  ` +
        `event-loop delay max=${ms(loop.max / 1e6)}`,
    );
  };

  try {
    // One warm-up run (the first deploys the three services through the instant runtime).
    await burst('warm-up', 20, 1);
    await burst('sequential', REQUESTS, 1);
    await burst('concurrent', REQUESTS, CONCURRENCY);
    console.log(`  runtime calls (fake, instant): ${calls.n} (3 expected: the warm-up deploys the three new services once)`);
  } finally {
    await dispose();
    env.dispose();
  }
}

await main();
