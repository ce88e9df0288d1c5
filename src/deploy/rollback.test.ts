// Automatic rollback after a health-gate failure, over a real git remote, the real catalog and a
// real SQLite file; the runtime and the engine are fakes that record what they were asked.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
import type { ServiceSource } from '../domain/types.js';
import { Pipeline } from './pipeline.js';
import { planDeployAll } from '../domain/plan.js';
import { serviceState } from '../domain/service-state.js';
import { findRollbackTarget, type RollbackEngine } from './rollback.js';
import { pinsOf } from './rolled-back.js';
import { RunEventBus } from './run-events.js';

const compose = (env: string, extra = '') => `${extra}services:\n  main:\n    image: localhost/app:1\n    environment:\n      VERSION: "${env}"\n`;

const catalogOf = (repo: EnvRepo) =>
  createServiceCatalog({ repoPath: repo.checkout, servicesDirectory: 'services', defaultRuntime: 'podman', repository: createGitRepository({ path: repo.checkout, run: createProcessRunner({ baseEnv: process.env }) }) });

/** An engine that knows some image ids and records tags and pulls. */
class FakeEngine implements RollbackEngine {
  readonly tags: Array<[string, string]> = [];
  readonly pulls: string[] = [];
  readonly refs = new Map<string, string>();
  readonly ids = new Set<string>();
  async imageId(reference: string) {
    return this.refs.get(reference) ?? (this.ids.has(reference) ? reference : undefined);
  }
  async tag(imageId: string, reference: string) {
    this.tags.push([imageId, reference]);
    this.refs.set(reference, imageId);
  }
  async pull(reference: string) {
    this.pulls.push(reference);
  }
}

function setup(repo: EnvRepo, options: { rollbackOnFailure?: boolean } = {}) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gds-rollback-'));
  const store = openSqliteStore({ file: path.join(dataDir, 'state.db'), clock: systemClock });
  const run = createProcessRunner({ baseEnv: process.env });
  const repository = createGitRepository({ path: repo.checkout, run });
  const catalogFor = (root: string, listing: Parameters<typeof createServiceCatalog>[0]['repository']) =>
    createServiceCatalog({ repoPath: root, servicesDirectory: 'services', defaultRuntime: 'podman', repository: listing });
  const runtime = new FakeRuntime();
  const engine = new FakeEngine();
  // What the runtime was given on each call: the VERSION its compose file says.
  const versions: string[] = [];
  const deploy = runtime.deploy.bind(runtime);
  runtime.deploy = async (service: ServiceSource, ctx) => {
    versions.push(/VERSION: "([^"]*)"/.exec(readFileSync(path.join(service.dir, service.composeFile), 'utf8'))?.[1] ?? '?');
    return deploy(service, ctx);
  };
  const pipeline = new Pipeline({
    store,
    events: new RunEventBus(store),
    repository,
    catalog: catalogFor(repo.checkout, repository),
    runtimes: fakeRuntimes(runtime),
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    selfService: 'gitops-deploy-server',
    parallelism: 2,
    rollback: {
      repository,
      catalogFor,
      runtimes: fakeRuntimes(runtime),
      engines: { podman: engine, docker: engine, swarm: engine },
      imageReferences: async () => ({ main: 'localhost/app:1' }),
      treesDir: path.join(dataDir, 'trees'),
    },
    ...(options.rollbackOnFailure !== undefined ? { rollbackOnFailure: options.rollbackOnFailure } : {}),
  });
  const deployAll = async () => {
    const runId = store.createRun({ trigger: 'deploy-all-changed', service: null }).id;
    await pipeline.deployAllChanged(runId);
    return { run: store.getRun(runId)!, deployments: store.listDeployments(runId) };
  };
  const rollback = async (name: string, target: string) => {
    const runId = store.createRun({ trigger: 'rollback-service', service: name, target }).id;
    await pipeline.rollbackService(runId, name);
    return { run: store.getRun(runId)!, deployments: store.listDeployments(runId) };
  };
  const oneService = async (name: string, kind: 'deploy' | 'update') => {
    const runId = store.createRun({ trigger: kind === 'update' ? 'redeploy-and-update' : 'deploy-service', service: name }).id;
    await (kind === 'update' ? pipeline.redeployAndUpdate(runId, name) : pipeline.deployService(runId, name));
    return { run: store.getRun(runId)!, deployments: store.listDeployments(runId) };
  };
  return { store, runtime, engine, versions, deployAll, oneService, rollback, dispose: () => (store.close(), rmSync(dataDir, { recursive: true, force: true })) };
}

