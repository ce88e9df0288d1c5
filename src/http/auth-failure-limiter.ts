/**
 * Counts failed authentications per client address over a sliding window, so a flood of bad
 * webhook requests is answered 429 before any HMAC is computed, while other addresses go on as
 * before. Exact: each address keeps the times of its last `maxFailures` failures in a ring, so a
 * check and a record are O(1) and an address costs `maxFailures` numbers. Memory is bounded: past
 * `maxTrackedAddresses` the address whose last failure is oldest is forgotten (a Map keeps
 * insertion order, and a failure moves its address to the end).
 */
export interface AuthFailureLimiter {
  /** Seconds until the address may try again, or null when it is not blocked. */
  retryAfterSeconds(address: string): number | null;
  /** Records one failed authentication from the address. */
  recordFailure(address: string): void;
  /** How many addresses are held now (for tests and metrics). */
  tracked(): number;
}

/** Enough for every forge and CI runner a server hears from, small enough to stay a few MiB. */
export const DEFAULT_MAX_TRACKED_ADDRESSES = 10_000;

interface Failures {
  /** Times (ms) of the most recent failures; `next` is where the next one goes (the oldest slot). */
  times: Float64Array;
  next: number;
  count: number;
}

export function createAuthFailureLimiter(options: {
  maxFailures: number;
  windowMs: number;
  maxTrackedAddresses: number;
  now?: () => number;
}): AuthFailureLimiter {
  const { maxFailures, windowMs, maxTrackedAddresses } = options;
  if (!(maxFailures >= 1) || !(windowMs > 0) || !(maxTrackedAddresses >= 1)) {
    throw new RangeError('createAuthFailureLimiter: maxFailures, windowMs and maxTrackedAddresses must be positive');
  }
  const now = options.now ?? Date.now;
  const byAddress = new Map<string, Failures>();

  /** The oldest failure still in the ring when it is full, else undefined. */
  const oldestOfFull = (entry: Failures): number | undefined =>
    entry.count < maxFailures ? undefined : entry.times[entry.next];

  return {
    retryAfterSeconds(address) {
      const entry = byAddress.get(address);
      if (entry === undefined) return null;
      const at = now();
      const newest = entry.times[(entry.next + maxFailures - 1) % maxFailures]!;
      if (newest <= at - windowMs) {
        // Every failure has left the window: nothing to hold on to.
        byAddress.delete(address);
        return null;
      }
      const oldest = oldestOfFull(entry);
      if (oldest === undefined || oldest <= at - windowMs) return null;
      return Math.max(1, Math.ceil((oldest + windowMs - at) / 1000));
    },
    recordFailure(address) {
      let entry = byAddress.get(address);
      if (entry === undefined) {
        entry = { times: new Float64Array(maxFailures), next: 0, count: 0 };
      } else {
        byAddress.delete(address);
      }
      byAddress.set(address, entry);
      entry.times[entry.next] = now();
      entry.next = (entry.next + 1) % maxFailures;
      if (entry.count < maxFailures) entry.count++;
      if (byAddress.size > maxTrackedAddresses) {
        byAddress.delete(byAddress.keys().next().value!);
      }
    },
    tracked() {
      return byAddress.size;
    },
  };
}
