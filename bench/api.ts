// Benchmark: the management API with many services, over real HTTP against the real server
// (real git repository, catalog and SQLite; only the compose runtime is a fake that succeeds).
//
//   node --import tsx bench/api.ts          # N = 1000 services
//   node --import tsx bench/api.ts 3000
//
// Figures (median of several calls, after one deploy-all recorded N deployments):
//   api services    GET /api/services: cold (discovery of N services) and shared (within 2 s)
//   api service     GET /api/services/:name (files and history)
//   api runs        GET /api/runs?limit=50 with 40 runs recorded
//   api run         GET /api/runs/:id of the run that deployed N services (outputs included)
//   api plan        POST /api/plan with nothing pushed, and with 10 services changed on the remote
// Prints figures; never fails on timing.
import { benchServiceName as name, repoWithServices, startBenchServer } from './bench-server.js';
import type { Runtime, RuntimeRegistry } from '../src/ports/runtime.js';
import { median, ms } from './stats.js';

const N = Number(process.argv[2] ?? 1000);
const TOKEN = 'bench-api-token-0123456789abcdef';

function fakeRuntimes(): RuntimeRegistry {
  const runtime = (kind: 'podman' | 'docker' | 'swarm'): Runtime => ({
    kind,
    async deploy(service, ctx) {
      ctx.output(`creating ${service.projectName}_app_1\n`);
      return { images: { app: 'sha256:bench' }, gated: [] };
    },
    async update() {
      return { imagesBefore: {}, imagesAfter: {}, recreated: [], gated: [] };
    },
  });
  return { podman: runtime('podman'), docker: runtime('docker'), swarm: runtime('swarm') };
}

async function call(base: string, route: string, method = 'GET'): Promise<{ ms: number; bytes: number; body: any }> {
  const started = performance.now();
  const response = await fetch(`${base}${route}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text.slice(0, 300)}`);
  return { ms: performance.now() - started, bytes: text.length, body: JSON.parse(text) };
}

async function times(count: number, fn: () => Promise<{ ms: number; bytes: number }>, pauseMs = 0): Promise<{ median: number; bytes: number }> {
  const all: number[] = [];
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const result = await fn();
    all.push(result.ms);
    bytes = result.bytes;
    if (pauseMs) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  return { median: median(all), bytes };
}

const kib = (bytes: number) => `${Math.round(bytes / 1024)} KiB`;

async function main(): Promise<void> {
  const env = repoWithServices(N);
  const { server, dispose } = await startBenchServer({ env, runtimes: fakeRuntimes(), webhookSecret: 'bench-webhook-secret-0123456789', apiToken: TOKEN });

  try {
    const base = server.url;
    const wait = async (runId: string) => {
      for (;;) {
        const run = (await call(base, `/api/runs/${runId}`)).body;
        if (run.status === 'succeeded' || run.status === 'failed') return run;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const big = (await call(base, '/api/deploy', 'POST')).body.runId as string;
    await wait(big);
    for (let i = 0; i < 39; i++) await wait((await call(base, `/api/services/${name(i)}/deploy`, 'POST')).body.runId);

    // Cold: the shared discovery is older than its 2 s lifetime.
    const cold = await times(3, () => call(base, '/api/services'), 2_100);
    const shared = await times(10, () => call(base, '/api/services'));
    console.log(`api services    N=${N}: GET /api/services cold median ${ms(cold.median)}, shared median ${ms(shared.median)}, ${kib(shared.bytes)}`);
    const one = await times(10, () => call(base, `/api/services/${name(7)}`));
    console.log(`api service     N=${N}: GET /api/services/:name median ${ms(one.median)}, ${kib(one.bytes)}`);
    const runs = await times(10, () => call(base, '/api/runs?limit=50'));
    console.log(`api runs        N=${N}: GET /api/runs?limit=50 (40 runs) median ${ms(runs.median)}, ${kib(runs.bytes)}`);
    const run = await times(5, () => call(base, `/api/runs/${big}`));
    console.log(`api run         N=${N}: GET /api/runs/:id of the ${N}-deployment run median ${ms(run.median)}, ${kib(run.bytes)}`);
    const planSame = await times(3, () => call(base, '/api/plan', 'POST'));
    for (let i = 0; i < 10; i++) env.write(`services/${name(i * 10)}/.env`, `MODE=changed-${i}\n`);
    env.push('10 services changed');
    const planChanged = await times(3, () => call(base, '/api/plan', 'POST'));
    const plan = (await call(base, '/api/plan', 'POST')).body;
    if (plan.counts.deploy !== 10) throw new Error(`the plan should deploy 10 services: ${JSON.stringify(plan.counts)}`);
    console.log(`api plan        N=${N}: POST /api/plan nothing pushed median ${ms(planSame.median)}; 10 changed on the remote (tree written out) median ${ms(planChanged.median)}`);
  } finally {
    await dispose();
    env.dispose();
  }
}

await main();
