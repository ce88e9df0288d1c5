import type { Logger } from 'pino';
import { backoffDelayMs, isTransientFailure, type BackoffSettings } from '../domain/retry-policy.js';
import type { DeploymentRecord, Store } from '../ports/store.js';
import type { Triggers } from './dispatcher.js';
import type { RunEventBus } from './run-events.js';

/** The timer functions the scheduler uses; tests pass a fake clock's. */
export interface RetryTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: RetryTimers = {
  setTimeout: (callback, ms) => {
    const handle = setTimeout(callback, ms);
    // A pending retry never keeps a stopping process alive.
    handle.unref();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Where a service's retries stand. */
export interface RetryState {
  /** The retry that is (or was last) scheduled: 1 for the first. */
  attempt: number;
  /** The inputs that failed: a failure of other inputs starts again at attempt 1. */
  fingerprint: string | null;
  /** When the pending retry is queued, or null once it has been. */
  dueAt: number | null;
}

/**
 * Retries deployments that failed transiently (engine away, registry timeout, a hung tool
 * killed) with capped exponential backoff, by queueing a run of that service with origin
 * `retry`: a deploy, or an update when an image update failed. Deterministic failures are left
 * to the plan, which holds them until their inputs change.
 *
 * Concurrency model: one timer per service at most, all state in memory in this process (a
 * restart forgets pending retries; the next push or poll plans afresh). It only listens to
 * deployment events and enqueues: a retry coalesces in the service's lane with an operator's
 * redeploy like any other request. The state of a service is dropped when a deployment of it
 * succeeds, is rolled back, or fails deterministically, so a success or a change stops retries.
 * The own service is left to its self-update, which has its own rollback.
 */
export function createRetryScheduler(deps: {
  events: Pick<RunEventBus, 'observe'>;
  store: Pick<Store, 'getDeployment'>;
  triggers: Pick<Triggers, 'deployService' | 'redeployAndUpdate'>;
  backoff: BackoffSettings;
  selfService: string;
  logger: Logger;
  now?: () => number;
  timers?: RetryTimers;
}): { stop(): void; state(service: string): RetryState | undefined } {
  const timers = deps.timers ?? realTimers;
  const now = deps.now ?? Date.now;
  const states = new Map<string, RetryState & { handle?: unknown }>();
  let stopped = false;

  const forget = (service: string) => {
    const state = states.get(service);
    if (state?.handle !== undefined) timers.clearTimeout(state.handle);
    states.delete(service);
  };

  const ended = (record: DeploymentRecord) => {
    if (record.service === deps.selfService || record.action === 'skip') return;
    // Cut off by a shutdown: the next instance retries the run itself.
    if (record.status === 'interrupted') return;
    const transient = record.status === 'failed' && isTransientFailure({ code: record.errorCode ?? 'INTERNAL', message: record.error ?? '' });
    if (!transient) {
      if (states.has(record.service)) deps.logger.info({ service: record.service, status: record.status, code: record.errorCode }, 'retries stopped');
      forget(record.service);
      return;
    }
    const previous = states.get(record.service);
    const attempt = previous && previous.fingerprint === record.fingerprint ? previous.attempt + 1 : 1;
    forget(record.service);
    const delayMs = backoffDelayMs(attempt, deps.backoff);
    const state: RetryState & { handle?: unknown } = { attempt, fingerprint: record.fingerprint, dueAt: now() + delayMs };
    state.handle = timers.setTimeout(() => {
      state.handle = undefined;
      state.dueAt = null;
      if (stopped) return;
      const { runId, coalesced } = record.action === 'update'
        ? deps.triggers.redeployAndUpdate(record.service, 'retry')
        : deps.triggers.deployService(record.service, 'retry');
      deps.logger.info({ service: record.service, attempt, runId, coalesced }, 'retrying after a transient failure');
    }, delayMs);
    states.set(record.service, state);
    deps.logger.info({ service: record.service, code: record.errorCode, attempt, delaySeconds: delayMs / 1000 }, 'transient failure; retry scheduled');
  };

  const unobserve = deps.events.observe((event) => {
    if (event.type !== 'deployment' || stopped) return;
    const status = event.data['status'];
    if (status !== 'failed' && status !== 'succeeded' && status !== 'rolled-back' && status !== 'interrupted') return;
    const record = deps.store.getDeployment(String(event.data['deploymentId']));
    if (record) ended(record);
  });

  return {
    stop() {
      stopped = true;
      unobserve();
      for (const service of [...states.keys()]) forget(service);
    },
    state(service) {
      const state = states.get(service);
      return state ? { attempt: state.attempt, fingerprint: state.fingerprint, dueAt: state.dueAt } : undefined;
    },
  };
}