describe('automatic rollback after a health-gate failure', () => {
  let repo: EnvRepo;
  let ctx: ReturnType<typeof setup>;
  let good: string;
  before(async () => {
    repo = new EnvRepo();
    repo.write('services/app/compose.yaml', compose('v1'));
    good = repo.push('v1');
    ctx = setup(repo);
    ctx.engine.refs.set('localhost/app:1', 'image-before-app');
    const first = await ctx.deployAll();
    assert.equal(first.deployments[0]?.status, 'succeeded');
  });
  after(() => {
    ctx.dispose();
    repo.dispose();
  });

  test('a push that fails the gate ends rolled-back: the last good commit is deployed again, both in the output', async () => {
    repo.write('services/app/compose.yaml', compose('v2-broken'));
    const bad = repo.push('v2 broken');
    ctx.runtime.failGateNext('app', 'CONTAINER_EXITED');
    ctx.versions.length = 0;
    const { run, deployments } = await ctx.deployAll();
    const [d] = deployments;
    assert.equal(d?.status, 'rolled-back');
    assert.equal(d?.errorCode, 'CONTAINER_EXITED');
    assert.equal(run.status, 'failed', 'a rolled-back deployment counts as failed for its run');
    // First the broken inputs, then the good commit's written out.
    assert.deepEqual(ctx.versions, ['v2-broken', 'v1']);
    assert.match(d!.output, /app-main-1: last log line/);
    assert.match(d!.output, /health gate failed: CONTAINER_EXITED/);
    assert.match(d!.output, new RegExp(`rolling back to the last good deployment \\(commit ${good.slice(0, 12)}\\)`));
    assert.match(d!.error ?? '', new RegExp(`rolled back to ${good.slice(0, 12)}`));
    // The reference still names the image that ran: nothing to re-tag or pull.
    assert.deepEqual([ctx.engine.tags, ctx.engine.pulls], [[], []]);
    const state = ctx.store.getDeployedState('app')!;
    assert.equal(state.commit, good, 'the deployed state is still the last good deployment');
    assert.notEqual(d?.fingerprint, state.fingerprint, 'the failed inputs are kept on the record');
    assert.equal(d?.commit, bad);
  });

  test('the next webhook does not retry the same broken inputs, and says why', async () => {
    const calls = ctx.runtime.calls.length;
    const { run, deployments } = await ctx.deployAll();
    assert.equal(run.status, 'succeeded');
    assert.deepEqual(deployments, []);
    assert.equal(ctx.runtime.calls.length, calls, 'nothing ran');
    const pin = ctx.store.getPin('app');
    assert.equal(pin?.commit, good);
    assert.equal(pin?.reason, 'rolled-back');
    const service = (await catalogOf(repo).find('app'))!;
    const [entry] = planDeployAll({ services: [service], deployed: new Map([['app', ctx.store.getDeployedState('app')!]]), selfService: 'x', pins: pinsOf(ctx.store) });
    assert.equal(entry?.decision, 'unchanged');
    assert.match(entry!.reason, new RegExp(`pinned to ${good.slice(0, 12)} \\(rolled back after a failed health gate\\): left alone until its inputs change in git`));
    const last = ctx.store.listServiceDeployments('app', { limit: 1 }).items[0];
    assert.equal(serviceState(service, ctx.store.getDeployedState('app'), last, 'x', pin), 'rolled-back');
  });

  test('an explicit deploy tries the held inputs again', async () => {
    ctx.versions.length = 0;
    const { deployments } = await ctx.oneService('app', 'deploy');
    assert.equal(deployments[0]?.status, 'succeeded');
    assert.deepEqual(ctx.versions, ['v2-broken']);
  });

  test('a new change after a rollback is tried again', async () => {
    repo.write('services/app/compose.yaml', compose('v3-broken'));
    repo.push('v3 broken');
    ctx.runtime.failGateNext('app', 'CONTAINER_UNHEALTHY');
    assert.equal((await ctx.deployAll()).deployments[0]?.status, 'rolled-back');
    repo.write('services/app/compose.yaml', compose('v4'));
    repo.push('v4');
    ctx.versions.length = 0;
    const { deployments } = await ctx.deployAll();
    assert.equal(deployments[0]?.status, 'succeeded');
    assert.deepEqual(ctx.versions, ['v4']);
  });

  test('a failed image update rolls back to the image ids that ran before, with the same inputs', async () => {
    ctx.engine.refs.set('localhost/app:1', 'image-after-broken-pull');
    ctx.engine.ids.add('image-before-app');
    ctx.runtime.failGateNext('app', 'CONTAINER_RESTARTING');
    ctx.versions.length = 0;
    const { deployments } = await ctx.oneService('app', 'update');
    assert.equal(deployments[0]?.status, 'rolled-back');
    assert.deepEqual(ctx.engine.tags, [['image-before-app', 'localhost/app:1']]);
    assert.deepEqual(ctx.versions, ['v4'], 'converged with the inputs the update ran with');
  });

  test('an image the engine pruned is said, and its reference pulled instead', async () => {
    repo.write('services/app/compose.yaml', compose('v5-broken'));
    repo.push('v5 broken');
    ctx.engine.refs.set('localhost/app:1', 'image-after-broken-pull');
    ctx.engine.ids.clear();
    ctx.runtime.failGateNext('app');
    const { deployments } = await ctx.deployAll();
    assert.equal(deployments[0]?.status, 'rolled-back');
    assert.deepEqual(ctx.engine.pulls, ['localhost/app:1']);
    assert.match(deployments[0]!.output, /image image-before that main ran is gone \(pruned by the engine\); pulling localhost\/app:1 instead/);
  });
});

