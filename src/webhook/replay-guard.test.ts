import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../adapters/sqlite-store.js';
import type { Store } from '../ports/store.js';
import { createReplayGuard } from './replay-guard.js';

const HOUR = 60 * 60 * 1000;

/** A clock the test moves by hand. */
function manualClock(start = '2026-01-10T12:00:00.000Z'): { now(): Date; advance(ms: number): void } {
  let ms = Date.parse(start);
  return { now: () => new Date(ms), advance: (by) => void (ms += by) };
}

describe('createReplayGuard (real SQLite file)', () => {
  let dir: string;
  let file: string;
  const open: Store[] = [];
  const openStore = (clock = manualClock()): Store => {
    const store = openSqliteStore({ file, clock });
    open.push(store);
    return store;
  };
  const storedDeliveries = (): number => {
    const db = new Database(file, { readonly: true });
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM webhook_deliveries').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'replay-guard-test-'));
    file = join(dir, 'state.db');
  });
  afterEach(() => {
    for (const store of open.splice(0)) store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a delivery id is new once, then a duplicate within the window', () => {
    const clock = manualClock();
    const guard = createReplayGuard({ store: openStore(clock), clock });
    assert.equal(guard.check('github', 'd-1', { redeliver: false }), 'new');
    clock.advance(23 * HOUR);
    assert.equal(guard.check('github', 'd-1', { redeliver: false }), 'duplicate');
    // The same id from another provider is another delivery.
    assert.equal(guard.check('gitlab', 'd-1', { redeliver: false }), 'new');
    assert.equal(guard.check('github', 'd-2', { redeliver: false }), 'new');
  });

  it('remembers deliveries across a reopen of the database', () => {
    const clock = manualClock();
    const first = openStore(clock);
    assert.equal(createReplayGuard({ store: first, clock }).check('gitea', 'abc', { redeliver: false }), 'new');
    first.close();
    clock.advance(HOUR);
    const guard = createReplayGuard({ store: openStore(clock), clock });
    assert.equal(guard.check('gitea', 'abc', { redeliver: false }), 'duplicate');
  });

  it('forgets an id after 24 hours: it is new again', () => {
    const clock = manualClock();
    const guard = createReplayGuard({ store: openStore(clock), clock });
    assert.equal(guard.check('github', 'd-1', { redeliver: false }), 'new');
    clock.advance(24 * HOUR + 1);
    assert.equal(guard.check('github', 'd-1', { redeliver: false }), 'new');
    // And the window starts again from that sight.
    clock.advance(HOUR);
    assert.equal(guard.check('github', 'd-1', { redeliver: false }), 'duplicate');
  });

  it('honours a shorter window when given one', () => {
    const clock = manualClock();
    const guard = createReplayGuard({ store: openStore(clock), clock, windowMs: 1000 });
    assert.equal(guard.check('github', 'x', { redeliver: false }), 'new');
    clock.advance(999);
    assert.equal(guard.check('github', 'x', { redeliver: false }), 'duplicate');
    clock.advance(2);
    assert.equal(guard.check('github', 'x', { redeliver: false }), 'new');
  });

  it('a redelivery asked for on purpose is told apart, and does not extend the window', () => {
    const clock = manualClock();
    const guard = createReplayGuard({ store: openStore(clock), clock });
    // Asking to redeliver something never seen is simply new.
    assert.equal(guard.check('github', 'd-9', { redeliver: true }), 'new');
    clock.advance(12 * HOUR);
    assert.equal(guard.check('github', 'd-9', { redeliver: true }), 'redelivery');
    assert.equal(guard.check('github', 'd-9', { redeliver: false }), 'duplicate');
    clock.advance(12 * HOUR + 1);
    assert.equal(guard.check('github', 'd-9', { redeliver: false }), 'new');
  });

  it('a request without a delivery id is no-id and stores nothing', () => {
    const clock = manualClock();
    const guard = createReplayGuard({ store: openStore(clock), clock });
    assert.equal(guard.check('github', null, { redeliver: false }), 'no-id');
    assert.equal(guard.check('github', '  ', { redeliver: false }), 'no-id');
    assert.equal(guard.check('github', null, { redeliver: false }), 'no-id');
    assert.equal(storedDeliveries(), 0);
  });

  it('keeps one window of deliveries: older rows are pruned', () => {
    const clock = manualClock();
    const guard = createReplayGuard({ store: openStore(clock), clock });
    // 2,000 deliveries over 48 hours, one every 86.4 s: about half of them fall in the window.
    for (let i = 0; i < 2000; i++) {
      assert.equal(guard.check('github', `d-${i}`, { redeliver: false }), 'new');
      clock.advance(86_400);
    }
    const kept = storedDeliveries();
    assert.ok(kept <= 1001 && kept >= 999, `expected about 1,000 rows kept, got ${kept}`);
    // The oldest were dropped (new again), the recent ones are still remembered.
    assert.equal(guard.check('github', 'd-1999', { redeliver: false }), 'duplicate');
    assert.equal(guard.check('github', 'd-0', { redeliver: false }), 'new');
  });

  it('stores a very long id by digest, still telling repeats apart', () => {
    const clock = manualClock();
    const guard = createReplayGuard({ store: openStore(clock), clock });
    const long = 'x'.repeat(10_000);
    assert.equal(guard.check('github', long, { redeliver: false }), 'new');
    assert.equal(guard.check('github', long, { redeliver: false }), 'duplicate');
    assert.equal(guard.check('github', `${long}y`, { redeliver: false }), 'new');
  });
});
