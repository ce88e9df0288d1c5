// The pipeline over a real git remote, the real catalog and a real SQLite file; only the
// runtime is a fake (the end-to-end suites cover real engines).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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
    ctx = setup(repo, 4, { selfDeploy: 'in-place' });
  });
  after(() => {
    ctx.dispose();
    repo.dispose();
  });

  test('the first run deploys every new service, its own last (in place: it does not run in a container of it, and SELF_DEPLOY=in-place)', async () => {
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

  test('a failing service fails alone, keeps its old state, is not retried by an unrelated push and is by a change of it', async () => {
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
    assert.ok(beta.fingerprint, 'the failed inputs are recorded');

    ctx.runtime.calls.length = 0;
    repo.write('services/alpha/config.ini', 'a=3\n');
    repo.push('an unrelated change');
    const unrelated = await ctx.deployAll();
    assert.deepEqual(ctx.runtime.calls.map((c) => c.service), ['alpha'], 'beta failed with these inputs: not tried again');
    assert.equal(unrelated.deployments.some((d) => d.service === 'beta'), false);

    ctx.runtime.calls.length = 0;
    repo.write('services/beta/.env', 'X=2b\n');
    repo.push('fix beta');
    const retry = await ctx.deployAll();
    assert.equal(retry.run.status, 'succeeded');
    assert.deepEqual(ctx.runtime.calls.map((c) => c.service), ['beta']);
    assert.equal(retry.deployments.find((d) => d.service === 'beta')?.reason, 'changed: .env');
  });

  test('a forced redeploy of one service asks the runtime to recreate everything, and says so', async () => {
    ctx.runtime.calls.length = 0;
    const runId = ctx.store.createRun({ trigger: 'deploy-service', service: 'alpha', origin: 'api' }).id;
    await ctx.pipeline.deployService(runId, 'alpha', { force: true });
    const [deployment] = ctx.store.listDeployments(runId);
    assert.equal(deployment?.status, 'succeeded');
    assert.equal(deployment?.reason, 'forced redeploy requested: every container recreated');
    assert.deepEqual(ctx.runtime.forced, ['alpha']);
    const plain = ctx.store.createRun({ trigger: 'deploy-service', service: 'alpha', origin: 'retry' }).id;
    await ctx.pipeline.deployService(plain, 'alpha');
    assert.deepEqual(ctx.runtime.forced, ['alpha'], 'a plain redeploy is not forced');
    assert.equal(ctx.store.listDeployments(plain)[0]?.reason, 'retry after a transient failure');
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
    ctx.store.updateRun(runId, { status: 'running' });
    const crashed = ctx.store.createDeployment({ runId, service: 'beta', action: 'deploy', status: 'running', reason: 'changed: .env', commit: null });
    assert.deepEqual(ctx.store.recoverInterrupted(new Date().toISOString()), { deployments: 1, runs: [{ trigger: 'deploy-all-changed', service: null }], queued: [] });
    assert.equal(ctx.store.listDeployments(runId).find((d) => d.id === crashed.id)?.status, 'interrupted');
    ctx.runtime.calls.length = 0;
    const { run } = await ctx.deployAll();
    assert.equal(run.status, 'succeeded');
    assert.deepEqual(ctx.runtime.calls.map((c) => c.service), ['beta']);
  });
});

