import type { Logger } from 'pino';
import type { Repository } from '../ports/repository.js';
import type { Triggers } from './dispatcher.js';

/** What one poll did; returned for tests and logs. */
export type PollOutcome = 'unchanged' | 'already-queued' | 'busy' | 'queued' | 'failed';

export interface RemotePollerDeps {
  repository: Pick<Repository, 'remoteHead' | 'head'>;
  triggers: Pick<Triggers, 'deployAllChanged'>;
  /** Whether a deploy-all is running or waiting (`dispatcher.queue.busy('deploy-all')`): it syncs anyway. */
  deployAllBusy(): boolean;
  intervalMs: number;
  logger: Logger;
  /** 0 to 1; each wait is the interval ±10 % by it, so many servers polling one forge spread out. */
  random?: () => number;
  /** Timers, passed in so a test decides when a poll happens. */
  setTimer?: (callback: () => void, ms: number) => { cancel(): void };
}

const JITTER = 0.1;

/**
 * The backstop for webhooks that never arrive: on an interval, asks the remote for the tracked
 * branch's head (`git ls-remote`, no fetch) and queues a deploy-all (origin `poll`) when it is
 * neither the checkout's HEAD nor the head it last queued for, and no deploy-all is running or
 * waiting. When nothing moved it costs one ls-remote: no fetch, no discovery, no run. The
 * "last queued" head keeps a push that fails to deploy from being queued again every interval;
 * the next push, a webhook or the API tries again.
 */
export function createRemotePoller(deps: RemotePollerDeps): { start(): void; stop(): void; pollOnce(): Promise<PollOutcome> } {
  const random = deps.random ?? Math.random;
  const setTimer = deps.setTimer ?? ((callback, ms) => {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  });
  let lastQueued: string | undefined;
  let lastFailure: string | undefined;
  let timer: { cancel(): void } | undefined;
  let running = false;
  let inFlight: AbortController | undefined;

  async function pollOnce(): Promise<PollOutcome> {
    const abort = new AbortController();
    inFlight = abort;
    try {
      const remote = await deps.repository.remoteHead(abort.signal);
      if (lastFailure !== undefined) deps.logger.info('polling the remote works again');
      lastFailure = undefined;
      if (remote === lastQueued) return 'already-queued';
      if (remote === (await deps.repository.head())) return 'unchanged';
      if (deps.deployAllBusy()) return 'busy';
      const { runId } = deps.triggers.deployAllChanged('poll');
      lastQueued = remote;
      deps.logger.info({ runId, remoteHead: remote }, 'the remote branch moved without a webhook: deploy-all queued');
      return 'queued';
    } catch (error) {
      const message = (error as Error).message;
      // Once per distinct failure, not every interval: an unreachable forge would flood the log.
      if (message !== lastFailure) deps.logger.warn({ err: error }, 'polling the remote failed; trying again next interval');
      lastFailure = message;
      return 'failed';
    } finally {
      if (inFlight === abort) inFlight = undefined;
    }
  }

  const schedule = () => {
    const delay = deps.intervalMs * (1 - JITTER + 2 * JITTER * random());
    timer = setTimer(() => {
      void pollOnce().finally(() => {
        if (running) schedule();
      });
    }, delay);
  };

  return {
    /** Polls every interval (first after one interval) until `stop`; one poll at a time. */
    start() {
      if (running) return;
      running = true;
      schedule();
    },
    /** Stops the timer and a poll under way (its ls-remote is killed). */
    stop() {
      running = false;
      timer?.cancel();
      timer = undefined;
      inFlight?.abort();
    },
    pollOnce,
  };
}