describe('rollback on demand and pins', () => {
  let repo: EnvRepo;
  let ctx: ReturnType<typeof setup>;
  const commits: string[] = [];
  before(async () => {
    repo = new EnvRepo();
    ctx = setup(repo);
    for (const version of ['v1', 'v2', 'v3']) {
      repo.write('services/app/compose.yaml', compose(version));
      commits.push(repo.push(version));
      assert.equal((await ctx.deployAll()).deployments[0]?.status, 'succeeded');
    }
  });
  after(() => {
    ctx.dispose();
    repo.dispose();
  });

  test('the default target is the success before the current; `to` takes a deployment id or a commit prefix', () => {
    const [v3, v2, v1] = ctx.store.listServiceDeployments('app', { limit: 10 }).items;
    assert.equal(findRollbackTarget(ctx.store, 'app').id, v2!.id);
    assert.equal(findRollbackTarget(ctx.store, 'app', v1!.id).id, v1!.id);
    assert.equal(findRollbackTarget(ctx.store, 'app', commits[0]!.slice(0, 8)).id, v1!.id);
    assert.equal(v3!.commit, commits[2]);
    assert.throws(() => findRollbackTarget(ctx.store, 'app', 'd_nope'), (e: unknown) => (e as { code?: string }).code === 'ROLLBACK_TARGET_NOT_FOUND');
  });

  test('a rollback two versions back deploys v1 again and pins it; deploy-all leaves it alone while git still says v3', async () => {
    const target = findRollbackTarget(ctx.store, 'app', commits[0]);
    ctx.versions.length = 0;
    const { run, deployments } = await ctx.rollback('app', target.id);
    assert.equal(run.status, 'succeeded');
    assert.equal(deployments[0]?.status, 'succeeded');
    assert.equal(deployments[0]?.commit, commits[0]);
    assert.deepEqual(ctx.versions, ['v1']);
    assert.equal(ctx.store.getDeployedState('app')?.commit, commits[0]);
    assert.equal(ctx.store.getPin('app')?.reason, 'manual');
    assert.equal(ctx.store.getPin('app')?.commit, commits[0]);
    const service = (await catalogOf(repo).find('app'))!;
    assert.equal(serviceState(service, ctx.store.getDeployedState('app'), deployments[0], 'x', ctx.store.getPin('app')), 'pinned');
    ctx.versions.length = 0;
    assert.deepEqual((await ctx.deployAll()).deployments, []);
    assert.deepEqual(ctx.versions, []);
  });

  test('unpin returns it to git: the next run deploys what git says', async () => {
    assert.equal(ctx.store.deletePin('app'), true);
    ctx.versions.length = 0;
    assert.equal((await ctx.deployAll()).deployments[0]?.status, 'succeeded');
    assert.deepEqual(ctx.versions, ['v3']);
    assert.equal(ctx.store.getPin('app'), undefined);
  });

  test('pinned again, a push that changes the service makes it follow git, and the pin ends', async () => {
    await ctx.rollback('app', findRollbackTarget(ctx.store, 'app', commits[1]).id);
    assert.equal(ctx.store.getPin('app')?.commit, commits[1]);
    repo.write('services/app/compose.yaml', compose('v4'));
    repo.push('v4');
    ctx.versions.length = 0;
    assert.equal((await ctx.deployAll()).deployments[0]?.status, 'succeeded');
    assert.deepEqual(ctx.versions, ['v4']);
    assert.equal(ctx.store.getPin('app'), undefined);
  });
});

