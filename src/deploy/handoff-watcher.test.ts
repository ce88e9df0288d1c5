import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { openSqliteStore } from '../adapters/sqlite-store.js';
import type { RunEventRecord, Store } from '../ports/store.js';
import { createHandoffWatcher } from './handoff-watcher.js';
import { RunEventBus } from './run-events.js';

describe('handoff watcher', () => {
  let dir: string;
  let store: Store;
  let now = new Date('2024-05-01T10:00:00.000Z');
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gds-handoff-'));
    store = openSqliteStore({ file: path.join(dir, 'state.db'), clock: { now: () => now } });
  });
  after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const handOff = () => {
    const run = store.createRun({ trigger: 'deploy-all-changed', service: null });
    store.updateRun(run.id, { status: 'running' });
    const d = store.createDeployment({ runId: run.id, service: 'server', action: 'deploy', status: 'queued', reason: 'changed', commit: 'c' });
    store.updateDeployment(d.id, { status: 'handed-off', startedAt: now.toISOString(), handoff: { kind: 'deploy', rollbackCommit: null, helper: `h-${d.id}`, runtime: 'podman', fingerprint: 'f' } });
    return { runId: run.id, deploymentId: d.id };
  };

  it('passes on the end a helper recorded, once', async () => {
    const ended: string[] = [];
    const watcher = createHandoffWatcher({
      store, events: new RunEventBus(store), selfUpdater: { helperExists: async () => true },
      clock: { now: () => now }, logger: pino({ level: 'silent' }), onForeignRunEnd: (id) => ended.push(id),
    });
    const { runId, deploymentId } = handOff();
    await watcher.check();
    assert.deepEqual(ended, []);
    // The helper, in its own process: the deployment ends, then the run.
    store.updateDeployment(deploymentId, { status: 'succeeded' });
    store.updateRun(runId, { status: 'succeeded' });
    await watcher.check();
    await watcher.check();
    assert.deepEqual(ended, [runId]);
  });

  it('ends a handoff whose helper is gone without a result, after a grace period and a second look', async () => {
    const events = new RunEventBus(store);
    const seen: RunEventRecord[] = [];
    events.observe((e) => seen.push(e));
    let exists = false;
    const watcher = createHandoffWatcher({
      store, events, selfUpdater: { helperExists: async () => exists },
      clock: { now: () => now }, logger: pino({ level: 'silent' }), onForeignRunEnd: () => assert.fail('not a foreign end'), graceMs: 30_000,
    });
    const { runId, deploymentId } = handOff();
    await watcher.check();
    await watcher.check();
    assert.equal(store.getDeployment(deploymentId)?.status, 'handed-off', 'a fresh helper gets time to appear');
    now = new Date(now.getTime() + 60_000);
    exists = true;
    await watcher.check();
    exists = false;
    await watcher.check();
    assert.equal(store.getDeployment(deploymentId)?.status, 'handed-off', 'one miss is not enough');
    await watcher.check();
    assert.equal(store.getDeployment(deploymentId)?.status, 'failed');
    assert.equal(store.getDeployment(deploymentId)?.errorCode, 'SELF_UPDATE_LOST');
    assert.equal(store.getRun(runId)?.status, 'failed');
    assert.deepEqual(seen.map((e) => e.type), ['deployment', 'run', 'end']);
  });
});
