import type { RunOrigin } from '../domain/types.js';
import type { SetTimer } from '../util/poll-loop.js';
import type { EnqueueResult } from './run-queue.js';

/**
 * Debounce of image updates (UPDATE_DEBOUNCE_SECONDS). Registries publish in bursts (several tags,
 * one manifest per architecture, then the index), each with its own webhook. The lane alone
 * (run-queue.ts) would start the first delivery's run at once and coalesce the rest into one run
 * behind it: two runs, two pulls, often a recreate on a half-published tag.
 *
 * Instead the first package webhook of a service opens a window: its run is queued (the webhook
 * answers 202 with its id) but does not begin before the window ends, and every trigger for the
 * service within the window joins that run (the same id, `coalesced: true`). One run, one pull,
 * after the burst. Operator and poll triggers join an open window but open none: an operator asking
 * for an update is not kept waiting. With a window of 0 nothing is held.
 *
 * Windows live in memory: a run restored at start-up has none and starts at once.
 */
export interface UpdateDebounce {
  /** Queues an update of `service` through `enqueue`, or joins the window open for it. */
  trigger(service: string, origin: RunOrigin, enqueue: () => EnqueueResult): EnqueueResult;
  /** Resolves when the window of `runId` has ended (at once when it has none); its triggers then start new runs. */
  settled(runId: string): Promise<{ joined: number } | undefined>;
  /** Ends every window now and opens no more (shutdown: a run must not keep the drain waiting). */
  close(): void;
}

interface Window {
  runId: string;
  joined: number;
  ended: Promise<void>;
}

const realTimer: SetTimer = (callback, ms) => {
  const timer = setTimeout(callback, ms);
  timer.unref();
  return { cancel: () => clearTimeout(timer) };
};

export function createUpdateDebounce(options: { windowMs: number; setTimer?: SetTimer }): UpdateDebounce {
  const setTimer = options.setTimer ?? realTimer;
  const open = new Map<string, Window>();
  const byRun = new Map<string, Window>();
  const ends = new Set<() => void>();
  let closed = false;

  return {
    trigger(service, origin, enqueue) {
      const window = open.get(service);
      if (window) {
        window.joined++;
        return { runId: window.runId, coalesced: true };
      }
      const result = enqueue();
      // A trigger that joined a run already waiting in the lane needs no window of its own.
      if (closed || options.windowMs <= 0 || origin !== 'webhook' || result.coalesced) return result;
      let resolveEnded!: () => void;
      const opened: Window = { runId: result.runId, joined: 1, ended: new Promise<void>((resolve) => (resolveEnded = resolve)) };
      const end = () => {
        if (open.get(service) === opened) open.delete(service);
        ends.delete(end);
        resolveEnded();
      };
      open.set(service, opened);
      byRun.set(result.runId, opened);
      ends.add(end);
      const timer = setTimer(end, options.windowMs);
      opened.ended.then(() => timer.cancel(), () => undefined);
      return result;
    },

    async settled(runId) {
      const window = byRun.get(runId);
      if (!window) return undefined;
      await window.ended;
      byRun.delete(runId);
      return { joined: window.joined };
    },

    close() {
      closed = true;
      for (const end of [...ends]) end();
    },
  };
}
