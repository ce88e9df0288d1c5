import type { Logger } from 'pino';
import type { RunOutcome } from '../notify/outcome.js';
import type { Metrics } from '../ports/metrics.js';
import type { Store } from '../ports/store.js';
import { runOutcome } from './run-outcome.js';
import type { RunEventBus } from './run-events.js';

/** Runs whose events stay in the database for streams to replay; older runs keep records and output. */
const RUN_EVENTS_KEPT = 500;
/** Runs whose end this process published, remembered so a run a helper ended is passed on once. */
const ENDED_HERE_KEPT = 1_000;

/**
 * What happens when a run ends, wherever it ended: metrics count it, notifications are sent (fire
 * and forget: a notifier that is down never delays the next run) and old event streams are
 * pruned. Runs a self-update helper ended in another process reach this one through the handoff
 * watcher (`onForeignRunEnd`).
 */
export function observeRuns(deps: {
  store: Store;
  events: RunEventBus;
  metrics: Pick<Metrics, 'observe'>;
  notifier: { runFinished(outcome: RunOutcome): void };
  serverName: string;
  publicUrl: string | undefined;
  logger: Logger;
}): { onForeignRunEnd(runId: string): void; stop(): void } {
  const endedHere = new Set<string>();
  const runEnded = (runId: string) => {
    try {
      deps.store.pruneRunEvents(RUN_EVENTS_KEPT);
      const outcome = runOutcome(deps.store, runId, { serverName: deps.serverName, publicUrl: deps.publicUrl });
      if (outcome) deps.notifier.runFinished(outcome);
    } catch (error) {
      deps.logger.warn({ err: error, runId }, 'the end of a run could not be passed on');
    }
  };
  const stop = deps.events.observe((event) => {
    deps.metrics.observe(event);
    if (event.type === 'end') {
      endedHere.add(event.runId);
      if (endedHere.size > ENDED_HERE_KEPT) endedHere.delete(endedHere.values().next().value!);
      runEnded(event.runId);
    }
  });
  return {
    onForeignRunEnd(runId) {
      if (endedHere.has(runId)) return;
      const run = deps.store.getRun(runId);
      if (run) deps.metrics.observe({ id: 0, runId, type: 'end', data: { runId, trigger: run.trigger, status: run.status } });
      runEnded(runId);
    },
    stop: () => void stop(),
  };
}
