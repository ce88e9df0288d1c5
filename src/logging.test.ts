import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { createLogThrottle } from './logging.js';

describe('createLogThrottle', () => {
  it('logs the first event, counts the rest of the window, and summarises them once', async () => {
    const lines: Array<{ data: Record<string, unknown>; message: string }> = [];
    const throttle = createLogThrottle<{ n: number }>({ log: (data, message) => lines.push({ data, message }), message: 'refused', windowMs: 40 });
    for (let n = 1; n <= 5; n++) throttle.hit({ n });
    assert.deepEqual(lines, [{ data: { n: 1 }, message: 'refused' }]);
    await sleep(60);
    assert.equal(lines.length, 2);
    assert.deepEqual(lines[1]!.data, { suppressed: 4, windowSeconds: 0.04 });
    // A steady flood: one summary per window, never one line per event.
    for (let n = 6; n <= 8; n++) throttle.hit({ n });
    assert.equal(lines.length, 2, 'the window after a summary still only counts');
    await sleep(60);
    assert.deepEqual(lines[2]!.data, { suppressed: 3, windowSeconds: 0.04 });
    // A quiet window closes the episode: the next event is logged as it comes.
    await sleep(60);
    throttle.hit({ n: 9 });
    assert.deepEqual(lines.at(-1), { data: { n: 9 }, message: 'refused' });
    assert.equal(lines.length, 4);
    throttle.flush();
    assert.equal(lines.length, 4, 'nothing counted, nothing to summarise');
  });

  it('flush writes what was counted and leaves no timer behind', () => {
    const lines: Array<Record<string, unknown>> = [];
    const throttle = createLogThrottle({ log: (data) => lines.push(data), message: 'refused', windowMs: 60_000 });
    throttle.hit({});
    throttle.hit({});
    throttle.flush();
    assert.deepEqual(lines, [{}, { suppressed: 1, windowSeconds: 60 }]);
    throttle.flush();
    assert.equal(lines.length, 2);
  });
});
