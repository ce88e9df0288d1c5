import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { flush } from '../../test/support/deferred.js';
import type { Repository } from '../ports/repository.js';
import { createRemotePoller, type RemotePollerDeps } from './remote-poller.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

/** A repository whose remote and local heads the test sets, counting every call. */
function fakeRepository(remote: string, local: string) {
  const state = { remote, local, remoteCalls: 0, headCalls: 0, failWith: undefined as Error | undefined, signals: [] as AbortSignal[] };
  const repository: Pick<Repository, 'remoteHead' | 'head'> = {
    remoteHead: async (signal) => {
      state.remoteCalls++;
      if (signal) state.signals.push(signal);
      if (state.failWith) throw state.failWith;
      return state.remote;
    },
    head: async () => {
      state.headCalls++;
      return state.local;
    },
  };
  return { repository, state };
}

/** Timers the test fires by hand: a fake clock for the poller's schedule. */
function manualTimers() {
  const pending: Array<{ callback: () => void; ms: number; cancelled: boolean }> = [];
  return {
    pending,
    setTimer: (callback: () => void, ms: number) => {
      const entry = { callback, ms, cancelled: false };
      pending.push(entry);
      return { cancel: () => void (entry.cancelled = true) };
    },
    /** Fires the next live timer and lets its poll finish. */
    async tick() {
      const next = pending.find((t) => !t.cancelled);
      assert.ok(next, 'a timer is pending');
      pending.splice(pending.indexOf(next), 1);
      next.callback();
      await flush();
    },
    live: () => pending.filter((t) => !t.cancelled),
  };
}

function poller(repository: RemotePollerDeps['repository'], extra: Partial<RemotePollerDeps> = {}) {
  const queued: string[] = [];
  let busy = false;
  const lines: Array<Record<string, unknown>> = [];
  const instance = createRemotePoller({
    repository,
    triggers: { deployAllChanged: (origin) => (queued.push(origin), { runId: `r_${queued.length}`, coalesced: false }) },
    deployAllBusy: () => busy,
    intervalMs: 10_000,
    logger: pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }),
    ...extra,
  });
  return { poller: instance, queued, lines, setBusy: (value: boolean) => void (busy = value) };
}

describe('createRemotePoller', () => {
  it('queues nothing while the remote head is the checkout\'s', async () => {
    const { repository, state } = fakeRepository(A, A);
    const { poller: p, queued } = poller(repository);
    for (let i = 0; i < 5; i++) assert.equal(await p.pollOnce(), 'unchanged');
    assert.deepEqual(queued, []);
    assert.equal(state.remoteCalls, 5);
  });

  it('queues one deploy-all with origin poll when the remote moved, and not again for the same head', async () => {
    const { repository, state } = fakeRepository(B, A);
    const { poller: p, queued, lines } = poller(repository);
    assert.equal(await p.pollOnce(), 'queued');
    assert.deepEqual(queued, ['poll']);
    assert.ok(lines.some((l) => l['remoteHead'] === B && l['runId'] === 'r_1'));
    // Not deployed yet (or its deploy failed): the same head is not queued again every interval.
    assert.equal(await p.pollOnce(), 'already-queued');
    assert.equal(state.headCalls, 1, 'the checkout is not even read for a head already queued');
    // Another push is.
    state.remote = C;
    assert.equal(await p.pollOnce(), 'queued');
    assert.deepEqual(queued, ['poll', 'poll']);
    // Deployed: nothing to do.
    state.local = C;
    assert.equal(await p.pollOnce(), 'already-queued');
  });

  it('leaves it to a deploy-all that is running or waiting, and queues once that is over', async () => {
    const { repository } = fakeRepository(B, A);
    const { poller: p, queued, setBusy } = poller(repository);
    setBusy(true);
    assert.equal(await p.pollOnce(), 'busy');
    assert.deepEqual(queued, []);
    // That run may have synced before the push: once it is over, the head is looked at again.
    setBusy(false);
    assert.equal(await p.pollOnce(), 'queued');
    assert.deepEqual(queued, ['poll']);
  });

  it('logs a failure once, not every interval, and says when polling works again', async () => {
    const { repository, state } = fakeRepository(A, A);
    const { poller: p, lines, queued } = poller(repository);
    state.failWith = new Error('remote unreachable');
    assert.equal(await p.pollOnce(), 'failed');
    assert.equal(await p.pollOnce(), 'failed');
    assert.equal(lines.filter((l) => l['level'] === 40).length, 1);
    state.failWith = undefined;
    assert.equal(await p.pollOnce(), 'unchanged');
    assert.ok(lines.some((l) => l['msg'] === 'polling the remote works again'));
    assert.deepEqual(queued, []);
  });

  it('polls on the interval with ±10 % jitter, one poll at a time, and stops (aborting a poll under way)', async () => {
    const { repository, state } = fakeRepository(A, A);
    const timers = manualTimers();
    const randoms = [0, 1, 0.5];
    const { poller: p } = poller(repository, { setTimer: timers.setTimer, random: () => randoms.shift() ?? 0.5 });
    p.start();
    p.start(); // a second start changes nothing
    assert.equal(timers.live().length, 1);
    assert.equal(state.remoteCalls, 0, 'the first poll waits one interval');
    assert.equal(timers.live()[0]!.ms, 9_000);
    await timers.tick();
    assert.equal(state.remoteCalls, 1);
    assert.equal(timers.live()[0]!.ms, 11_000);
    await timers.tick();
    assert.equal(timers.live()[0]!.ms, 10_000);
    assert.equal(state.remoteCalls, 2);
    p.stop();
    assert.equal(timers.live().length, 0);
    assert.equal(state.signals.every((s) => !s.aborted), true, 'finished polls are not aborted');

    // A poll under way when stop comes is aborted and schedules nothing more.
    let release!: () => void;
    const slow: RemotePollerDeps['repository'] = {
      remoteHead: (signal) => new Promise((resolve, reject) => {
        release = () => resolve(A);
        signal?.addEventListener('abort', () => reject(new Error('aborted')));
      }),
      head: async () => A,
    };
    const slowTimers = manualTimers();
    const { poller: q } = poller(slow, { setTimer: slowTimers.setTimer });
    q.start();
    await slowTimers.tick();
    q.stop();
    await flush();
    assert.equal(slowTimers.live().length, 0);
    release();
  });
});
