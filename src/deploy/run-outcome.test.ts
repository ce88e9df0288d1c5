import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { openSqliteStore } from '../adapters/sqlite-store.js';
import { systemClock } from '../ports/clock.js';
import { runOutcome } from './run-outcome.js';

describe('runOutcome', () => {
  it('marks a failure that repeats the previous deployment (same inputs, same code) as repeated, and no other', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gds-outcome-'));
    const store = openSqliteStore({ file: path.join(dir, 'state.db'), clock: systemClock });
    try {
      const fail = (errorCode: string, fingerprint: string) => {
        const run = store.createRun({ trigger: 'deploy-service', service: 'app', origin: 'retry' });
        const d = store.createDeployment({ runId: run.id, service: 'app', action: 'deploy', status: 'queued', reason: 'r', commit: null });
        store.updateDeployment(d.id, { status: 'failed', errorCode, error: 'x', fingerprint, finishedAt: new Date().toISOString() });
        store.updateRun(run.id, { status: 'failed', finishedAt: new Date().toISOString() });
        return runOutcome(store, run.id, { serverName: 's', publicUrl: undefined })!.deployments[0]!;
      };
      assert.equal(fail('ENGINE_UNAVAILABLE', 'f1').repeated, undefined, 'the first failure is news');
      assert.equal(fail('ENGINE_UNAVAILABLE', 'f1').repeated, true);
      assert.equal(fail('PROCESS_TIMEOUT', 'f1').repeated, undefined, 'another code is news');
      assert.equal(fail('PROCESS_TIMEOUT', 'f2').repeated, undefined, 'other inputs are news');
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
