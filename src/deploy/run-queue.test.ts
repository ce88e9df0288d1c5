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

  it('close() starts no waiting run and keeps recording triggers as queued runs for the next instance', async () => {
    const h = harness();
    h.queue.enqueue({ lane: 'deploy-all', n: 1 });
    h.queue.enqueue({ lane: 'deploy-all', n: 2 });
    h.queue.close();
    // A webhook that lands while the server drains is recorded, never lost.
    assert.deepEqual(h.queue.enqueue({ lane: 'update:web', n: 3 }), { runId: 'run-3', coalesced: false });
    assert.deepEqual(h.queue.enqueue({ lane: 'deploy-all', n: 4 }), { runId: 'run-2', coalesced: true });
    let idle = false;
    const idling = h.queue.idle().then(() => void (idle = true));
    await flush();
    assert.equal(idle, false, 'the executing run goes on');
    h.queue.resume();
    h.finish('run-1');
    await idling;
    assert.equal(h.created.length, 3);
    assert.deepEqual(h.started, ['run-1'], 'waiting runs stay recorded for the next instance');
  });

  it('restored runs keep their ids and wait in order behind each other', async () => {
    const h = harness();
    h.queue.restore('old-1', { lane: 'deploy-all', n: 1 });
    h.queue.restore('old-2', { lane: 'deploy-all', n: 2 });
    assert.equal(h.queue.enqueue({ lane: 'deploy-all', n: 3 }).runId, 'old-2', 'a new trigger joins the last waiting run');
    await flush();
    assert.deepEqual(h.started, ['old-1']);
    h.finish('old-1');
    await flush();
    assert.deepEqual(h.started, ['old-1', 'old-2']);
    h.finish('old-2');
    await h.queue.idle();
    assert.equal(h.created.length, 0);
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

  // The self-update deadlock: two runs in different lanes that each deploy the server's own
  // service both paused the queue and waited in idleExcept for the other, for good.
  it('two runs that each enter the exclusive section both end, one after the other', async () => {
    const order: string[] = [];
    let queue!: RunQueue<Job>;
    const inside = new Map<string, ReturnType<typeof deferred<void>>>();
    const h = harness({
      execute: async (runId) => {
        const leave = await queue.exclusive(runId);
        order.push(`enter ${runId}`);
        const gate = deferred();
        inside.set(runId, gate);
        await gate.promise;
        order.push(`leave ${runId}`);
        leave();
      },
    });
    queue = h.queue;
    const a = queue.enqueue({ lane: 'deploy-all', n: 1 }).runId;
    const b = queue.enqueue({ lane: 'update:self', n: 2 }).runId;
    for (let i = 0; i < 10 && inside.size === 0; i++) await flush();
    assert.deepEqual(order, [`enter ${a}`], 'the second waits parked; the first does not wait for it');
    inside.get(a)!.resolve();
    for (let i = 0; i < 10 && inside.size < 2; i++) await flush();
    assert.deepEqual(order, [`enter ${a}`, `leave ${a}`, `enter ${b}`]);
    inside.get(b)!.resolve();
    await queue.idle();
    assert.deepEqual(h.unexpected, []);
  });

  it('the holder of the exclusive section waits for other runs, but not for parked ones', async () => {
    let queue!: RunQueue<Job>;
    const events: string[] = [];
    const work = deferred();
    const h = harness({
      execute: async (runId, job) => {
        if (job.n === 2) {
          await work.promise; // a deployment of another service
          events.push('other done');
          return;
        }
        const leave = await queue.exclusive(runId);
        events.push(`entered ${job.n}`);
        leave();
      },
    });
    queue = h.queue;
    queue.enqueue({ lane: 'deploy-all', n: 1 });
    queue.enqueue({ lane: 'deploy:web', n: 2 });
    await flush();
    assert.deepEqual(events, [], 'the section waits for the running deployment');
    work.resolve();
    await queue.idle();
    assert.deepEqual(events, ['other done', 'entered 1']);
  });

  it('closing lets runs parked before the exclusive section go with QueueClosedError', async () => {
    let queue!: RunQueue<Job>;
    const outcomes: string[] = [];
    const holder = deferred();
    const h = harness({
      execute: async (runId, job) => {
        try {
          const leave = await queue.exclusive(runId);
          outcomes.push(`entered ${job.n}`);
          if (job.n === 1) await holder.promise;
          leave();
        } catch (error) {
          outcomes.push(`${job.n}: ${(error as Error).name}`);
        }
      },
    });
    queue = h.queue;
    queue.enqueue({ lane: 'deploy-all', n: 1 });
    queue.enqueue({ lane: 'update:self', n: 2 });
    await flush();
    queue.close();
    await flush();
    assert.deepEqual(outcomes, ['entered 1', '2: QueueClosedError']);
    holder.resolve();
    await queue.idle();
  });
});