describe('when there is no rollback', () => {
  test('a new service has nothing to go back to: it fails, the containers are left, and the output says so', async () => {
    const repo = new EnvRepo();
    repo.write('services/fresh/compose.yaml', compose('v1'));
    repo.push('fresh');
    const ctx = setup(repo);
    try {
      ctx.runtime.failGateNext('fresh');
      const { deployments } = await ctx.deployAll();
      assert.equal(deployments[0]?.status, 'failed');
      assert.equal(deployments[0]?.errorCode, 'CONTAINER_EXITED');
      assert.match(deployments[0]!.output, /no earlier good deployment to go back to; the containers are left as the tool left them/);
      assert.equal(ctx.runtime.calls.length, 1, 'nothing else ran');
    } finally {
      ctx.dispose();
      repo.dispose();
    }
  });

  for (const [label, extra, options, said] of [
    ['x-gitops: { rollback: false }', 'x-gitops:\n  rollback: false\n', {}, /x-gitops: \{ rollback: false \}/],
    ['ROLLBACK_ON_FAILURE=false', '', { rollbackOnFailure: false }, /ROLLBACK_ON_FAILURE=false/],
  ] as const) {
    test(`${label} opts out: the failure stays a failure, held by the next push and tried again by a redeploy`, async () => {
      const repo = new EnvRepo();
      repo.write('services/app/compose.yaml', compose('v1', extra));
      repo.push('v1');
      const ctx = setup(repo, options);
      try {
        assert.equal((await ctx.deployAll()).deployments[0]?.status, 'succeeded');
        repo.write('services/app/compose.yaml', compose('v2', extra));
        repo.push('v2');
        ctx.runtime.failGateNext('app');
        ctx.versions.length = 0;
        const { deployments } = await ctx.deployAll();
        assert.equal(deployments[0]?.status, 'failed');
        assert.match(deployments[0]!.output, said);
        assert.deepEqual(ctx.versions, ['v2'], 'no rollback ran');
        // A plain failure is not retried by the next push with the same inputs (issue 9)...
        assert.deepEqual((await ctx.deployAll()).deployments, []);
        // ...but by an explicit redeploy.
        assert.equal((await ctx.oneService('app', 'deploy')).deployments[0]?.status, 'succeeded');
      } finally {
        ctx.dispose();
        repo.dispose();
      }
    });
  }
});
