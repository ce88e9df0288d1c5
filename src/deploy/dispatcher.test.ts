import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { openSqliteStore } from '../adapters/sqlite-store.js';
import { systemClock } from '../ports/clock.js';
import type { Store } from '../ports/store.js';
import { createDispatcher, type RunExecutor } from './dispatcher.js';
import type { RunResult } from './pipeline.js';
import { RunEventBus } from './run-events.js';

describe('dispatcher', () => {
  let dir: string;
  let store: Store;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gds-dispatcher-'));
    store = openSqliteStore({ file: path.join(dir, 'state.db'), clock: systemClock });
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const make = (executor: Partial<RunExecutor>) => {
    const done: RunExecutor = {
      deployAllChanged: async () => 'ended',
      redeployAndUpdate: async () => 'ended',
      deployService: async () => 'ended',
      rollbackService: async () => 'ended',
      ...executor,
    };
    return createDispatcher({ store, events: new RunEventBus(store), clock: systemClock, logger: pino({ level: 'silent' }), executor: () => done });
  };

  it('passes force to the pipeline, in a lane of its own (a forced redeploy never joins a plain one), and a retry with origin retry', async () => {
    const seen: Array<{ service: string; force: boolean }> = [];
    const dispatcher = make({
      deployService: async (runId, service, options): Promise<RunResult> => {
        seen.push({ service, force: options?.force === true });
        store.updateRun(runId, { status: 'succeeded' });
        return 'ended';
      },
    });
    dispatcher.queue.pause();
    const plain = dispatcher.triggers.deployService('app', 'api');
    const forced = dispatcher.triggers.deployService('app', 'api', { force: true });
    const again = dispatcher.triggers.deployService('app', 'api', { force: true });
    const retry = dispatcher.triggers.deployService('other', 'retry');
    assert.notEqual(forced.runId, plain.runId);
    assert.equal(again.runId, forced.runId);
    assert.equal(again.coalesced, true);
    dispatcher.queue.resume();
    await dispatcher.queue.idle();
    assert.deepEqual(seen.sort((a, b) => a.service.localeCompare(b.service) || Number(a.force) - Number(b.force)), [
      { service: 'app', force: false },
      { service: 'app', force: true },
      { service: 'other', force: false },
    ]);
    assert.equal(store.getRun(retry.runId)?.origin, 'retry');
  });

  it('queues a run the shutdown interrupted again, for the next instance, with origin restart', async () => {
    let calls = 0;
    const dispatcher = make({
      deployAllChanged: async (runId): Promise<RunResult> => {
        calls++;
        dispatcher.queue.close(); // the shutdown began while it ran
        store.updateRun(runId, { status: 'failed', errorCode: 'DEPLOYMENT_INTERRUPTED' });
        return 'interrupted';
      },
    });
    const { runId } = dispatcher.triggers.deployAllChanged('webhook');
    await dispatcher.queue.idle();
    assert.equal(calls, 1);
    const runs = store.listRuns({ limit: 10 }).items;
    const retry = runs.find((r) => r.id !== runId)!;
    assert.equal(retry.status, 'queued');
    assert.equal(retry.origin, 'restart');
    assert.equal(retry.trigger, 'deploy-all-changed');
  });

  it('runs a rollback with its target kept on the run; an interrupted one is retried with the same target', async () => {
    const seen: Array<{ service: string; target: string | null | undefined }> = [];
    let first = true;
    const dispatcher = make({
      rollbackService: async (runId, service) => {
        seen.push({ service, target: store.getRun(runId)?.target });
        if (!first) return 'ended';
        first = false;
        store.updateRun(runId, { status: 'failed', errorCode: 'DEPLOYMENT_INTERRUPTED' });
        return 'interrupted';
      },
    });
    dispatcher.rollbackService('app', 'd_target', 'api');
    await dispatcher.queue.idle();
    await dispatcher.queue.idle();
    assert.deepEqual(seen, [{ service: 'app', target: 'd_target' }, { service: 'app', target: 'd_target' }]);
    const runs = store.listRuns({ limit: 10 }).items;
    assert.deepEqual(runs.map((r) => [r.trigger, r.origin]).sort(), [['rollback-service', 'api'], ['rollback-service', 'restart']]);
  });

  it('carries out accepted runs under their own ids and retries an interrupted run only where no run waits in its lane', async () => {
    const seen: string[] = [];
    const dispatcher = make({
      deployAllChanged: async (runId) => (seen.push(`all ${runId}`), 'ended'),
      redeployAndUpdate: async (runId, service) => (seen.push(`update ${service} ${runId}`), 'ended'),
    });
    const accepted = store.createRun({ trigger: 'deploy-all-changed', service: null });
    dispatcher.recover({
      deployments: 1,
      queued: [accepted],
      runs: [
        { trigger: 'deploy-all-changed', service: null },
        { trigger: 'redeploy-and-update', service: 'web' },
      ],
    });
    await dispatcher.queue.idle();
    assert.equal(seen[0], `all ${accepted.id}`, 'the accepted run keeps its id');
    assert.equal(seen.filter((s) => s.startsWith('all')).length, 1, 'the deploy-all retry is the waiting run itself');
    assert.equal(seen.filter((s) => s.startsWith('update web')).length, 1);
  });

  it('records the end of a run the store had refused at the start of the next run', async () => {
    let first = true;
    const dispatcher = make({
      deployService: async (runId) => {
        if (first) {
          // The store refused every write: the run and its deployment stay open.
          first = false;
          store.updateRun(runId, { status: 'running' });
          store.createDeployment({ runId, service: 'app', action: 'deploy', status: 'running', reason: 'r', commit: null });
          return 'ended';
        }
        store.updateRun(runId, { status: 'succeeded' });
        return 'ended';
      },
    });
    const lost = dispatcher.triggers.deployService('app', 'api').runId;
    await dispatcher.queue.idle();
    assert.equal(store.getRun(lost)?.status, 'running');
    dispatcher.triggers.deployService('app', 'api');
    await dispatcher.queue.idle();
    assert.equal(store.getRun(lost)?.status, 'failed');
    assert.equal(store.getRun(lost)?.errorCode, 'STORE_FAILED');
    assert.equal(store.listDeployments(lost)[0]?.status, 'failed');
  });
});
