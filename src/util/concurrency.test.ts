import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedMutex, ReadWriteLock, Semaphore } from './concurrency.js';
import { deferred, flush } from '../../test/support/deferred.js';



describe('Semaphore', () => {
  it('never runs more than its limit at once and runs every job', async () => {
    const semaphore = new Semaphore(3);
    let active = 0;
    let peak = 0;
    const started: number[] = [];
    const gates = Array.from({ length: 10 }, () => deferred());
    const results = gates.map((gate, i) =>
      semaphore.run(async () => {
        active++;
        peak = Math.max(peak, active);
        started.push(i);
        await gate.promise;
        active--;
        return i;
      }),
    );
    await flush();
    assert.deepEqual(started, [0, 1, 2]);
    gates[1]!.resolve();
    await flush();
    assert.deepEqual(started, [0, 1, 2, 3]);
    assert.equal(active, 3);
    // Finish the rest in reverse order.
    for (let i = gates.length - 1; i >= 0; i--) {
      gates[i]!.resolve();
      await flush();
      assert.ok(active <= 3);
    }
    assert.deepEqual(await Promise.all(results), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(peak, 3);
    assert.equal(started.length, 10);
  });

  it('frees the slot when a job throws', async () => {
    const semaphore = new Semaphore(1);
    await assert.rejects(semaphore.run(async () => { throw new Error('boom'); }), /boom/);
    assert.equal(await semaphore.run(async () => 'next'), 'next');
    // And the slot count is back to one: two jobs do not overlap.
    let active = 0;
    let peak = 0;
    const gate = deferred();
    const a = semaphore.run(async () => { active++; peak = Math.max(peak, active); await gate.promise; active--; });
    const b = semaphore.run(async () => { active++; peak = Math.max(peak, active); active--; });
    await flush();
    gate.resolve();
    await Promise.all([a, b]);
    assert.equal(peak, 1);
  });
});

describe('KeyedMutex', () => {
  it('serialises jobs of one key in arrival order', async () => {
    const mutex = new KeyedMutex();
    const events: string[] = [];
    const first = deferred();
    const second = deferred();
    const a = mutex.run('app', async () => { events.push('a start'); await first.promise; events.push('a end'); });
    const b = mutex.run('app', async () => { events.push('b start'); await second.promise; events.push('b end'); });
    const c = mutex.run('app', async () => { events.push('c start'); });
    await flush();
    assert.deepEqual(events, ['a start']);
    first.resolve();
    await flush();
    assert.deepEqual(events, ['a start', 'a end', 'b start']);
    second.resolve();
    await Promise.all([a, b, c]);
    assert.deepEqual(events, ['a start', 'a end', 'b start', 'b end', 'c start']);
  });

  it('lets different keys run at the same time', async () => {
    const mutex = new KeyedMutex();
    const gate = deferred();
    const started: string[] = [];
    const jobs = ['app', 'db', 'web'].map((key) => mutex.run(key, async () => { started.push(key); await gate.promise; }));
    await flush();
    assert.deepEqual(started, ['app', 'db', 'web']);
    gate.resolve();
    await Promise.all(jobs);
  });

  it('releases the key when a job throws', async () => {
    const mutex = new KeyedMutex();
    const failing = mutex.run('app', async () => { throw new Error('boom'); });
    const next = mutex.run('app', async () => 'ran');
    await assert.rejects(failing, /boom/);
    assert.equal(await next, 'ran');
  });
});

describe('ReadWriteLock', () => {
  it('lets readers share the lock', async () => {
    const lock = new ReadWriteLock();
    const gate = deferred();
    let active = 0;
    let peak = 0;
    const readers = [1, 2, 3].map(() => lock.read(async () => { active++; peak = Math.max(peak, active); await gate.promise; active--; }));
    await flush();
    assert.equal(peak, 3);
    gate.resolve();
    await Promise.all(readers);
  });

  it('makes a writer wait for running readers, and queues new readers behind the waiting writer', async () => {
    const lock = new ReadWriteLock();
    const events: string[] = [];
    const reader1 = deferred();
    const reader2 = deferred();
    const writer = deferred();
    const r1 = lock.read(async () => { events.push('r1 start'); await reader1.promise; events.push('r1 end'); });
    const r2 = lock.read(async () => { events.push('r2 start'); await reader2.promise; events.push('r2 end'); });
    await flush();
    const w = lock.write(async () => { events.push('w start'); await writer.promise; events.push('w end'); });
    await flush();
    const r3 = lock.read(async () => { events.push('r3 start'); });
    await flush();
    assert.deepEqual(events, ['r1 start', 'r2 start']);

    reader1.resolve();
    await flush();
    assert.deepEqual(events, ['r1 start', 'r2 start', 'r1 end'], 'the writer waits for every reader');

    reader2.resolve();
    await flush();
    assert.deepEqual(events, ['r1 start', 'r2 start', 'r1 end', 'r2 end', 'w start'], 'the late reader waits behind the writer');

    writer.resolve();
    await Promise.all([r1, r2, w, r3]);
    assert.deepEqual(events, ['r1 start', 'r2 start', 'r1 end', 'r2 end', 'w start', 'w end', 'r3 start']);
  });

  it('runs writers one at a time and wakes every waiting reader after them', async () => {
    const lock = new ReadWriteLock();
    const events: string[] = [];
    const w1Gate = deferred();
    const readersGate = deferred();
    const w1 = lock.write(async () => { events.push('w1 start'); await w1Gate.promise; events.push('w1 end'); });
    await flush();
    const readers = ['ra', 'rb'].map((name) => lock.read(async () => { events.push(`${name} start`); await readersGate.promise; }));
    const w2 = lock.write(async () => { events.push('w2 start'); });
    await flush();
    assert.deepEqual(events, ['w1 start']);
    w1Gate.resolve();
    await flush();
    // Writers first: the queued writer goes before the readers that arrived earlier.
    assert.deepEqual(events.slice(0, 3), ['w1 start', 'w1 end', 'w2 start']);
    assert.deepEqual(events.slice(3).sort(), ['ra start', 'rb start']);
    readersGate.resolve();
    await Promise.all([w1, w2, ...readers]);
  });

  it('releases after a throwing reader or writer', async () => {
    const lock = new ReadWriteLock();
    await assert.rejects(lock.read(async () => { throw new Error('r'); }), /r/);
    await assert.rejects(lock.write(async () => { throw new Error('w'); }), /w/);
    assert.equal(await lock.write(async () => 'w ok'), 'w ok');
    assert.equal(await lock.read(async () => 'r ok'), 'r ok');
  });
});
