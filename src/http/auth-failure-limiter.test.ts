import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAuthFailureLimiter } from './auth-failure-limiter.js';

const MINUTE = 60_000;

function limiter(extra: { maxTrackedAddresses?: number } = {}) {
  let ms = 1_000_000;
  const limit = createAuthFailureLimiter({
    maxFailures: 20, windowMs: MINUTE, maxTrackedAddresses: extra.maxTrackedAddresses ?? 1000, now: () => ms,
  });
  return { limit, advance: (by: number) => void (ms += by) };
}

/** What a route does: refuse when blocked, else authenticate (here: always fail) and record it. */
function failedAttempt(limit: ReturnType<typeof limiter>['limit'], address: string): number | 'refused-401' {
  const retry = limit.retryAfterSeconds(address);
  if (retry !== null) return retry;
  limit.recordFailure(address);
  return 'refused-401';
}

describe('createAuthFailureLimiter', () => {
  it('blocks the 21st failure in a minute from one address, with a Retry-After', () => {
    const { limit, advance } = limiter();
    for (let i = 0; i < 20; i++) {
      assert.equal(failedAttempt(limit, '203.0.113.7'), 'refused-401', `attempt ${i + 1}`);
      advance(1000);
    }
    // 20 failures over 20 s: the oldest leaves the window 40 s from now.
    assert.equal(failedAttempt(limit, '203.0.113.7'), 40);
    advance(10_500);
    assert.equal(limit.retryAfterSeconds('203.0.113.7'), 30);
  });

  it('other addresses are unaffected', () => {
    const { limit } = limiter();
    for (let i = 0; i < 50; i++) failedAttempt(limit, '203.0.113.7');
    assert.notEqual(limit.retryAfterSeconds('203.0.113.7'), null);
    assert.equal(limit.retryAfterSeconds('198.51.100.1'), null);
    for (let i = 0; i < 19; i++) failedAttempt(limit, '198.51.100.1');
    assert.equal(limit.retryAfterSeconds('198.51.100.1'), null);
  });

  it('the window slides: each failure that leaves it frees one attempt', () => {
    const { limit, advance } = limiter();
    // 10 failures at t=0, 10 at t=30 s.
    for (let i = 0; i < 10; i++) limit.recordFailure('a');
    advance(30_000);
    for (let i = 0; i < 10; i++) limit.recordFailure('a');
    assert.equal(limit.retryAfterSeconds('a'), 30);
    // At t=60 s the first ten have left: ten more attempts, then blocked until t=90 s.
    advance(30_000);
    assert.equal(limit.retryAfterSeconds('a'), null);
    for (let i = 0; i < 10; i++) assert.equal(failedAttempt(limit, 'a'), 'refused-401');
    assert.equal(limit.retryAfterSeconds('a'), 30);
    // Once every failure is older than the window the address is forgotten.
    advance(MINUTE);
    assert.equal(limit.retryAfterSeconds('a'), null);
    assert.equal(limit.tracked(), 0);
  });

  it('a fixed window would let 40 through across its edge; this one does not', () => {
    const { limit, advance } = limiter();
    advance(59_000);
    for (let i = 0; i < 20; i++) limit.recordFailure('edge');
    advance(2_000);
    assert.equal(limit.retryAfterSeconds('edge'), 58);
  });

  it('memory stays bounded under 100,000 distinct addresses, evicting the oldest', () => {
    const { limit } = limiter({ maxTrackedAddresses: 5000 });
    limit.recordFailure('first');
    for (let i = 0; i < 100_000; i++) {
      limit.recordFailure(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      assert.ok(limit.tracked() <= 5000);
    }
    assert.equal(limit.tracked(), 5000);
    // The earliest addresses were dropped; the newest are still counted.
    for (let i = 0; i < 19; i++) limit.recordFailure('newest');
    limit.recordFailure('newest');
    assert.notEqual(limit.retryAfterSeconds('newest'), null);
    assert.equal(limit.retryAfterSeconds('first'), null);
    assert.equal(limit.tracked(), 5000);
  });

  it('an address that keeps failing is not evicted by a crowd of one-off addresses seen before it', () => {
    const { limit } = limiter({ maxTrackedAddresses: 3 });
    for (let i = 0; i < 20; i++) limit.recordFailure('attacker');
    limit.recordFailure('x');
    limit.recordFailure('y');
    limit.recordFailure('attacker'); // moves it to the newest end
    limit.recordFailure('z'); // evicts 'x', the least recent
    assert.notEqual(limit.retryAfterSeconds('attacker'), null);
    assert.equal(limit.tracked(), 3);
  });

  it('refuses a nonsensical configuration', () => {
    assert.throws(() => createAuthFailureLimiter({ maxFailures: 0, windowMs: MINUTE, maxTrackedAddresses: 10 }), RangeError);
  });
});
