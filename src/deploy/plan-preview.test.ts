// The plan preview over a real git remote, the real catalog and a real SQLite file: it must say
// what the next deploy-all-changed does and change nothing of the checkout.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
import { Pipeline } from './pipeline.js';
import { previewPlan } from './plan-preview.js';
import { RunEventBus } from './run-events.js';
import { createServicesView } from './services-view.js';

const compose = (name: string, extra = '') => `services:\n  ${name}:\n    image: localhost/busybox:test\n${extra}`;
const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-C', cwd, ...args], { encoding: 'utf8' }).trim();

describe('plan preview', () => {
  let repo: EnvRepo;
  let dataDir: string;
  let preview: () => ReturnType<typeof previewPlan>;
  let deployAll: () => Promise<void>;
  let runtime: FakeRuntime;
  let close: () => void;

  before(async () => {
    repo = new EnvRepo();
    repo.write('services/alpha/podman-compose.yml', compose('alpha', '    env_file: ../../secrets/alpha.env\n'));
    repo.write('services/beta/podman-compose.yml', compose('beta'));
    repo.write('services/beta/app.conf', 'v=1\n');
    repo.write('services/gitops-deploy-server/podman-compose.yml', compose('server'));
    repo.push('three services');
    repo.writeSecret('secrets/alpha.env', 'TOKEN=1\n');
    dataDir = mkdtempSync(path.join(tmpdir(), 'gds-preview-'));
    const store = openSqliteStore({ file: path.join(dataDir, 'state.db'), clock: systemClock });
    const run = createProcessRunner({ baseEnv: process.env });
    const repository = createGitRepository({ path: repo.checkout, run });
    const catalogFor = (root: string, listing: Parameters<typeof createServiceCatalog>[0]['repository']) =>
      createServiceCatalog({ repoPath: root, servicesDirectory: 'services', defaultRuntime: 'podman', repository: listing });
    const catalog = catalogFor(repo.checkout, repository);
    runtime = new FakeRuntime();
    const pipeline = new Pipeline({
      store,
      events: new RunEventBus(store),
      repository,
      catalog,
      runtimes: fakeRuntimes(runtime),
      clock: systemClock,
      logger: pino({ level: 'silent' }),
      selfService: 'gitops-deploy-server',
      parallelism: 2,
      selfDeploy: 'in-place',
    });
    preview = () =>
      previewPlan({
        repository,
        fetchLock: pipeline.fetchLock,
        view: createServicesView({ catalog, repository, repositoryLock: pipeline.repositoryLock, ttlMs: 0 }),
        catalogFor,
        store,
        selfService: 'gitops-deploy-server',
        scratchDir: path.join(dataDir, 'plan-preview'),
        toolOf: async (kind) => (kind === 'podman' ? 'podman-compose 1.3.0' : undefined),
      });
    deployAll = async () => void (await pipeline.deployAllChanged(store.createRun({ trigger: 'deploy-all-changed', service: null }).id));
    close = () => store.close();
    await deployAll();
  });
  after(() => {
    close();
    rmSync(dataDir, { recursive: true, force: true });
    repo.dispose();
  });

  test('every planned service names the compose tool and version that would run it', async () => {
    const plan = await preview();
    assert.deepEqual([...new Set(plan.services.map((s) => s.tool))], ['podman-compose 1.3.0']);
  });

  test('with nothing pushed, everything is unchanged', async () => {
    const plan = await preview();
    assert.equal(plan.commit, plan.currentCommit);
    assert.deepEqual(plan.counts, { deploy: 0, unchanged: 3, self: 0, problem: 0 });
  });

  test('a pushed change shows as deploy with its file, while the checkout stays at its commit', async () => {
    const before = git(repo.checkout, 'rev-parse', 'HEAD');
    const statusBefore = git(repo.checkout, 'status', '--porcelain', '--ignored');
    repo.write('services/beta/app.conf', 'v=2\n');
    repo.write('services/gamma/podman-compose.yml', compose('gamma', '    env_file: ../../secrets/gamma.env\n'));
    const pushed = repo.push('change beta, add gamma without its secret');
    const calls = runtime.calls.length;

    const plan = await preview();
    assert.equal(plan.commit, pushed);
    assert.equal(plan.currentCommit, before);
    const byService = Object.fromEntries(plan.services.map((s) => [s.service, s]));
    assert.equal(byService['alpha']?.decision, 'unchanged', 'the secret outside the tree hashes the same in the preview');
    assert.equal(byService['beta']?.decision, 'deploy');
    assert.deepEqual(byService['beta']?.changedFiles, ['app.conf']);
    assert.equal(byService['beta']?.reason, 'changed: app.conf');
    assert.equal(byService['gamma']?.decision, 'problem');
    assert.match(byService['gamma']!.reason, /ENV_FILE_MISSING: \.\.\/\.\.\/secrets\/gamma\.env/);

    // Nothing changed: HEAD, the working tree, the index, the secrets; nothing deployed; no scratch left.
    assert.equal(git(repo.checkout, 'rev-parse', 'HEAD'), before);
    assert.equal(git(repo.checkout, 'status', '--porcelain', '--ignored'), statusBefore);
    assert.equal(readFileSync(path.join(repo.checkout, 'services/beta/app.conf'), 'utf8'), 'v=1\n');
    assert.equal(readFileSync(path.join(repo.checkout, 'secrets/alpha.env'), 'utf8'), 'TOKEN=1\n');
    assert.equal(runtime.calls.length, calls);
    assert.deepEqual(readdirSync(path.join(dataDir, 'plan-preview')), []);

    // The run that follows does what the preview said.
    repo.writeSecret('secrets/gamma.env', 'X=1\n');
    await deployAll();
    assert.deepEqual(runtime.calls.slice(calls).map((c) => c.service).sort(), ['beta', 'gamma']);
  });
});
