// The prune stage through the real pipeline, over a real git remote, the real catalog and a
// real SQLite file; only the runtime is a fake (test/e2e/prune.test.ts covers real engines).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
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
import { describeGoneServices } from '../http/views.js';
import { systemClock } from '../ports/clock.js';
import { Pipeline } from './pipeline.js';
import type { PruneSettings } from './prune.js';
import { buildNotification } from '../notify/outcome.js';
import { RunEventBus } from './run-events.js';
import { runOutcome } from './run-outcome.js';

const compose = (name: string) => `services:\n  ${name}:\n    image: localhost/busybox:test\n    env_file: .env\n`;

function setup(repo: EnvRepo, prune: Partial<PruneSettings> = {}) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gds-prune-'));
  const store = openSqliteStore({ file: path.join(dataDir, 'state.db'), clock: systemClock });
  const run = createProcessRunner({ baseEnv: process.env });
  const repository = createGitRepository({ path: repo.checkout, run });
  const catalog = createServiceCatalog({ repoPath: repo.checkout, servicesDirectory: 'services', defaultRuntime: 'podman', repository });
  const runtime = new FakeRuntime();
  const pipeline = new Pipeline({
    store,
    events: new RunEventBus(store),
    repository,
    catalog,
    runtimes: fakeRuntimes(runtime),
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    selfService: 'gitops-deploy-server',
    parallelism: 4,
    prune: { servicesDirectory: 'services', enabled: true, maxFraction: 0.5, ...prune },
  });
  const deployAll = async () => {
    const runId = store.createRun({ trigger: 'deploy-all-changed', service: null }).id;
    await pipeline.deployAllChanged(runId);
    return { run: store.getRun(runId)!, deployments: store.listDeployments(runId) };
  };
  return { store, runtime, deployAll, dispose: () => (store.close(), rmSync(dataDir, { recursive: true, force: true })) };
}

function fourServices(): EnvRepo {
  const repo = new EnvRepo();
  for (const name of ['alpha', 'beta', 'gamma', 'delta']) {
    repo.write(`services/${name}/podman-compose.yml`, compose(name));
    repo.write(`services/${name}/.env`, `NAME=${name}\n`);
  }
  repo.push('four services');
  return repo;
}

describe('pruning removed services', () => {
  let repo: EnvRepo;
  let ctx: ReturnType<typeof setup>;
  before(async () => {
    repo = fourServices();
    ctx = setup(repo);
    assert.equal((await ctx.deployAll()).run.status, 'succeeded');
  });
  after(() => {
    ctx.dispose();
    repo.dispose();
  });

  test('each success keeps the compose file it deployed with (what a prune takes down)', () => {
    const state = ctx.store.getDeployedState('beta');
    assert.deepEqual(state?.compose, { runtime: 'podman', projectName: 'beta', composeFile: 'podman-compose.yml', text: compose('beta') });
  });

  test('a directory removed in git is taken down with its stored compose file, leaving a tombstone', async () => {
    repo.remove('services/beta');
    const commit = repo.push('remove beta');
    const { run, deployments } = await ctx.deployAll();
    assert.equal(run.status, 'succeeded');
    assert.deepEqual(deployments.map((d) => [d.service, d.action, d.status]), [['beta', 'prune', 'succeeded']]);
    assert.equal(deployments[0]!.commit, commit);
    assert.match(deployments[0]!.reason, /services\/beta removed in git .*volumes kept/);
    assert.match(deployments[0]!.output, /down beta/);
    assert.deepEqual(ctx.runtime.downs.map((d) => [d.service, d.projectName, d.composeFile, d.text]), [['beta', 'beta', 'podman-compose.yml', compose('beta')]]);
    // The tombstone is the service's history; its deployed state is gone, so it leaves the list.
    assert.equal(ctx.store.getDeployedState('beta'), undefined);
    const [newest] = ctx.store.listServiceDeployments('beta', { limit: 1 }).items;
    assert.equal(newest?.action, 'prune');
    const [gone] = describeGoneServices(new Set(['alpha', 'gamma', 'delta']), ctx.store.listDeployedStates(), ctx.store.lastDeployments(), { removed: ['beta'] });
    assert.equal(gone?.state, 'removed');
    assert.deepEqual(describeGoneServices(new Set(['alpha', 'gamma', 'delta']), ctx.store.listDeployedStates(), ctx.store.lastDeployments()), []);
  });

  test('a later run does not prune it again; a directory that comes back is a new service', async () => {
    assert.deepEqual((await ctx.deployAll()).deployments, []);
    repo.write('services/beta/podman-compose.yml', compose('beta'));
    repo.write('services/beta/.env', 'NAME=beta\n');
    repo.push('beta is back');
    const { deployments } = await ctx.deployAll();
    assert.deepEqual(deployments.map((d) => [d.service, d.action, d.status, d.reason]), [['beta', 'deploy', 'succeeded', 'new service']]);
  });

  test('a deployed service with no removal in git to prove it (never tracked there) is orphaned, never taken down', async () => {
    const head = ctx.store.getDeployedState('alpha')!;
    ctx.store.saveDeployedState({ ...head, service: 'ghost', compose: { ...head.compose!, projectName: 'ghost' } });
    const downs = ctx.runtime.downs.length;
    const { run, deployments } = await ctx.deployAll();
    assert.equal(run.status, 'succeeded');
    assert.deepEqual(deployments, []);
    assert.equal(ctx.runtime.downs.length, downs);
    assert.ok(ctx.store.getDeployedState('ghost'));
    const [orphan] = describeGoneServices(new Set(['alpha', 'beta', 'gamma', 'delta']), ctx.store.listDeployedStates(), ctx.store.lastDeployments());
    assert.equal(orphan?.name, 'ghost');
    assert.equal(orphan?.state, 'orphaned');
  });

  test('a failed take-down fails alone, keeps the deployed state and is tried again next run', async () => {
    repo.remove('services/gamma');
    repo.push('remove gamma');
    ctx.runtime.failNext('gamma');
    const first = await ctx.deployAll();
    assert.equal(first.run.status, 'failed');
    assert.deepEqual(first.deployments.map((d) => [d.service, d.action, d.status, d.errorCode]), [['gamma', 'prune', 'failed', 'COMPOSE_FAILED']]);
    assert.ok(ctx.store.getDeployedState('gamma'));
    const second = await ctx.deployAll();
    assert.equal(second.run.status, 'succeeded');
    assert.deepEqual(second.deployments.map((d) => [d.service, d.action, d.status]), [['gamma', 'prune', 'succeeded']]);
  });
});

