// The pipeline over a real git remote, the real catalog and a real SQLite file; only the
// runtime is a fake (the end-to-end suites cover real engines).
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { EnvRepo } from '../../test/e2e/harness.js';
import { FakeRuntime, fakeRuntimes } from '../../test/fakes/runtime.js';
import { createGitRepository } from '../adapters/git-repository.js';
import { createProcessRunner } from '../adapters/process-runner.js';
import { createServiceCatalog } from '../adapters/service-catalog.js';
import { openSqliteStore } from '../adapters/sqlite-store.js';
import { systemClock } from '../ports/clock.js';
import { RunEventBus } from './run-events.js';
import { Pipeline } from './pipeline.js';
import { RunQueue } from './run-queue.js';
import { AppError } from '../errors.js';
import type { SelfUpdater, ServerInstance } from '../ports/self-updater.js';
import type { Store } from '../ports/store.js';

const compose = (name: string, envFile?: string) =>
  `services:\n  ${name}:\n    image: localhost/busybox:test\n${envFile ? `    env_file: ${envFile}\n` : ''}`;

function setup(repo: EnvRepo, parallelism = 4, extra: Partial<ConstructorParameters<typeof Pipeline>[0]> = {}) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gds-pipeline-'));
  const store = openSqliteStore({ file: path.join(dataDir, 'state.db'), clock: systemClock });
  const run = createProcessRunner({ baseEnv: process.env });
  const repository = createGitRepository({ path: repo.checkout, run });
  const catalog = createServiceCatalog({ repoPath: repo.checkout, servicesDirectory: 'services', defaultRuntime: 'podman', repository });
  const runtime = new FakeRuntime();
  const events = new RunEventBus(store);
  const pipeline = new Pipeline({
    store,
    events,
    repository,
    catalog,
    runtimes: fakeRuntimes(runtime),
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    selfService: 'gitops-deploy-server',
    parallelism,
    ...extra,
  });
  const deployAll = async () => {
    const runId = store.createRun({ trigger: 'deploy-all-changed', service: null }).id;
    await pipeline.deployAllChanged(runId);
    return { run: store.getRun(runId)!, deployments: store.listDeployments(runId) };
  };
  return { store, runtime, pipeline, deployAll, dispose: () => (store.close(), rmSync(dataDir, { recursive: true, force: true })) };
}

