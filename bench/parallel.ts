// Benchmark: what DEPLOY_PARALLELISM buys on REAL engines.
//
//   node --import tsx bench/parallel.ts             # podman, then docker
//   node --import tsx bench/parallel.ts podman      # one engine only
//
// Per engine: 10 services (busybox `sleep 3600`, `init: true`, a distinct env value each) are
// deployed once (not measured). Then, for DEPLOY_PARALLELISM=1 and then =4, a commit changes
// every service's `.env`, a fresh server instance (same data directory, so the same deployed
// state) receives one signed POST /deploy-all-changed, and the wall time from the request to
// the run being finished is measured. Each measured run must redeploy all 10 (checked on the
// run's deployments and on the engine: each container runs and sees the new value).
// Needs the test engines (scripts/start-test-engines.sh). Prints figures; never fails on timing.
import { engineSetups, type EngineSetup } from './bench-engines.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { sha256hex } from '../src/util/digest.js';
import { composeProjectName } from '../src/domain/service-layout.js';
import { loadTestEngines } from '../test/e2e/engines/engines.js';
import { EnvRepo, TestServer, containerEnv, projectContainers, removeProject, uid, type RunView } from '../test/e2e/harness.js';
import { median, ms } from './stats.js';

const SERVICES = 10;
const PARALLELISMS = [1, 4];

function compose(image: string, index: number): string {
  return `services:
  app:
    image: ${image}
    init: true
    command: ["sleep", "3600"]
    environment:
      VALUE: \${VALUE}
      INDEX: "${index}"
`;
}

/** POSTs deploy-all-changed and polls the run closely; returns the run and the wall time. */
/** The run as /api/runs/:id answers it, with the timestamps the harness type leaves out. */
type TimedRunView = Omit<RunView, 'deployments'> & {
  createdAt: string;
  finishedAt: string;
  deployments: Array<RunView['deployments'][number] & { startedAt: string; finishedAt: string }>;
};

async function timedDeployAll(server: TestServer): Promise<{ run: TimedRunView; wallMs: number }> {
  const started = performance.now();
  const response = await server.post('/deploy-all-changed');
  if (response.status !== 202) throw new Error(`deploy-all-changed answered ${response.status}: ${JSON.stringify(response.json)}`);
  const runId = response.json.runId as string;
  const deadline = Date.now() + 300_000;
  for (;;) {
    const run = await server.get(`/api/runs/${runId}`);
    if (run.status === 'succeeded' || run.status === 'failed') return { run, wallMs: performance.now() - started };
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${run.status} after 300 s`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Every service redeployed, successfully, and each container runs with the expected value. */
function checkRedeployedAll(setup: EngineSetup, run: RunView, names: string[], expected: (i: number) => string, why: string): void {
  const failures = run.deployments.filter((d) => d.status !== 'succeeded').map((d) => `${d.service}: ${d.status} ${d.error?.message ?? ''}\n${d.output.slice(-400)}`);
  assert.equal(run.status, 'succeeded', `run ${run.id} ${run.status}: ${run.error?.message ?? ''}\n${failures.join('\n')}`);
  const deployed = run.deployments.filter((d) => d.action === 'deploy' && d.status === 'succeeded').map((d) => d.service).sort();
  assert.deepEqual(deployed, [...names].sort(), `run ${run.id} did not redeploy all ${names.length} services`);
  for (const d of run.deployments) assert.match(d.reason, why === 'new' ? /new service/ : /\.env/, `${d.service}: reason ${d.reason}`);
  names.forEach((name, i) => {
    const containers = projectContainers(setup.engine, composeProjectName(name, sha256hex), setup.env);
    assert.equal(containers.length, 1, `${name}: ${containers.length} containers`);
    assert.equal(containers[0]!.state, 'running', `${name}: ${containers[0]!.state}`);
    assert.equal(containerEnv(setup.engine, containers[0]!.id, 'VALUE', setup.env), expected(i), `${name}: VALUE inside the container`);
  });
}

async function benchEngine(setup: EngineSetup, image: string): Promise<void> {
  const id = uid();
  const names = Array.from({ length: SERVICES }, (_, i) => `par-${id}-${String(i).padStart(2, '0')}`);
  const env = new EnvRepo();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gds-bench-parallel-'));
  const writeValues = (round: string) => names.forEach((name, i) => env.write(`services/${name}/.env`, `VALUE=${round}-${i}\n`));
  const withServer = async <T>(parallelism: number, body: (server: TestServer) => Promise<T>): Promise<T> => {
    const server = await TestServer.start({ checkout: env.checkout, dataDir, env: { ...setup.env, DEPLOY_PARALLELISM: String(parallelism) } });
    try {
      return await body(server);
    } finally {
      await server.close();
    }
  };
  try {
    names.forEach((name, i) => env.write(`services/${name}/${setup.composeFile}`, compose(image, i)));
    writeValues('initial');
    env.push('ten services');
    const initial = await withServer(4, (server) => timedDeployAll(server));
    checkRedeployedAll(setup, initial.run, names, (i) => `initial-${i}`, 'new');
    console.log(`  parallel ${setup.engine.padEnd(6)} initial deploy (new services, parallelism=4, not compared): ${ms(initial.wallMs)}`);

    const walls = new Map<number, number>();
    for (const parallelism of PARALLELISMS) {
      const round = `p${parallelism}`;
      writeValues(round);
      env.push(`change every .env (${round})`);
      const { run, wallMs } = await withServer(parallelism, (server) => timedDeployAll(server));
      checkRedeployedAll(setup, run, names, (i) => `${round}-${i}`, 'changed');
      walls.set(parallelism, wallMs);
      const serverMs = Date.parse(run.finishedAt) - Date.parse(run.createdAt);
      // How long one compose action took: grows with parallelism when the host is CPU-bound.
      const actions = run.deployments.map((d) => Date.parse(d.finishedAt) - Date.parse(d.startedAt));
      const firstStart = Math.min(...run.deployments.map((d) => Date.parse(d.startedAt)));
      console.log(
        `parallel ${setup.engine.padEnd(6)} services=${SERVICES} parallelism=${parallelism}  wall=${ms(wallMs).padStart(10)}` +
          `  (server created->finished ${ms(serverMs)}; before first action ${ms(firstStart - Date.parse(run.createdAt))};` +
          ` one action p50=${ms(median(actions))} max=${ms(Math.max(...actions))})`,
      );
    }
    const one = walls.get(1)!;
    const four = walls.get(4)!;
    console.log(`parallel ${setup.engine.padEnd(6)} speed-up parallelism 4 vs 1: x${(one / four).toFixed(2)}`);
  } finally {
    for (const name of names) removeProject(setup.engine, composeProjectName(name, sha256hex), setup.env);
    rmSync(dataDir, { recursive: true, force: true });
    env.dispose();
  }
}

async function main(): Promise<void> {
  const engines = loadTestEngines();
  if (!engines) {
    console.log('parallel skipped: test engines not running (run scripts/start-test-engines.sh as root)');
    return;
  }
  const wanted = process.argv[2] ?? 'both';
  const setups = engineSetups(engines, wanted);
  for (const setup of setups) {
    const started = performance.now();
    await benchEngine(setup, engines.busyboxImage);
    console.log(`  parallel ${setup.engine.padEnd(6)} bench took ${(performance.now() - started) / 1000 | 0} s (incl. set-up, checks and clean-up)`);
  }
}

await main();
