import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { isAppError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { NewDeployment, Store } from '../ports/store.js';
import { openSqliteStore } from './sqlite-store.js';

/** A clock that advances one second after each reading, or jumps where the test sets it. */
function steppingClock(start = '2024-05-01T10:00:00.000Z'): Clock & { set(iso: string): void } {
  let ms = Date.parse(start);
  return {
    now: () => new Date((ms += 1000) - 1000),
    set: (iso) => void (ms = Date.parse(iso)),
  };
}

describe('openSqliteStore', () => {
  let dir: string;
  let file: string;
  const open: Store[] = [];
  const openStore = (options: { clock?: Clock; maxOutputBytes?: number } = {}): Store => {
    const store = openSqliteStore({ file, clock: options.clock ?? steppingClock(), maxOutputBytes: options.maxOutputBytes });
    open.push(store);
    return store;
  };
  const deployment = (runId: string, service: string, extra: Partial<NewDeployment> = {}): NewDeployment => ({
    runId, service, action: 'deploy', status: 'queued', reason: 'files changed', commit: 'abc123', ...extra,
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sqlite-store-test-'));
    // A nested path proves the parent directory is created.
    file = join(dir, 'nested', 'state', 'deploy.db');
  });
  afterEach(() => {
    for (const store of open.splice(0)) store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates, updates and reads runs', () => {
    const store = openStore({ clock: steppingClock('2024-05-01T10:00:00.000Z') });
    const run = store.createRun({ trigger: 'redeploy-and-update', service: 'web' });
    assert.match(run.id, /^r_[0-9a-z]{9}[0-9a-f]{12}$/);
    assert.deepEqual(run, {
      id: run.id, trigger: 'redeploy-and-update', service: 'web', origin: 'webhook', status: 'queued', commit: null,
      errorCode: null, error: null, createdAt: '2024-05-01T10:00:00.000Z', startedAt: null, finishedAt: null, target: null,
    });

    store.updateRun(run.id, { status: 'running', startedAt: '2024-05-01T10:00:05.000Z', commit: 'def456' });
    store.updateRun(run.id, { status: 'failed', errorCode: 'SYNC_FAILED', error: 'remote unreachable' });
    // An explicit null clears a column; absent fields are left alone.
    store.updateRun(run.id, { commit: null });
    assert.deepEqual(store.getRun(run.id), {
      ...run, status: 'failed', commit: null, errorCode: 'SYNC_FAILED', error: 'remote unreachable',
      startedAt: '2024-05-01T10:00:05.000Z',
    });
    assert.equal(store.getRun('r_missing'), undefined);
    assert.throws(() => store.updateRun('r_missing', { status: 'failed' }), (error) => isAppError(error) && error.code === 'RUN_NOT_FOUND');
  });

  it('ids sort by creation time', () => {
    const store = openStore();
    const ids = Array.from({ length: 5 }, () => store.createRun({ trigger: 'deploy-all-changed', service: null }).id);
    assert.deepEqual([...ids].sort(), ids);
  });

  it('stores deployments with their image maps as JSON', () => {
    const store = openStore();
    const run = store.createRun({ trigger: 'deploy-all-changed', service: null });
    const first = store.createDeployment(deployment(run.id, 'web'));
    const second = store.createDeployment(deployment(run.id, 'db', { action: 'skip', status: 'skipped', reason: 'unchanged', commit: null }));
    assert.match(first.id, /^d_/);
    assert.equal(first.output, '');
    assert.equal(first.imagesBefore, null);

    store.updateDeployment(first.id, {
      status: 'succeeded', output: 'pulled\nstarted\n', imagesBefore: { app: 'sha256:old' },
      imagesAfter: { app: 'sha256:new', 'sidecar-1': 'sha256:side' }, finishedAt: '2024-05-01T10:01:00.000Z',
    });
    const [web, db] = store.listDeployments(run.id);
    assert.deepEqual(web, {
      ...first, status: 'succeeded', output: 'pulled\nstarted\n', imagesBefore: { app: 'sha256:old' },
      imagesAfter: { app: 'sha256:new', 'sidecar-1': 'sha256:side' }, finishedAt: '2024-05-01T10:01:00.000Z',
    });
    assert.deepEqual(db, second);
    assert.deepEqual(store.listDeployments('r_other'), []);
  });

  it('rejects a deployment for an unknown run (foreign keys are on)', () => {
    const store = openStore();
    assert.throws(() => store.createDeployment(deployment('r_nope', 'web')), /FOREIGN KEY/);
  });

  it('bounds output to the tail, with a marker saying how much was cut', () => {
    const store = openStore({ maxOutputBytes: 100 });
    const run = store.createRun({ trigger: 'deploy-all-changed', service: null });
    const d = store.createDeployment(deployment(run.id, 'web'));

    const lines = Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join('');
    store.updateDeployment(d.id, { output: lines });
    const stored = store.listDeployments(run.id)[0]!.output;
    assert.ok(Buffer.byteLength(stored) <= 100, `stored ${Buffer.byteLength(stored)} bytes`);
    const match = /^\[\.\.\. (\d+) earlier bytes omitted \.\.\.\]\n/.exec(stored);
    assert.ok(match, stored);
    const tail = stored.slice(match[0].length);
    assert.ok(lines.endsWith(tail));
    assert.ok(tail.endsWith('line 49\n'));
    assert.equal(Number(match[1]) + Buffer.byteLength(tail), Buffer.byteLength(lines));

    // Multi-byte characters are never split.
    store.updateDeployment(d.id, { output: 'é'.repeat(200) });
    const accented = store.listDeployments(run.id)[0]!.output;
    assert.ok(Buffer.byteLength(accented) <= 100);
    assert.match(accented.split('\n')[1]!, /^é+$/);

    // Short output is stored as is.
    store.updateDeployment(d.id, { output: 'ok\n' });
    assert.equal(store.listDeployments(run.id)[0]!.output, 'ok\n');
  });

  it('lastDeployments returns the newest deployment of each service, skips included', () => {
    const clock = steppingClock();
    const store = openStore({ clock });
    const run1 = store.createRun({ trigger: 'deploy-all-changed', service: null });
    store.createDeployment(deployment(run1.id, 'web'));
    store.createDeployment(deployment(run1.id, 'db'));
    const run2 = store.createRun({ trigger: 'deploy-all-changed', service: null });
    const webNew = store.createDeployment(deployment(run2.id, 'web', { status: 'running' }));
    const dbSkip = store.createDeployment(deployment(run2.id, 'db', { action: 'skip', status: 'skipped' }));
    const cache = store.createDeployment(deployment(run2.id, 'cache'));
    // Same timestamp twice: the later insert wins.
    clock.set('2030-01-01T00:00:00.000Z');
    store.createDeployment(deployment(run2.id, 'queue', { reason: 'first' }));
    clock.set('2030-01-01T00:00:00.000Z');
    const queueSecond = store.createDeployment(deployment(run2.id, 'queue', { reason: 'second' }));

    const last = store.lastDeployments();
    assert.deepEqual([...last.keys()].sort(), ['cache', 'db', 'queue', 'web']);
    assert.deepEqual(last.get('web'), webNew);
    assert.deepEqual(last.get('db'), dbSkip);
    assert.deepEqual(last.get('cache'), cache);
    assert.deepEqual(last.get('queue'), queueSecond);
  });

  it('lastDeployments is empty on a fresh store and handles many services', () => {
    const store = openStore();
    assert.equal(store.lastDeployments().size, 0);
    for (let round = 0; round < 3; round++) {
      const run = store.createRun({ trigger: 'deploy-all-changed', service: null });
      for (let i = 0; i < 1200; i++) store.createDeployment(deployment(run.id, `svc-${i}`, { reason: `round ${round}` }));
    }
    const last = store.lastDeployments();
    assert.equal(last.size, 1200);
    assert.ok([...last.values()].every((d) => d.reason === 'round 2'));
  });

  it('saves, replaces and lists deployed state', () => {
    const store = openStore();
    assert.equal(store.getDeployedState('web'), undefined);
    const web = {
      service: 'web', fingerprint: 'fp1', files: { 'compose.yml': 'aaa', '../../secrets/web.env': 'missing' },
      commit: 'c1', deployedAt: '2024-05-01T10:00:00.000Z', images: { app: 'sha256:1' },
    };
    store.saveDeployedState(web);
    store.saveDeployedState({ service: 'api', fingerprint: 'fpA', files: {}, commit: null, deployedAt: '2024-05-01T09:00:00.000Z', images: {} });
    assert.deepEqual(store.getDeployedState('web'), web);

    const replaced = { ...web, fingerprint: 'fp2', files: { 'compose.yml': 'bbb' }, commit: 'c2', images: { app: 'sha256:2' } };
    store.saveDeployedState(replaced);
    assert.deepEqual(store.getDeployedState('web'), replaced);
    assert.deepEqual(store.listDeployedStates().map((s) => [s.service, s.fingerprint]), [['api', 'fpA'], ['web', 'fp2']]);
  });

  it('recovers deployments interrupted by a crash, after reopening the file', () => {
    const before = openStore();
    const state = { service: 'web', fingerprint: 'fp-old', files: { 'compose.yml': 'old' }, commit: 'c0', deployedAt: '2024-04-01T00:00:00.000Z', images: { app: 'sha256:old' } };
    before.saveDeployedState(state);
    const run = before.createRun({ trigger: 'deploy-all-changed', service: null });
    before.updateRun(run.id, { status: 'running', startedAt: '2024-05-01T10:00:01.000Z' });
    const running = before.createDeployment(deployment(run.id, 'web', { status: 'running' }));
    const queued = before.createDeployment(deployment(run.id, 'api'));
    const skipped = before.createDeployment(deployment(run.id, 'db', { action: 'skip', status: 'skipped' }));
    const doneRun = before.createRun({ trigger: 'deploy-all-changed', service: null });
    before.updateRun(doneRun.id, { status: 'succeeded' });
    before.close(); // the process dies here

    const after = openStore();
    const now = '2024-05-01T11:00:00.000Z';
    assert.deepEqual(after.recoverInterrupted(now), { deployments: 2, runs: [{ trigger: 'deploy-all-changed', service: null }], queued: [] });

    const byId = new Map(after.listDeployments(run.id).map((d) => [d.id, d]));
    for (const id of [running.id, queued.id]) {
      const d = byId.get(id)!;
      assert.equal(d.status, 'interrupted');
      assert.equal(d.errorCode, 'DEPLOYMENT_INTERRUPTED');
      assert.ok(d.error && d.error.length > 0);
      assert.equal(d.finishedAt, now);
    }
    assert.deepEqual(byId.get(skipped.id), skipped);
    const failed = after.getRun(run.id)!;
    assert.equal(failed.status, 'failed');
    assert.equal(failed.errorCode, 'DEPLOYMENT_INTERRUPTED');
    assert.equal(failed.finishedAt, now);
    assert.equal(after.getRun(doneRun.id)!.status, 'succeeded');
    // The interrupted deployment never wrote deployed state, so the old one must still be there.
    assert.deepEqual(after.listDeployedStates(), [state]);

    assert.deepEqual(after.recoverInterrupted('2024-05-01T12:00:00.000Z'), { deployments: 0, runs: [], queued: [] });
  });

  it('returns runs left running before they recorded any deployment to retry, and keeps accepted runs queued under their ids', () => {
    const before = openStore();
    const run = before.createRun({ trigger: 'deploy-all-changed', service: null });
    before.updateRun(run.id, { status: 'running', startedAt: '2024-05-01T10:00:01.000Z' });
    const accepted = before.createRun({ trigger: 'redeploy-and-update', service: 'web' }); // accepted, still queued
    before.close(); // the process dies during sync

    const after = openStore();
    assert.deepEqual(after.recoverInterrupted('2024-05-01T11:00:00.000Z'), {
      deployments: 0,
      runs: [{ trigger: 'deploy-all-changed', service: null }],
      queued: [accepted],
    });
    assert.equal(after.getRun(accepted.id)!.status, 'queued', 'one run, carried out by the next instance');
    assert.equal(after.getRun(run.id)!.status, 'failed');
    assert.equal(after.getRun(run.id)!.errorCode, 'DEPLOYMENT_INTERRUPTED');
  });

  it('leaves a handed-off self-update and its run to the helper, unless the handoff is stale', () => {
    const store = openStore();
    const run = store.createRun({ trigger: 'deploy-all-changed', service: null });
    store.updateRun(run.id, { status: 'running' });
    const self = store.createDeployment({ runId: run.id, service: 'gitops-deploy-server', action: 'deploy', status: 'queued', reason: 'changed', commit: 'c' });
    store.updateDeployment(self.id, { status: 'handed-off', startedAt: '2024-05-01T10:00:00.000Z', handoff: { kind: 'deploy', rollbackCommit: 'b', helper: 'h', runtime: 'podman', fingerprint: 'f' } });
    const queued = store.createRun({ trigger: 'redeploy-and-update', service: 'web' });

    const recovered = store.recoverInterrupted('2024-05-01T10:01:00.000Z', '2024-05-01T09:50:00.000Z');
    assert.deepEqual(recovered, { deployments: 0, runs: [], queued: [queued] });
    assert.equal(store.getDeployment(self.id)?.status, 'handed-off');
    assert.deepEqual(store.getDeployment(self.id)?.handoff, { kind: 'deploy', rollbackCommit: 'b', helper: 'h', runtime: 'podman', fingerprint: 'f' });
    assert.equal(store.getRun(run.id)?.status, 'running');
    assert.equal(store.getRun(queued.id)?.status, 'queued');

    const stale = store.recoverInterrupted('2024-05-01T11:00:00.000Z', '2024-05-01T10:30:00.000Z');
    assert.deepEqual(stale, { deployments: 1, runs: [{ trigger: 'deploy-all-changed', service: null }], queued: [queued] });
    assert.equal(store.getDeployment(self.id)?.status, 'interrupted');
    assert.equal(store.getRun(run.id)?.status, 'failed');
  });

  it('records a success in one transaction: the deployment and the deployed state together or neither', () => {
    const store = openStore();
    const run = store.createRun({ trigger: 'deploy-all-changed', service: null });
    const d = store.createDeployment(deployment(run.id, 'web', { status: 'running' }));
    const state = { service: 'web', fingerprint: 'fp1', files: {}, commit: 'c1', deployedAt: '2024-05-01T10:00:00.000Z', images: {} };
    store.recordSuccess(d.id, { status: 'succeeded', finishedAt: '2024-05-01T10:00:00.000Z' }, state);
    assert.equal(store.getDeployment(d.id)?.status, 'succeeded');
    assert.deepEqual(store.getDeployedState('web'), state);
    // A write that fails halfway (here: the deployment row is gone) leaves the deployed state as it was.
    assert.throws(() => store.recordSuccess('d_missing', { status: 'succeeded' }, { ...state, fingerprint: 'fp2' }));
    assert.equal(store.getDeployedState('web')?.fingerprint, 'fp1');
  });

  it('keeps the drift baseline of each service across a reopen, one per service', () => {
    const first = openStore();
    assert.equal(first.getDriftBaseline('web'), undefined);
    first.saveDriftBaseline('web', 't1', { web: 'h1' });
    first.saveDriftBaseline('web', 't2', { web: 'h2', db: 'h3' });
    first.close();
    const second = openStore();
    assert.deepEqual(second.getDriftBaseline('web'), { deployedAt: 't2', configHashes: { web: 'h2', db: 'h3' } });
  });

  it('keeps the inputs of each success for a later rollback, and pins a rollback until a success of git ends it', () => {
    const store = openStore();
    const run = store.createRun({ trigger: 'rollback-service', service: 'web', target: 'd_earlier' });
    assert.equal(store.getRun(run.id)?.target, 'd_earlier');
    const first = store.createDeployment(deployment(run.id, 'web', { status: 'running' }));
    const state = { service: 'web', fingerprint: 'fp1', files: { 'compose.yaml': 'aa' }, commit: 'c1', deployedAt: '2024-05-01T10:00:00.000Z', images: { web: 'i1' } };
    store.recordSuccess(first.id, { status: 'succeeded' }, state);
    assert.deepEqual([store.getDeployment(first.id)?.fingerprint, store.getDeployment(first.id)?.files], ['fp1', { 'compose.yaml': 'aa' }]);
    const pin = { service: 'web', commit: 'c0', gitFingerprint: 'fp-git', reason: 'manual' as const, deploymentId: first.id, pinnedAt: '2024-05-01T10:00:01.000Z' };
    const second = store.createDeployment(deployment(run.id, 'web', { status: 'running' }));
    store.recordSuccess(second.id, { status: 'succeeded' }, { ...state, fingerprint: 'fp0', commit: 'c0' }, pin);
    assert.deepEqual(store.getPin('web'), pin);
    assert.deepEqual(store.listPins(), [pin]);
    const third = store.createDeployment(deployment(run.id, 'web', { status: 'running' }));
    store.recordSuccess(third.id, { status: 'succeeded' }, state);
    assert.equal(store.getPin('web'), undefined, 'a deployment of what git says ends the pin');
    store.recordSuccess(third.id, { status: 'succeeded' }, state, pin);
    assert.equal(store.deletePin('web'), true);
    assert.equal(store.deletePin('web'), false);
  });

  it('reports a failing database as STORE_FAILED, a catalogued error', () => {
    const store = openStore();
    const run = store.createRun({ trigger: 'deploy-all-changed', service: null });
    const db = new Database(file);
    // Makes every insert of events fail as SQLite fails on a full disk: with an SqliteError.
    db.exec(`CREATE TRIGGER no_room BEFORE INSERT ON run_events BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;`);
    db.close();
    assert.throws(() => store.appendRunEvent(run.id, 'output', { line: 'x' }), (error: unknown) => (error as { code?: string }).code === 'STORE_FAILED');
  });

  it('migrates once: reopening keeps the schema version and the data', () => {
    const first = openStore();
    const run = first.createRun({ trigger: 'deploy-all-changed', service: null });
    first.close();
    const version = (): unknown => {
      const db = new Database(file, { readonly: true });
      try {
        return { version: db.pragma('user_version', { simple: true }), journal: db.pragma('journal_mode', { simple: true }) };
      } finally {
        db.close();
      }
    };
    const afterFirst = version();
    assert.deepEqual(afterFirst, { version: 7, journal: 'wal' });

    const second = openStore();
    second.close();
    const third = openStore();
    assert.deepEqual(version(), afterFirst);
    assert.equal(third.getRun(run.id)?.id, run.id);
  });

  it('keeps the compose file of a deployed state, and a prune deletes the state and pin with its tombstone in one go', () => {
    const store = openStore();
    const compose = { runtime: 'docker' as const, projectName: 'web', composeFile: 'docker-compose.yml', text: 'services:\n  web: {}\n' };
    const state = { service: 'web', fingerprint: 'f1', files: {}, commit: 'c1', deployedAt: '2024-05-01T10:00:00.000Z', images: {} };
    store.saveDeployedState({ ...state, compose });
    assert.deepEqual(store.getDeployedState('web')?.compose, compose);
    // A state written without one (the self-update helper's) keeps the stored compose file.
    store.saveDeployedState({ ...state, fingerprint: 'f2' });
    assert.deepEqual(store.getDeployedState('web'), { ...state, fingerprint: 'f2', compose });
    // States without any compose file read as before migration 6 (no key at all).
    store.saveDeployedState({ ...state, service: 'old' });
    assert.deepEqual(store.getDeployedState('old'), { ...state, service: 'old' });

    const run = store.createRun({ trigger: 'deploy-all-changed', service: null });
    const tombstone = store.createDeployment(deployment(run.id, 'web', { action: 'prune', status: 'running' }));
    store.recordPrune(tombstone.id, { status: 'succeeded', output: 'down', finishedAt: '2024-05-01T10:01:00.000Z' }, 'web');
    assert.equal(store.getDeployedState('web'), undefined);
    assert.equal(store.getPin('web'), undefined);
    assert.deepEqual([store.getDeployment(tombstone.id)?.action, store.getDeployment(tombstone.id)?.status], ['prune', 'succeeded']);
    assert.equal(store.listServiceDeployments('web', { limit: 5 }).items[0]?.id, tombstone.id);
  });

  it('opens a database a newer version migrated when it keeps older readers working, and refuses one that does not', () => {
    const first = openStore();
    const run = first.createRun({ trigger: 'deploy-all-changed', service: null });
    first.close();
    // A newer version added a table (additive): this version still reads and writes its runs.
    let db = new Database(file);
    db.exec('CREATE TABLE from_the_future (x INTEGER)');
    db.pragma('user_version = 99');
    db.close();
    const older = openStore();
    assert.equal(older.getRun(run.id)?.id, run.id);
    older.updateRun(run.id, { status: 'succeeded' });
    older.close();
    // A newer version that broke older readers says so.
    db = new Database(file);
    db.exec('UPDATE schema_compat SET min_reader_version = 50');
    db.close();
    assert.throws(() => openStore(), /newer than this server knows .* not readable by it/);
  });
});
