// Benchmark: the cost of planning a NO-OP deploy-all-changed over a large environment
// repository (every service already deployed with the same fingerprint).
//
//   node --import tsx bench/plan.ts            # N = 200 and 1000
//   node --import tsx bench/plan.ts 50 500     # other sizes
//
// Two figures per N:
//   plan no-op      discover() + load deployed state from SQLite + planDeployAll(), fetch excluded.
//   pipeline no-op  a whole Pipeline.deployAllChanged() run with a runtime registry that must
//                   never be called, split into sync (git fetch + reset on a local bare remote)
//                   and the rest.
// "cold" is the first pass in a process whose deployed state was written by ANOTHER process
// (so no YAML parse cache, no warmed-up catalog code); "warm" is the median and p95 of the next
// passes on the same catalog instance, as the long-running server sees them.
// Each N runs in its own child process so one size cannot warm the next. Prints figures; never
// fails on timing (it does fail if the no-op is not a no-op: that would measure the wrong thing).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { createGitRepository } from '../src/adapters/git-repository.js';
import { createProcessRunner } from '../src/adapters/process-runner.js';
import { createServiceCatalog } from '../src/adapters/service-catalog.js';
import { openSqliteStore } from '../src/adapters/sqlite-store.js';
import { RunEventBus } from '../src/deploy/run-events.js';
import { Pipeline } from '../src/deploy/pipeline.js';
import { planDeployAll } from '../src/domain/plan.js';
import type { Repository } from '../src/ports/repository.js';
import type { Runtime, RuntimeRegistry } from '../src/ports/runtime.js';
import { systemClock } from '../src/ports/clock.js';
import { EnvRepo } from '../test/e2e/harness.js';
import { median, ms, percentile } from './stats.js';

const SERVICES_DIR = 'services';
const WARM_ITERATIONS = 10;
const SELF = 'gitops-deploy-server';
const self = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------- the environment repository
function serviceName(i: number): string {
  return `svc-${String(i).padStart(4, '0')}`;
}

function compose(name: string): string {
  return `services:
  app:
    image: localhost/busybox:test
    init: true
    command: ["sleep", "3600"]
    env_file: ../../secrets/${name}.env
    environment:
      APP_NAME: \${APP_NAME}
    volumes:
      - ./config/app.ini:/etc/app.ini:ro
`;
}

/** A real env repo (bare remote + operator clone + server checkout) with `n` services, synced. */
async function buildRepository(n: number): Promise<{ env: EnvRepo; repository: Repository }> {
  const env = new EnvRepo();
  for (let i = 0; i < n; i += 1) {
    const name = serviceName(i);
    env.write(`${SERVICES_DIR}/${name}/podman-compose.yml`, compose(name));
    env.write(`${SERVICES_DIR}/${name}/.env`, `APP_NAME=${name}\n`);
    env.write(`${SERVICES_DIR}/${name}/config/app.ini`, `[app]\nname = ${name}\nport = ${8000 + (i % 1000)}\n`);
    env.writeSecret(`secrets/${name}.env`, `API_KEY=secret-${name}-${i}\n`);
  }
  env.push(`${n} services`);
  const repository = createGitRepository({ path: env.checkout, run: createProcessRunner({ baseEnv: process.env }) });
  await repository.sync();
  return { env, repository };
}

function catalogFor(checkout: string, repository: Pick<Repository, 'listTrackedFiles'>) {
  return createServiceCatalog({ repoPath: checkout, servicesDirectory: SERVICES_DIR, defaultRuntime: 'podman', repository });
}

// ---------------------------------------------------------------- seed: runs in its own process
/** Discovers the checkout and stores every service as deployed with its current fingerprint. */
async function seed(checkout: string, dbFile: string): Promise<void> {
  const repository = createGitRepository({ path: checkout, run: createProcessRunner({ baseEnv: process.env }) });
  const services = await catalogFor(checkout, repository).discover();
  const store = openSqliteStore({ file: dbFile, clock: systemClock });
  const now = new Date().toISOString();
  for (const s of services) {
    store.saveDeployedState({ service: s.name, fingerprint: s.fingerprint, files: s.files, commit: null, deployedAt: now, images: { app: 'sha256:bench' } });
  }
  store.close();
  process.stdout.write(`${services.length}\n`);
}

// ---------------------------------------------------------------- the runtime that must stay idle
function forbiddenRuntimes(): { runtimes: RuntimeRegistry; calls: string[] } {
  const calls: string[] = [];
  const runtime = (kind: 'podman' | 'docker' | 'swarm'): Runtime => ({
    kind,
    async deploy(service) {
      calls.push(`${kind}.deploy(${service.name})`);
      throw new Error('a no-op run must not deploy');
    },
    async update(service) {
      calls.push(`${kind}.update(${service.name})`);
      throw new Error('a no-op run must not update');
    },
  });
  return { runtimes: { podman: runtime('podman'), docker: runtime('docker'), swarm: runtime('swarm') }, calls };
}