describe('deploy-all-changed pipeline', () => {
  let repo: EnvRepo;
  let ctx: ReturnType<typeof setup>;
  before(() => {
    repo = new EnvRepo();
    repo.write('services/alpha/podman-compose.yml', compose('alpha', '../../secrets/alpha.env'));
    repo.write('services/beta/docker-compose.yml', compose('beta'));
    repo.write('services/beta/.env', 'X=1\n');
    repo.write('services/gitops-deploy-server/podman-compose.yml', compose('server'));
    repo.push('three services');
    repo.writeSecret('secrets/alpha.env', 'TOKEN=first\n');
    ctx = setup(repo);
  });
  after(() => {
    ctx.dispose();
    repo.dispose();
  });

  test('the first run deploys every new service, its own last (in place: it does not run in a container of it)', async () => {
    const { run, deployments } = await ctx.deployAll();
    assert.equal(run.status, 'succeeded');
    const byService = Object.fromEntries(deployments.map((d) => [d.service, d]));
    assert.equal(byService['alpha']?.status, 'succeeded');
    assert.equal(byService['alpha']?.reason, 'new service');
    assert.equal(byService['beta']?.status, 'succeeded');
    assert.equal(byService['gitops-deploy-server']?.status, 'succeeded');
    assert.deepEqual(ctx.runtime.calls.map((c) => c.service).slice(0, 2).sort(), ['alpha', 'beta']);
    assert.equal(ctx.runtime.calls.at(-1)?.service, 'gitops-deploy-server');
    assert.equal(ctx.store.getDeployedState('alpha')?.commit, run.commit);
  });

  test('a run with nothing changed acts on nothing', async () => {
    ctx.runtime.calls.length = 0;
    const { run, deployments } = await ctx.deployAll();
    assert.equal(run.status, 'succeeded');
    assert.equal(ctx.runtime.calls.length, 0);
    assert.deepEqual(deployments, []);
  });

  test('a changed ignored secret redeploys exactly its service and names the file', async () => {
    ctx.runtime.calls.length = 0;
    repo.writeSecret('secrets/alpha.env', 'TOKEN=second\n');
    const { deployments } = await ctx.deployAll();
    assert.deepEqual(ctx.runtime.calls.map((c) => c.service), ['alpha']);
    assert.equal(deployments.find((d) => d.service === 'alpha')?.reason, 'changed: ../../secrets/alpha.env');
  });

  test('a failing service fails alone, keeps its old state and is retried by the next run', async () => {
    ctx.runtime.calls.length = 0;
    const betaBefore = ctx.store.getDeployedState('beta')!;
    repo.write('services/alpha/config.ini', 'a=1\n');
    repo.write('services/beta/.env', 'X=2\n');
    const commit = repo.push('change both');
    ctx.runtime.failNext('beta');
    const first = await ctx.deployAll();
    assert.equal(first.run.status, 'failed');
    const beta = first.deployments.find((d) => d.service === 'beta')!;
    assert.equal(beta.status, 'failed');
    assert.equal(beta.errorCode, 'COMPOSE_FAILED');
    assert.match(beta.output, /deploy beta/);
    assert.equal(first.deployments.find((d) => d.service === 'alpha')?.status, 'succeeded');
    assert.equal(ctx.store.getDeployedState('alpha')?.commit, commit);
    assert.deepEqual(ctx.store.getDeployedState('beta'), betaBefore, 'deployed state is written only after success');

    ctx.runtime.calls.length = 0;
    const retry = await ctx.deployAll();
    assert.equal(retry.run.status, 'succeeded');
    assert.deepEqual(ctx.runtime.calls.map((c) => c.service), ['beta']);
    assert.equal(retry.deployments.find((d) => d.service === 'beta')?.reason, 'changed: .env');
  });

  test('a missing required env file fails that service before any command runs', async () => {
    ctx.runtime.calls.length = 0;
    repo.write('services/gamma/podman-compose.yml', compose('gamma', '../../secrets/gamma.env'));
    repo.push('gamma needs a secret nobody placed');
    const { run, deployments } = await ctx.deployAll();
    assert.equal(run.status, 'failed');
    const gamma = deployments.find((d) => d.service === 'gamma')!;
    assert.equal(gamma.errorCode, 'ENV_FILE_MISSING');
    assert.match(gamma.error ?? '', /secrets\/gamma\.env/);
    assert.equal(ctx.runtime.calls.length, 0);
    repo.writeSecret('secrets/gamma.env', 'A=1\n');
    const fixed = await ctx.deployAll();
    assert.equal(fixed.run.status, 'succeeded');
    assert.deepEqual(ctx.runtime.calls.map((c) => c.service), ['gamma']);
  });

  test('an unreachable remote fails the run with SYNC_FAILED and deploys nothing', async () => {
    ctx.runtime.calls.length = 0;
    repo.write('services/alpha/config.ini', 'a=2\n');
    repo.push('a change that cannot be fetched');
    renameSync(repo.remote, `${repo.remote}.gone`);
    try {
      const { run, deployments } = await ctx.deployAll();
      assert.equal(run.status, 'failed');
      assert.equal(run.errorCode, 'SYNC_FAILED');
      assert.deepEqual(deployments, []);
      assert.equal(ctx.runtime.calls.length, 0);
    } finally {
      renameSync(`${repo.remote}.gone`, repo.remote);
    }
  });

  test('a deployment interrupted by a crash is redeployed by the next run', async () => {
    await ctx.deployAll();
    repo.write('services/beta/.env', 'X=3\n');
    repo.push('beta again');
    const runId = ctx.store.createRun({ trigger: 'deploy-all-changed', service: null }).id;
    const crashed = ctx.store.createDeployment({ runId, service: 'beta', action: 'deploy', status: 'running', reason: 'changed: .env', commit: null });
    assert.deepEqual(ctx.store.recoverInterrupted(new Date().toISOString()), { deployments: 1, runs: [{ trigger: 'deploy-all-changed', service: null }] });
    assert.equal(ctx.store.listDeployments(runId).find((d) => d.id === crashed.id)?.status, 'interrupted');
    ctx.runtime.calls.length = 0;
    const { run } = await ctx.deployAll();
    assert.equal(run.status, 'succeeded');
    assert.deepEqual(ctx.runtime.calls.map((c) => c.service), ['beta']);
  });
});

describe('parallelism and coalescing', () => {
  test('changed services deploy in parallel up to the limit', async () => {
    const repo = new EnvRepo();
    for (let i = 0; i < 6; i++) repo.write(`services/s${i}/compose.yaml`, compose(`s${i}`));
    repo.push('six services');
    const ctx = setup(repo, 2);
    try {
      const { run } = await ctx.deployAll();
      assert.equal(run.status, 'succeeded');
      assert.equal(ctx.runtime.calls.length, 6);
      assert.equal(ctx.runtime.maxActive, 2);
    } finally {
      ctx.dispose();
      repo.dispose();
    }
  });

  test('a burst during a run coalesces into one more run that deploys the newest commit', async () => {
    const repo = new EnvRepo();
    repo.write('services/app/compose.yaml', compose('app'));
    repo.push('app');
    const ctx = setup(repo);
    const queue = new RunQueue<{ lane: string }>({
      createRun: () => ctx.store.createRun({ trigger: 'deploy-all-changed', service: null }).id,
      execute: (runId) => ctx.pipeline.deployAllChanged(runId),
      onUnexpectedError: (error) => assert.fail(String(error)),
    });
    try {
      const held = ctx.runtime.hold('app');
      const first = queue.enqueue({ lane: 'deploy-all' });
      await held.started;
      let latest = '';
      const ids = new Set<string>();
      for (let i = 0; i < 20; i++) {
        repo.write('services/app/.env', `N=${i}\n`);
        latest = repo.push(`push ${i}`);
        ids.add(queue.enqueue({ lane: 'deploy-all' }).runId);
      }
      held.release();
      await queue.idle();
      assert.equal(ids.size, 1, 'every trigger during the run joined one waiting run');
      const second = ctx.store.getRun([...ids][0]!)!;
      assert.notEqual(second.id, first.runId);
      assert.equal(second.status, 'succeeded');
      assert.equal(second.commit, latest);
      assert.equal(ctx.store.getDeployedState('app')?.commit, latest);
    } finally {
      ctx.dispose();
      repo.dispose();
    }
  });
});

