// Benchmark: what the health gate adds to a deployment that needs none (no healthcheck, so only
// the settle window), on REAL engines, and how soon it catches a crash.
//
//   node --import tsx bench/gate.ts             # podman, then docker
//   node --import tsx bench/gate.ts podman      # one engine only
//
// Per engine: one service (busybox `sleep 3600`, no healthcheck) is deployed once (not measured).
// Then for DEPLOY_SETTLE_SECONDS = 0, 1 and 5, ROUNDS times each, a commit changes its `.env`, a
// fresh server (same data directory) gets one deploy-all-changed, and the deployment's own
// duration (startedAt -> finishedAt) is taken. "Added" is the median against settle 0, where the
// gate inspects once and returns. Last, a service that exits 3 after 2 s is deployed with the
// default window: the deployment must fail CONTAINER_EXITED; its duration minus 2 s is how long
// the gate took to see the crash after it happened (poll interval + one inspect + logs).
// Needs the test engines (scripts/start-test-engines.sh). Prints figures; never fails on timing.
import { engineSetups, type EngineSetup } from './bench-engines.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadTestEngines } from '../test/e2e/engines/engines.js';
import { EnvRepo, TestServer, projectContainers, removeProject, uid, type RunView } from '../test/e2e/harness.js';
import { median, ms } from './stats.js';

const ROUNDS = 3;
const WINDOWS = [0, 1, 5];

const sleeper = (image: string) => `services:
  app:
    image: ${image}
    init: true
    command: ["sleep", "3600"]
    environment:
      VALUE: \${VALUE}
`;

const crasher = (image: string) => `services:
  app:
    image: ${image}
    command: ["sh", "-c", "sleep 2; exit 3"]
`;

type TimedDeployment = RunView['deployments'][number] & { startedAt: string; finishedAt: string };
const duration = (d: TimedDeployment) => Date.parse(d.finishedAt) - Date.parse(d.startedAt);

async function benchEngine(setup: EngineSetup, image: string): Promise<void> {
  const id = uid();
  const name = `gate-${id}`;
  const crash = `gate-crash-${id}`;
  const repo = new EnvRepo();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gds-bench-gate-'));
  const deployOnce = async (settle: number, service: string): Promise<TimedDeployment> => {
    const env: Record<string, string> = { ...setup.env, DEPLOY_SETTLE_SECONDS: String(settle) };
    const server = await TestServer.start({ checkout: repo.checkout, dataDir, env });
    try {
      const run = await server.deployAll();
      const found = run.deployments.find((d) => d.service === service) as TimedDeployment | undefined;
      assert.ok(found, `run ${run.id} has no deployment of ${service}: ${JSON.stringify(run)}`);
      return found;
    } finally {
      await server.close();
    }
  };
  try {
    repo.write(`services/${name}/${setup.composeFile}`, sleeper(image));
    repo.write(`services/${name}/.env`, 'VALUE=initial\n');
    repo.push('one service');
    assert.equal((await deployOnce(0, name)).status, 'succeeded');

    const medians = new Map<number, number>();
    for (const settle of WINDOWS) {
      const durations: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        repo.write(`services/${name}/.env`, `VALUE=s${settle}-r${round}\n`);
        repo.push(`settle ${settle} round ${round}`);
        const d = await deployOnce(settle, name);
        assert.equal(d.status, 'succeeded', `${d.error?.code}: ${d.error?.message}\n${d.output.slice(-400)}`);
        assert.match(d.output, /health gate: waiting for/, 'the new container was gated');
        durations.push(duration(d));
      }
      medians.set(settle, median(durations));
      console.log(`gate ${setup.engine.padEnd(6)} settle=${settle}s  deployment p50=${ms(median(durations)).padStart(9)}  (${durations.map((n) => ms(n)).join(', ')})`);
    }
    for (const settle of WINDOWS.filter((s) => s > 0)) {
      console.log(`gate ${setup.engine.padEnd(6)} settle=${settle}s adds ${ms(medians.get(settle)! - medians.get(0)!)} to a deployment that needs no gate`);
    }

    repo.write(`services/${crash}/${setup.composeFile}`, crasher(image));
    repo.push('a service that crashes after 2 s');
    const failed = await deployOnce(5, crash);
    assert.equal(failed.error?.code, 'CONTAINER_EXITED', `${failed.status}: ${failed.output.slice(-400)}`);
    assert.equal(projectContainers(setup.engine, crash, setup.env)[0]?.state, 'exited');
    console.log(`gate ${setup.engine.padEnd(6)} crash 2 s after start, settle=5s (the default): deployment failed after ${ms(duration(failed))}`);
  } finally {
    for (const project of [name, crash]) removeProject(setup.engine, project, setup.env);
    rmSync(dataDir, { recursive: true, force: true });
    repo.dispose();
  }
}

async function main(): Promise<void> {
  const engines = loadTestEngines();
  if (!engines) {
    console.log('gate skipped: test engines not running (run scripts/start-test-engines.sh as root)');
    return;
  }
  const wanted = process.argv[2] ?? 'both';
  const setups = engineSetups(engines, wanted);
  for (const setup of setups) await benchEngine(setup, engines.busyboxImage);
}

await main();
