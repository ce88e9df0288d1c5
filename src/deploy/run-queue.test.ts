import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunQueue, type RunJob } from './run-queue.js';
import { deferred, flush } from '../../test/support/deferred.js';



interface Job extends RunJob {
  n: number;
}

/** A queue whose runs finish when the test says so. */
function harness(options: { execute?: (runId: string, job: Job) => Promise<void> } = {}) {
  const created: Job[] = [];
  const started: string[] = [];
  const finished: string[] = [];
  const gates = new Map<string, ReturnType<typeof deferred<void>>>();
  const unexpected: Array<{ error: unknown; runId: string }> = [];
  const gate = (runId: string) => {
    let g = gates.get(runId);
    if (!g) gates.set(runId, (g = deferred()));
    return g;
  };
  const queue = new RunQueue<Job>({
    createRun: (job) => {
      created.push(job);
      return `run-${created.length}`;
    },
    execute:
      options.execute ??
      (async (runId) => {
        started.push(runId);
        await gate(runId).promise;
        finished.push(runId);
      }),
    onUnexpectedError: (error, runId) => unexpected.push({ error, runId }),
  });
  return { queue, created, started, finished, unexpected, finish: (runId: string) => gate(runId).resolve() };
}

describe('RunQueue', () => {
  it('coalesces a burst of fifty triggers into two runs', async () => {
    const h = harness();
    const results = Array.from({ length: 50 }, (_, n) => h.queue.enqueue({ lane: 'deploy-all', n }));
    assert.equal(h.created.length, 2);
    assert.deepEqual(results[0], { runId: 'run-1', coalesced: false });
    assert.deepEqual(results[1], { runId: 'run-2', coalesced: false });
    const coalesced = results.slice(2);
    assert.equal(coalesced.length, 48);
    assert.ok(coalesced.every((r) => r.runId === 'run-2' && r.coalesced));
    // The waiting run executes the first trigger's job that created it.
    assert.deepEqual(h.created.map((job) => job.n), [0, 1]);
    assert.equal(h.queue.depth(), 2);

    await flush();
    assert.deepEqual(h.started, ['run-1'], 'the second run waits');
    h.finish('run-1');
    await flush();
    assert.deepEqual(h.started, ['run-1', 'run-2']);
    assert.deepEqual(h.finished, ['run-1'], 'the second run started only after the first finished');

    // A trigger now finds run-2 executing and nothing waiting: a third run.
    assert.deepEqual(h.queue.enqueue({ lane: 'deploy-all', n: 99 }), { runId: 'run-3', coalesced: false });
    h.finish('run-2');
    h.finish('run-3');
    await h.queue.idle();
    assert.deepEqual(h.finished, ['run-1', 'run-2', 'run-3']);
    assert.equal(h.queue.depth(), 0);
    assert.equal(h.unexpected.length, 0);
  });

  it('runs different lanes concurrently', async () => {
    const h = harness();
    h.queue.enqueue({ lane: 'deploy-all', n: 1 });
    h.queue.enqueue({ lane: 'update:app', n: 2 });
    h.queue.enqueue({ lane: 'update:db', n: 3 });
    await flush();
    assert.deepEqual(h.started, ['run-1', 'run-2', 'run-3']);
    // Coalescing is per lane.
    assert.equal(h.queue.enqueue({ lane: 'update:app', n: 4 }).coalesced, false);
    assert.equal(h.queue.enqueue({ lane: 'update:app', n: 5 }).coalesced, true);
    assert.equal(h.queue.enqueue({ lane: 'update:db', n: 6 }).coalesced, false);
    for (const id of ['run-1', 'run-2', 'run-3', 'run-4', 'run-5']) h.finish(id);
    await h.queue.idle();
    assert.equal(h.finished.length, 5);
  });

  it('contains an execute that rejects and keeps going', async () => {
    const failure = new Error('executor bug');
    const ran: string[] = [];
    const h = harness({
      execute: async (runId) => {
        ran.push(runId);
        if (runId === 'run-1') throw failure;
      },
    });
    h.queue.enqueue({ lane: 'deploy-all', n: 1 });
    h.queue.enqueue({ lane: 'deploy-all', n: 2 });
    await h.queue.idle();
    assert.deepEqual(ran, ['run-1', 'run-2']);
    assert.deepEqual(h.unexpected, [{ error: failure, runId: 'run-1' }]);
    assert.equal(h.queue.enqueue({ lane: 'deploy-all', n: 3 }).runId, 'run-3');
    await h.queue.idle();
    assert.deepEqual(ran, ['run-1', 'run-2', 'run-3']);
  });

  it('contains an execute that throws synchronously', async () => {
    const failure = new Error('sync bug');
    const ran: string[] = [];
    const h = harness({
      execute: ((runId: string) => {
        ran.push(runId);
        if (runId === 'run-1') throw failure;
        return Promise.resolve();
      }) as (runId: string) => Promise<void>,
    });
    assert.deepEqual(h.queue.enqueue({ lane: 'deploy-all', n: 1 }), { runId: 'run-1', coalesced: false });
    await h.queue.idle();
    assert.deepEqual(h.unexpected, [{ error: failure, runId: 'run-1' }]);
    h.queue.enqueue({ lane: 'deploy-all', n: 2 });
    await h.queue.idle();
    assert.deepEqual(ran, ['run-1', 'run-2']);
  });

  it('idle() resolves only after every run, including waiting ones, finished', async () => {
    const h = harness();
    h.queue.enqueue({ lane: 'deploy-all', n: 1 });
    h.queue.enqueue({ lane: 'deploy-all', n: 2 });
    h.queue.enqueue({ lane: 'update:app', n: 3 });
    let idle = false;
    const idlePromise = h.queue.idle().then(() => void (idle = true));
    await flush();
    h.finish('run-1');
    h.finish('run-3');
    await flush();
    assert.equal(idle, false, 'run-2 is still executing');
    assert.deepEqual(h.started, ['run-1', 'run-3', 'run-2']);
    h.finish('run-2');
    await idlePromise;
    assert.equal(idle, true);
    assert.deepEqual([...h.finished].sort(), ['run-1', 'run-2', 'run-3']);
  });

  it('idle() resolves at once when nothing was queued', async () => {
    await harness().queue.idle();
  });

  it('close() waits for executing runs, starts no waiting one, and refuses new ones', async () => {
    const h = harness();
    h.queue.enqueue({ lane: 'deploy-all', n: 1 });
    h.queue.enqueue({ lane: 'deploy-all', n: 2 });
    let closed = false;
    const closing = h.queue.close().then(() => void (closed = true));
    assert.throws(() => h.queue.enqueue({ lane: 'deploy-all', n: 3 }), /closed/);
    await flush();
    assert.equal(closed, false);
    h.queue.resume();
    h.finish('run-1');
    await closing;
    assert.equal(h.created.length, 2);
    assert.deepEqual(h.started, ['run-1'], 'the waiting run stays recorded for start-up recovery');
  });

  it('pause holds back new and waiting runs (recorded, not started) until resume; idleExcept waits for the others', async () => {
    const { queue, created, started, finish } = harness();
    const self = queue.enqueue({ lane: 'deploy-all', n: 1 }).runId;
    const other = queue.enqueue({ lane: 'update:web', n: 2 }).runId;
    await flush();
    queue.pause();
    let idle = false;
    const waiting = queue.idleExcept(self).then(() => (idle = true));
    const held = queue.enqueue({ lane: 'update:db', n: 3 }).runId;
    const behind = queue.enqueue({ lane: 'update:web', n: 4 }).runId;
    await flush();
    assert.equal(created.length, 4, 'triggers during the pause are recorded');
    assert.deepEqual(started, [self, other]);
    assert.equal(idle, false);
    finish(other);
    await waiting;
    assert.equal(idle, true, 'only the self-update run is left');
    await flush();
    assert.deepEqual(started, [self, other], 'the run behind the finished one waits too');
    queue.resume();
    await flush();
    assert.deepEqual(started.slice(2).sort(), [behind, held].sort());
    finish(self);
    finish(held);
    finish(behind);
    await queue.idle();
  });
});