describe('the own service when the server does not run in a container of it', () => {
  test('is not deployed by a push, its plan entry says why, and an explicit redeploy fails saying why', async () => {
    const repo = new EnvRepo();
    repo.write('services/app/podman-compose.yml', compose('app'));
    repo.write('services/gitops-deploy-server/podman-compose.yml', compose('server'));
    repo.push('app and the server');
    // No container of the own service runs (the self-updater finds none): the server is on the host.
    const ctx = setup(repo, 4, { selfUpdater: { findInstance: async () => undefined, startHelper: async () => 'never', helperExists: async () => false } });
    try {
      const { run, deployments } = await ctx.deployAll();
      assert.equal(run.status, 'succeeded');
      assert.deepEqual(ctx.runtime.calls.map((c) => c.service), ['app']);
      assert.deepEqual(deployments.map((d) => d.service), ['app']);
      const why = 'not deployed: this server does not run in a container of gitops-deploy-server; SELF_DEPLOY=in-place deploys it in place';
      assert.equal(await ctx.pipeline.selfHeld([{ name: 'gitops-deploy-server' } as never]), why);

      const runId = ctx.store.createRun({ trigger: 'deploy-service', service: 'gitops-deploy-server', origin: 'api' }).id;
      await ctx.pipeline.deployService(runId, 'gitops-deploy-server');
      const [refused] = ctx.store.listDeployments(runId);
      assert.equal(refused?.status, 'failed');
      assert.equal(refused?.errorCode, 'SELF_UPDATE_FAILED');
      assert.equal(refused?.error, why);
      assert.deepEqual(ctx.runtime.calls.map((c) => c.service), ['app'], 'nothing ran for the own service');
    } finally {
      ctx.dispose();
      repo.dispose();
    }
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
      execute: (runId) => ctx.pipeline.deployAllChanged(runId).then(() => undefined),
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
      exclusive: async (runId) => {
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

describe('two self-updates at once', () => {
  // The deadlock: a deploy-all reached the self stage while an update of the server's own service
  // ran in another lane; each paused the queue and waited for the other to finish, for good.
  test('a deploy-all that reaches its self stage while an update of the server runs: both end, one after the other', { timeout: 20_000 }, async () => {
    const repo = new EnvRepo();
    repo.write('services/app/podman-compose.yml', compose('app'));
    repo.write('services/gitops-deploy-server/podman-compose.yml', compose('server'));
    repo.push('app and the server');
    let store: Store | undefined;
    const updater = new FakeSelfUpdater(() => store!);
    let queue!: RunQueue<{ lane: string; kind: 'all' | 'update' }>;
    const ctx = setup(repo, 4, { selfUpdater: updater, exclusive: (runId) => queue.exclusive(runId), handoffPollMs: 10 });
    store = ctx.store;
    queue = new RunQueue({
      createRun: (job) => ctx.store.createRun(job.kind === 'all' ? { trigger: 'deploy-all-changed', service: null } : { trigger: 'redeploy-and-update', service: 'gitops-deploy-server' }).id,
      execute: async (runId, job) => {
        if (job.kind === 'all') await ctx.pipeline.deployAllChanged(runId);
        else await ctx.pipeline.redeployAndUpdate(runId, 'gitops-deploy-server');
      },
      onUnexpectedError: (error) => assert.fail(String(error)),
    });
    try {
      const app = ctx.runtime.hold('app');
      const all = queue.enqueue({ lane: 'deploy-all', kind: 'all' }).runId;
      await app.started;
      // The package webhook for the server while the other service deploys.
      const update = queue.enqueue({ lane: 'update:gitops-deploy-server', kind: 'update' }).runId;
      await new Promise((resolve) => setTimeout(resolve, 50));
      app.release();
      await queue.idle();
      assert.equal(ctx.store.getRun(all)?.status, 'succeeded');
      assert.equal(ctx.store.getRun(update)?.status, 'succeeded');
      assert.equal(updater.started.length, 2, 'each run handed its own self-update to a helper, one at a time');
      const self = ctx.store.listServiceDeployments('gitops-deploy-server', { limit: 10 }).items.map((d) => d.action).sort();
      assert.deepEqual(self, ['deploy', 'update']);
    } finally {
      ctx.dispose();
      repo.dispose();
    }
  });

  test('a self stage that waited for a handoff decides again: inputs the previous helper deployed are not handed off twice', { timeout: 20_000 }, async () => {
    const repo = new EnvRepo();
    repo.write('services/gitops-deploy-server/podman-compose.yml', compose('server'));
    repo.push('the server');
    let store: Store | undefined;
    const updater = new FakeSelfUpdater(() => store!);
    const ctx = setup(repo, 4, { selfUpdater: updater, handoffPollMs: 10 });
    store = ctx.store;
    try {
      // A helper still finishing (the new instance started before it recorded the state).
      const earlier = ctx.store.createRun({ trigger: 'deploy-all-changed', service: null });
      const open = ctx.store.createDeployment({ runId: earlier.id, service: 'gitops-deploy-server', action: 'deploy', status: 'queued', reason: 'changed', commit: null });
      ctx.store.updateDeployment(open.id, { status: 'handed-off', startedAt: new Date().toISOString(), handoff: { kind: 'deploy', rollbackCommit: null, helper: 'h', runtime: 'podman', fingerprint: 'f' } });
      const repository = createGitRepository({ path: repo.checkout, run: createProcessRunner({ baseEnv: process.env }) });
      await repository.sync();
      const service = (await createServiceCatalog({ repoPath: repo.checkout, servicesDirectory: 'services', defaultRuntime: 'podman', repository }).find('gitops-deploy-server'))!;
      setTimeout(() => {
        ctx.store.recordSuccess(open.id, { status: 'succeeded' }, { service: service.name, fingerprint: service.fingerprint, files: service.files, commit: null, deployedAt: new Date().toISOString(), images: {} });
      }, 100);
      const { run, deployments } = await ctx.deployAll();
      assert.equal(run.status, 'succeeded');
      assert.deepEqual(deployments, [], 'nothing recorded: the previous helper deployed these inputs');
      assert.deepEqual(updater.started, []);
    } finally {
      ctx.dispose();
      repo.dispose();
    }
  });
});

describe('one tree per run', () => {
  // Discovery and deployment read different trees: a sync landing between reading a service and
  // deploying it deployed the new tree and recorded the old fingerprint.
  test('a sync requested while a one-service run reads its service waits until the deployment is recorded', { timeout: 20_000 }, async () => {
    const repo = new EnvRepo();
    repo.write('services/app/podman-compose.yml', compose('app'));
    repo.write('services/app/.env', 'V=1\n');
    const first = repo.push('app v1');
    execFileSync('git', ['-C', repo.checkout, 'pull', '-q']);
    const heads: string[] = [];
    let pipeline!: Pipeline;
    let store!: Store;
    let syncRun: Promise<unknown> | undefined;
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gds-pipeline-'));
    store = openSqliteStore({ file: path.join(dataDir, 'state.db'), clock: systemClock });
    const run = createProcessRunner({ baseEnv: process.env });
    const repository = createGitRepository({ path: repo.checkout, run });
    const real = createServiceCatalog({ repoPath: repo.checkout, servicesDirectory: 'services', defaultRuntime: 'podman', repository });
    const catalog = {
      ...real,
      find: async (name: string) => {
        const found = await real.find(name);
        // A push and its webhook arrive right after the service was read.
        if (!syncRun) {
          repo.write('services/app/.env', 'V=2\n');
          repo.push('app v2');
          syncRun = pipeline.deployAllChanged(store.createRun({ trigger: 'deploy-all-changed', service: null }).id);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return found;
      },
    };
    const runtime = new FakeRuntime();
    const recording = {
      kind: 'podman' as const,
      deploy: async (service: Parameters<FakeRuntime['deploy']>[0], actx: Parameters<FakeRuntime['deploy']>[1]) => {
        heads.push(await repository.head());
        return runtime.deploy(service, actx);
      },
      update: runtime.update.bind(runtime),
    };
    pipeline = new Pipeline({ store, events: new RunEventBus(store), repository, catalog, runtimes: { podman: recording, docker: recording, swarm: recording }, clock: systemClock, logger: pino({ level: 'silent' }), selfService: 'gitops-deploy-server', parallelism: 2 });
    try {
      const runId = store.createRun({ trigger: 'deploy-service', service: 'app' }).id;
      await pipeline.deployService(runId, 'app');
      assert.equal(heads[0], first, 'the tree the service was read from is the tree that was deployed');
      await syncRun;
      assert.equal(store.listDeployments(runId)[0]?.commit, first);
    } finally {
      store.close();
      rmSync(dataDir, { recursive: true, force: true });
      repo.dispose();
    }
  });
});
