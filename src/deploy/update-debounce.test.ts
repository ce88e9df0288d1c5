import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { openSqliteStore } from '../adapters/sqlite-store.js';
import { systemClock } from '../ports/clock.js';
import type { SetTimer } from '../util/poll-loop.js';
import { createDispatcher, type RunExecutor } from './dispatcher.js';
import { RunEventBus } from './run-events.js';
import { createUpdateDebounce } from './update-debounce.js';

/** Timers the test fires by hand. */
function manualTimers() {
  const pending: Array<{ callback: () => void; ms: number; cancelled: boolean }> = [];
  const setTimer: SetTimer = (callback, ms) => {
    const entry = { callback, ms, cancelled: false };
    pending.push(entry);
    return { cancel: () => (entry.cancelled = true) };
  };
  const fireAll = () => pending.splice(0).forEach((t) => !t.cancelled && t.callback());
  return { setTimer, pending, fireAll };
}

describe('createUpdateDebounce', () => {
  let ids = 0;
  const enqueue = () => ({ runId: `r${++ids}`, coalesced: false });

  it('opens a window with the first package webhook; later triggers join its run until it ends', async () => {
    const timers = manualTimers();
    const debounce = createUpdateDebounce({ windowMs: 10_000, setTimer: timers.setTimer });
    const first = debounce.trigger('app', 'webhook', enqueue);
    assert.equal(first.coalesced, false);
    assert.equal(timers.pending[0]?.ms, 10_000);
    const joined = [debounce.trigger('app', 'webhook', enqueue), debounce.trigger('app', 'api', enqueue), debounce.trigger('app', 'poll', enqueue)];
    assert.deepEqual(joined, Array(3).fill({ runId: first.runId, coalesced: true }));
    // Another service has its own window.
    const other = debounce.trigger('db', 'webhook', enqueue);
    assert.notEqual(other.runId, first.runId);

    let settled: { joined: number } | undefined;
    const waiting = debounce.settled(first.runId).then((value) => (settled = value));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, undefined, 'the run waits for its window');
    timers.fireAll();
    await waiting;
    assert.deepEqual(settled, { joined: 4 });
    // Once the window has ended, a delivery is a new update.
    assert.equal(debounce.trigger('app', 'webhook', enqueue).coalesced, false);
  });

  it('ends every window at close and opens none after it', async () => {
    const timers = manualTimers();
    const debounce = createUpdateDebounce({ windowMs: 600_000, setTimer: timers.setTimer });
    const first = debounce.trigger('app', 'webhook', enqueue);
    const waiting = debounce.settled(first.runId);
    debounce.close();
    assert.deepEqual(await waiting, { joined: 1 });
    assert.ok(timers.pending[0]?.cancelled, 'its timer is cancelled');
    const later = debounce.trigger('app', 'webhook', enqueue);
    assert.equal(later.coalesced, false);
    assert.equal(await debounce.settled(later.runId), undefined);
  });

  it('holds nothing for operators, polls, a zero window, or a trigger the lane coalesced', async () => {
    const timers = manualTimers();
    const debounce = createUpdateDebounce({ windowMs: 10_000, setTimer: timers.setTimer });
    const api = debounce.trigger('app', 'api', enqueue);
    const poll = debounce.trigger('app', 'poll', enqueue);
    assert.notEqual(api.runId, poll.runId, 'no window: each goes to the lane');
    debounce.trigger('app', 'webhook', () => ({ runId: 'waiting', coalesced: true }));
    assert.equal(timers.pending.length, 0);
    assert.equal(await debounce.settled(api.runId), undefined);

    const off = createUpdateDebounce({ windowMs: 0, setTimer: timers.setTimer });
    const a = off.trigger('app', 'webhook', enqueue);
    const b = off.trigger('app', 'webhook', enqueue);
    assert.notEqual(a.runId, b.runId);
    assert.equal(timers.pending.length, 0);
  });
});

describe('the dispatcher with an update window', () => {
  it('turns a burst of five package webhooks into one run that starts after the window', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gds-debounce-'));
    const store = openSqliteStore({ file: path.join(dir, 'state.db'), clock: systemClock });
    try {
      const timers = manualTimers();
      const started: string[] = [];
      const executor: RunExecutor = {
        deployAllChanged: async () => 'ended',
        redeployAndUpdate: async (runId) => (started.push(runId), 'ended'),
        deployService: async () => 'ended',
        rollbackService: async () => 'ended',
      };
      const dispatcher = createDispatcher({
        store,
        events: new RunEventBus(store),
        clock: systemClock,
        logger: pino({ level: 'silent' }),
        executor: () => executor,
        updateDebounce: createUpdateDebounce({ windowMs: 10_000, setTimer: timers.setTimer }),
      });
      const answers = Array.from({ length: 5 }, () => dispatcher.triggers.redeployAndUpdate('app', 'webhook'));
      assert.equal(new Set(answers.map((a) => a.runId)).size, 1);
      assert.deepEqual(answers.map((a) => a.coalesced), [false, true, true, true, true]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(started, [], 'nothing runs inside the window');
      assert.equal(store.getRun(answers[0]!.runId)?.status, 'queued');
      timers.fireAll();
      await dispatcher.queue.idle();
      assert.deepEqual(started, [answers[0]!.runId]);
      assert.equal(store.listRuns({ limit: 10 }).items.length, 1);

      // A shutdown during a window: the run is not started, it stays queued for the next instance.
      const during = dispatcher.triggers.redeployAndUpdate('app', 'webhook');
      dispatcher.queue.close();
      timers.fireAll();
      await dispatcher.queue.idle();
      assert.deepEqual(started, [answers[0]!.runId]);
      assert.equal(store.getRun(during.runId)?.status, 'queued');
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
