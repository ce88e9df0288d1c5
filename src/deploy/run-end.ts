import type { Clock } from '../ports/clock.js';
import type { RunRecord, Store } from '../ports/store.js';
import type { RunEventBus } from './run-events.js';

export interface RunEndDeps {
  store: Pick<Store, 'getRun' | 'updateRun' | 'listDeployments'>;
  events: Pick<RunEventBus, 'publishRun'>;
  clock: Clock;
}

const isFinal = (run: RunRecord) => run.status === 'succeeded' || run.status === 'failed';

/**
 * Ends a run, once, wherever it ends: in the pipeline, in a self-update helper container, or in
 * the watcher that finds a helper gone. Without an error the status follows the run's
 * deployments (succeeded when every one did); with an error the run fails with it. A run that
 * already ended (the other process ended it first) is left as it is. Returns the run as stored.
 */
export function endRun(deps: RunEndDeps, runId: string, failure?: { code: string; message: string }): RunRecord | undefined {
  const run = deps.store.getRun(runId);
  if (!run || isFinal(run)) return run;
  const deployments = deps.store.listDeployments(runId).filter((d) => d.action !== 'skip');
  const ok = !failure && deployments.every((d) => d.status === 'succeeded');
  deps.store.updateRun(runId, {
    status: ok ? 'succeeded' : 'failed',
    finishedAt: deps.clock.now().toISOString(),
    ...(failure ? { errorCode: failure.code, error: failure.message } : {}),
  });
  const ended = deps.store.getRun(runId)!;
  deps.events.publishRun(ended);
  return ended;
}