// ---------------------------------------------------------------- worker: one N
async function measure(n: number): Promise<void> {
  const t0 = performance.now();
  const { env, repository } = await buildRepository(n);
  const buildMs = performance.now() - t0;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gds-bench-plan-'));
  const dbFile = path.join(dataDir, 'state.db');
  try {
    // Deployed state is written by another process: this one starts with cold caches.
    const seeded = spawnSync(process.execPath, ['--import', 'tsx', self, '--seed', env.checkout, dbFile], { encoding: 'utf8' });
    if (seeded.status !== 0) throw new Error(`seeding failed: ${seeded.stderr}`);
    if (Number(seeded.stdout.trim()) !== n) throw new Error(`seeding found ${seeded.stdout.trim()} services, expected ${n}`);

    const store = openSqliteStore({ file: dbFile, clock: systemClock });
    // Time listTrackedFiles (the one git call inside discover) without changing what it does.
    let lsFilesMs = 0;
    const timedRepository: Repository = {
      ...repository,
      listTrackedFiles: async (dir) => {
        const start = performance.now();
        try {
          return await repository.listTrackedFiles(dir);
        } finally {
          lsFilesMs = performance.now() - start;
        }
      },
    };
    const catalog = catalogFor(env.checkout, timedRepository);

    // ---- plan no-op: discover + load deployed state + plan (no fetch)
    type Pass = { total: number; discover: number; lsFiles: number; load: number; plan: number };
    const passes: Pass[] = [];
    for (let i = 0; i <= WARM_ITERATIONS; i += 1) {
      const a = performance.now();
      const services = await catalog.discover();
      const b = performance.now();
      const deployed = new Map(store.listDeployedStates().map((s) => [s.service, s] as const));
      const c = performance.now();
      const plan = planDeployAll({ services, deployed, selfService: SELF });
      const d = performance.now();
      const notUnchanged = plan.filter((e) => e.decision !== 'unchanged');
      if (services.length !== n || notUnchanged.length > 0) {
        throw new Error(`not a no-op: ${services.length} services, ${notUnchanged.length} not unchanged (${JSON.stringify(notUnchanged.slice(0, 3))})`);
      }
      passes.push({ total: d - a, discover: b - a, lsFiles: lsFilesMs, load: c - b, plan: d - c });
    }
    const [cold, ...warm] = passes as [Pass, ...Pass[]];
    const col = (k: keyof Pass) => warm.map((p) => p[k]);
    console.log(
      `plan no-op      services=${String(n).padEnd(5)} cold=${ms(cold.total).padStart(9)}  warm p50=${ms(median(col('total'))).padStart(9)} p95=${ms(percentile(col('total'), 95)).padStart(9)}`,
    );
    console.log(
      `  breakdown     services=${String(n).padEnd(5)} cold: discover=${ms(cold.discover)} (git ls-files ${ms(cold.lsFiles)}) load-state=${ms(cold.load)} plan=${ms(cold.plan)}` +
        ` | warm p50: discover=${ms(median(col('discover')))} (git ls-files ${ms(median(col('lsFiles')))}) load-state=${ms(median(col('load')))} plan=${ms(median(col('plan')))}`,
    );

    // ---- pipeline no-op: a whole deploy-all-changed run through the real Pipeline
    const { runtimes, calls } = forbiddenRuntimes();
    let syncMs = 0;
    const timedSyncRepository: Repository = {
      ...timedRepository,
      sync: async () => {
        const start = performance.now();
        try {
          return await repository.sync();
        } finally {
          syncMs = performance.now() - start;
        }
      },
    };
    const pipeline = new Pipeline({
      store,
      events: new RunEventBus(store),
      repository: timedSyncRepository,
      // A fresh catalog: the pipeline's first run is cold for discovery too.
      catalog: catalogFor(env.checkout, timedSyncRepository),
      runtimes,
      clock: systemClock,
      logger: pino({ level: 'silent' }),
      selfService: SELF,
      parallelism: 4,
    });
    type RunPass = { total: number; sync: number; rest: number };
    const runs: RunPass[] = [];
    for (let i = 0; i <= WARM_ITERATIONS; i += 1) {
      const run = store.createRun({ trigger: 'deploy-all-changed', service: null });
      const a = performance.now();
      await pipeline.deployAllChanged(run.id);
      const total = performance.now() - a;
      const after = store.getRun(run.id);
      const deployments = store.listDeployments(run.id);
      if (after?.status !== 'succeeded' || deployments.length > 0) {
        throw new Error(`no-op run ${run.id} ended ${after?.status} (${after?.error ?? ''}) with ${deployments.length} deployments`);
      }
      runs.push({ total, sync: syncMs, rest: total - syncMs });
    }
    if (calls.length > 0) throw new Error(`the runtime was called during a no-op run: ${calls.slice(0, 5).join(', ')}`);
    const [coldRun, ...warmRuns] = runs as [RunPass, ...RunPass[]];
    const rcol = (k: keyof RunPass) => warmRuns.map((p) => p[k]);
    console.log(
      `pipeline no-op  services=${String(n).padEnd(5)} cold=${ms(coldRun.total).padStart(9)} (sync ${ms(coldRun.sync)} + rest ${ms(coldRun.rest)})` +
        `  warm p50=${ms(median(rcol('total')))} (sync ${ms(median(rcol('sync')))} + rest ${ms(median(rcol('rest')))})` +
        ` p95=${ms(percentile(rcol('total'), 95))} (sync p95 ${ms(percentile(rcol('sync'), 95))}, rest p95 ${ms(percentile(rcol('rest'), 95))})`,
    );
    console.log(`  setup         services=${String(n).padEnd(5)} repository built and synced in ${ms(buildMs)}; runtime calls during no-op runs: ${calls.length}`);
    store.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    env.dispose();
  }
}

// ---------------------------------------------------------------- entry point
const args = process.argv.slice(2);
if (args[0] === '--seed') {
  await seed(args[1]!, args[2]!);
} else if (args[0] === '--worker') {
  await measure(Number(args[1]));
} else {
  const sizes = args.length > 0 ? args.map(Number) : [200, 1000];
  console.log(`# plan benchmark: no-op deploy-all-changed, ${WARM_ITERATIONS} warm iterations, node ${process.version}`);
  let failed = false;
  for (const n of sizes) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`not a service count: ${n}`);
    const child = spawnSync(process.execPath, ['--import', 'tsx', self, '--worker', String(n)], { stdio: 'inherit' });
    if (child.status !== 0) failed = true;
  }
  if (failed) process.exitCode = 1;
}