/**
 * A self-updater whose "helper" is a timer that records the outcome in the store, as the real
 * helper container does from another process.
 */
class FakeSelfUpdater implements SelfUpdater {
  started: string[] = [];
  outcome: 'succeeded' | 'rolled-back' | 'never' | 'refuse' = 'succeeded';
  constructor(private readonly store: () => Store) {}
  async findInstance() {
    return { containerId: 'c0ffee', imageId: 'img-1' };
  }
  async startHelper(_instance: ServerInstance, deploymentId: string) {
    if (this.outcome === 'refuse') throw new AppError('PROCESS_FAILED', 'podman run failed: no space left');
    this.started.push(deploymentId);
    if (this.outcome !== 'never') {
      const status = this.outcome;
      setTimeout(() => this.store().updateDeployment(deploymentId, { status, finishedAt: new Date().toISOString() }), 30);
    }
    return `gds-self-update-${deploymentId}`;
  }
  async helperExists() {
    return true;
  }
}

describe('self-update handoff', () => {
  let repo: EnvRepo;
  let ctx: ReturnType<typeof setup>;
  let updater: FakeSelfUpdater;
  const quiesced: string[] = [];
  let resumed = 0;
  before(async () => {
    repo = new EnvRepo();
    repo.write('services/app/podman-compose.yml', compose('app'));
    repo.write('services/gitops-deploy-server/podman-compose.yml', compose('server'));
    repo.push('app and the server');
    let store: Store | undefined;
    updater = new FakeSelfUpdater(() => store!);
    ctx = setup(repo, 4, {
      selfUpdater: updater,
      quiesce: async (runId) => {
        quiesced.push(runId);
        return () => void resumed++;
      },
      handoffPollMs: 10,
    });
    store = ctx.store;
  });
  after(() => {
    ctx.dispose();
    repo.dispose();
  });

  test('the own service is handed to a helper after the others, with every other run stopped', async () => {
    const { run, deployments } = await ctx.deployAll();
    assert.equal(run.status, 'succeeded');
    assert.deepEqual(ctx.runtime.calls.map((c) => c.service), ['app'], 'the server does not run compose on its own container');
    const self = deployments.find((d) => d.service === 'gitops-deploy-server')!;
    assert.equal(self.status, 'succeeded');
    assert.deepEqual(self.handoff?.kind, 'deploy');
    assert.deepEqual(updater.started, [self.id]);
    assert.deepEqual(quiesced, [run.id]);
    assert.equal(resumed, 1);
  });

  test('a rolled-back self-update fails the run; a helper that cannot start fails the deployment', async () => {
    updater.outcome = 'rolled-back';
    repo.write('services/gitops-deploy-server/podman-compose.yml', compose('server2'));
    repo.push('server changed');
    const rolledBack = await ctx.deployAll();
    assert.equal(rolledBack.run.status, 'failed');
    assert.equal(rolledBack.deployments[0]?.status, 'rolled-back');

    // The same inputs are not handed off again at every push (each try swaps the server twice).
    const notAgain = await ctx.deployAll();
    assert.equal(notAgain.run.status, 'succeeded');
    assert.deepEqual(notAgain.deployments, []);
    assert.equal(updater.started.length, 2);

    updater.outcome = 'refuse';
    repo.write('services/gitops-deploy-server/podman-compose.yml', compose('server3'));
    repo.push('server fixed');
    const refused = await ctx.deployAll();
    assert.equal(refused.run.status, 'failed');
    assert.equal(refused.deployments[0]?.status, 'failed');
    assert.equal(refused.deployments[0]?.errorCode, 'PROCESS_FAILED');
    assert.equal(resumed, 3, 'other runs are let go again whatever happened');
  });

  test('when the server is replaced mid-handoff, the run is left to the helper, open', async () => {
    updater.outcome = 'never';
    const runId = ctx.store.createRun({ trigger: 'redeploy-and-update', service: 'gitops-deploy-server' }).id;
    const done = ctx.pipeline.redeployAndUpdate(runId, 'gitops-deploy-server');
    while (updater.started.length < 3) await new Promise((r) => setTimeout(r, 10));
    ctx.pipeline.shutdown();
    await done;
    assert.equal(ctx.store.getRun(runId)?.status, 'running');
    const [self] = ctx.store.listDeployments(runId);
    assert.equal(self?.status, 'handed-off');
    assert.deepEqual(self?.handoff, { kind: 'update', rollbackCommit: null, helper: self?.handoff?.helper, runtime: 'podman', fingerprint: self?.handoff?.fingerprint });
  });
});