describe('the prune guard', () => {
  let repo: EnvRepo;
  after(() => repo.dispose());

  test('most services going at once fails the run with PRUNE_REFUSED and touches nothing; PRUNE_MAX_FRACTION=1 lets them go', async () => {
    repo = fourServices();
    const ctx = setup(repo);
    try {
      await ctx.deployAll();
      for (const name of ['alpha', 'beta', 'gamma']) repo.remove(`services/${name}`);
      repo.write('services/delta/.env', 'NAME=delta-changed\n');
      repo.push('remove three of four, change the fourth');
      const deploysBefore = ctx.runtime.calls.length;
      const { run, deployments } = await ctx.deployAll();
      assert.equal(run.status, 'failed');
      assert.equal(run.errorCode, 'PRUNE_REFUSED');
      assert.match(run.error ?? '', /3 of 4 deployed services would be pruned at once \(alpha, beta, gamma\)/);
      assert.deepEqual(deployments, [], 'nothing removed, nothing deployed');
      assert.equal(ctx.runtime.downs.length, 0);
      assert.equal(ctx.runtime.calls.length, deploysBefore);
      assert.equal(ctx.store.listDeployedStates().length, 4);
      const listed = describeGoneServices(new Set(['delta']), ctx.store.listDeployedStates(), ctx.store.lastDeployments());
      assert.deepEqual(listed.map((s) => [s.name, s.state]), [['alpha', 'orphaned'], ['beta', 'orphaned'], ['gamma', 'orphaned']]);
      // The run end notification carries the code (a failure, not a silent no-op).
      const notification = buildNotification(runOutcome(ctx.store, run.id, { serverName: 'gds', publicUrl: undefined })!, { onSuccess: false });
      assert.equal(notification?.kind, 'failure');
      assert.match(notification!.text, /Run error: PRUNE_REFUSED: 3 of 4 deployed services/);
    } finally {
      ctx.dispose();
    }
  });

  test('every service removed in one push (no services directory left to read) fails with PRUNE_REFUSED too', async () => {
    const emptied = fourServices();
    const ctx = setup(emptied);
    try {
      await ctx.deployAll();
      emptied.remove('services');
      emptied.push('remove every service');
      const { run, deployments } = await ctx.deployAll();
      assert.equal(run.status, 'failed');
      assert.equal(run.errorCode, 'PRUNE_REFUSED');
      assert.match(run.error ?? '', /4 of 4 deployed services/);
      assert.deepEqual(deployments, []);
      assert.equal(ctx.runtime.downs.length, 0);
      assert.equal(ctx.store.listDeployedStates().length, 4);
    } finally {
      ctx.dispose();
      emptied.dispose();
    }
  });

  test('the operator override: PRUNE_MAX_FRACTION=1', async () => {
    const ctx = setup(repo, { maxFraction: 1 });
    try {
      // A fresh store: deploy what is there now, then remove it all in one push.
      await ctx.deployAll();
      repo.remove('services/delta');
      repo.write('services/epsilon/podman-compose.yml', compose('epsilon'));
      repo.write('services/epsilon/.env', 'NAME=epsilon\n');
      repo.push('replace delta with epsilon');
      const { run, deployments } = await ctx.deployAll();
      assert.equal(run.status, 'succeeded');
      // The prune goes first: a renamed service's new directory may want the old one's ports.
      assert.deepEqual(deployments.map((d) => [d.service, d.action, d.status]), [['delta', 'prune', 'succeeded'], ['epsilon', 'deploy', 'succeeded']]);
      const notification = buildNotification(runOutcome(ctx.store, run.id, { serverName: 'gds', publicUrl: undefined })!, { onSuccess: true });
      assert.match(notification!.text, /- delta: prune succeeded \(services\/delta removed in git/);
    } finally {
      ctx.dispose();
    }
  });
});

describe('PRUNE=false', () => {
  test('a removed service is listed orphaned and left running', async () => {
    const repo = fourServices();
    const ctx = setup(repo, { enabled: false });
    try {
      await ctx.deployAll();
      repo.remove('services/alpha');
      repo.push('remove alpha');
      const { run, deployments } = await ctx.deployAll();
      assert.equal(run.status, 'succeeded');
      assert.deepEqual(deployments, []);
      assert.equal(ctx.runtime.downs.length, 0);
      const listed = describeGoneServices(new Set(['beta', 'gamma', 'delta']), ctx.store.listDeployedStates(), ctx.store.lastDeployments());
      assert.deepEqual(listed.map((s) => [s.name, s.state, s.runtime, s.projectName]), [['alpha', 'orphaned', 'podman', 'alpha']]);
    } finally {
      ctx.dispose();
      repo.dispose();
    }
  });
});
