// Polling for the list and detail views: one request at a time, paused while the page is
// hidden, backing off on errors (the banner says when it retries).

import { AuthError } from './api.js';
import { connection } from './shell.js';

const POLL_MS = 5_000;
const POLL_MAX_BACKOFF_MS = 60_000;

export class Poller {
  constructor(task, { interval = POLL_MS } = {}) {
    this.task = task;
    this.interval = interval;
    this.failures = 0;
    this.timer = 0;
    this.inFlight = false;
    this.again = false;
    this.stopped = false;
    this.onVisibility = () => {
      if (!document.hidden && this.dueWhileHidden) this.poke();
    };
    document.addEventListener('visibilitychange', this.onVisibility);
  }

  start() {
    this.poke();
    return this;
  }

  /** Refreshes now (after an action), or right after the request in flight. */
  poke() {
    if (this.stopped) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    void this.tick();
  }

  async tick() {
    if (this.stopped) return;
    if (document.hidden) {
      this.dueWhileHidden = true;
      return;
    }
    this.dueWhileHidden = false;
    this.inFlight = true;
    let delay = this.interval;
    try {
      await this.task();
      this.failures = 0;
      connection.ok(this);
    } catch (error) {
      if (error instanceof AuthError || this.stopped) return this.stop();
      this.failures++;
      delay = Math.min(this.interval * 2 ** (this.failures - 1), POLL_MAX_BACKOFF_MS);
      connection.failed(this, error, delay);
    } finally {
      this.inFlight = false;
    }
    if (this.stopped) return;
    if (this.again) {
      this.again = false;
      delay = 0;
    }
    this.timer = setTimeout(() => void this.tick(), delay);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    document.removeEventListener('visibilitychange', this.onVisibility);
    connection.ok(this);
  }
}

/** Merges a freshly polled first page into a list that may hold older pages (newest first, by id). */
export function mergeNewest(existing, fresh) {
  if (existing.length === 0 || fresh.length === 0) return null;
  const oldestFresh = fresh[fresh.length - 1].id;
  const at = existing.findIndex((item) => item.id === oldestFresh);
  if (at === -1) return null; // more new items than a page: the older pages no longer connect
  return fresh.concat(existing.slice(at + 1));
}
