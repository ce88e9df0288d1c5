import type { Clock } from '../ports/clock.js';
import type { Store } from '../ports/store.js';
import { sha256hex } from '../util/digest.js';

/** What a delivery is, as far as replays go; the route decides what each means. */
export type DeliveryVerdict = 'new' | 'duplicate' | 'redelivery' | 'no-id';

export interface ReplayGuard {
  /**
   * Call after the request authenticated (an unauthenticated id must not fill the table). `new`:
   * first time, now remembered. `duplicate`: seen within the window, start nothing.
   * `redelivery`: seen, but the caller asked for it on purpose (`?redeliver=1`). `no-id`: the
   * request carried no delivery id, so there is nothing to compare.
   */
  check(provider: string, deliveryId: string | null, options: { redeliver: boolean }): DeliveryVerdict;
}

/** Forges resend within hours; a day covers a retried delivery and an operator's redeliver. */
export const DEFAULT_REPLAY_WINDOW_MS = 24 * 60 * 60 * 1000;
/** Longer ids are stored by digest, so the key stays small whatever a sender puts in the header. */
const MAX_STORED_ID_LENGTH = 128;

/**
 * Refuses a signed request sent twice. The ids live in the store (SQLite), so a restart does not
 * open the window again; the window is counted from the first sight of an id, so a redelivery
 * does not extend it.
 */
export function createReplayGuard(deps: { store: Pick<Store, 'rememberDelivery'>; clock: Clock; windowMs?: number }): ReplayGuard {
  const windowMs = deps.windowMs ?? DEFAULT_REPLAY_WINDOW_MS;
  return {
    check(provider, deliveryId, { redeliver }) {
      if (deliveryId === null || deliveryId.trim() === '') return 'no-id';
      const id = deliveryId.length > MAX_STORED_ID_LENGTH ? `sha256:${sha256hex(deliveryId)}` : deliveryId;
      const now = deps.clock.now().getTime();
      const fresh = deps.store.rememberDelivery(
        `${provider}\n${id}`, new Date(now).toISOString(), new Date(now - windowMs).toISOString());
      if (fresh) return 'new';
      return redeliver ? 'redelivery' : 'duplicate';
    },
  };
}
