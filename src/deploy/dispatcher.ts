import type { Logger } from 'pino';
import type { RunOrigin, RunTrigger } from '../domain/types.js';
import type { Clock } from '../ports/clock.js';
import type { RecoveredWork, Store } from '../ports/store.js';
import type { RunResult } from './pipeline.js';
import { endRun } from './run-end.js';
import type { RunEventBus } from './run-events.js';
import { RunQueue, type EnqueueResult } from './run-queue.js';
import type { UpdateDebounce } from './update-debounce.js';

/** What a run carries out; stored on the run itself, so a restored run is the same job. */
export interface Job {
  lane: string;
  trigger: RunTrigger;
  service: string | null;
  origin: RunOrigin;
  [key: string]: unknown;
}

export interface Triggers {
  deployAllChanged(origin: RunOrigin): EnqueueResult;
  redeployAndUpdate(service: string, origin: RunOrigin): EnqueueResult;
  /** `force`: recreate every container of the service, changed or not. */
  deployService(service: string, origin: RunOrigin, options?: { force?: boolean }): EnqueueResult;
}

/** The pipeline's entry points, one per trigger. */
export interface RunExecutor {
  deployAllChanged(runId: string): Promise<RunResult>;
  redeployAndUpdate(runId: string, service: string): Promise<RunResult>;
  deployService(runId: string, service: string, options?: { force?: boolean }): Promise<RunResult>;
  rollbackService(runId: string, service: string): Promise<RunResult>;
}

/** The job of a trigger: its lane decides what coalesces and what runs one at a time. */
export function jobOf(trigger: RunTrigger, service: string | null, origin: RunOrigin, target?: string | null, force?: boolean): Job {
  if (trigger === 'deploy-all-changed') return { lane: 'deploy-all', trigger, service: null, origin };
  // Two requests for the same target coalesce; one for another target waits its turn.
  if (trigger === 'rollback-service') return { lane: `rollback:${service}:${target}`, trigger, service, origin, target: target ?? null };
  if (trigger === 'redeploy-and-update') return { lane: `update:${service}`, trigger, service, origin };
  // A forced redeploy has a lane of its own: coalesced into a plain one waiting, it would not recreate.
  if (force) return { lane: `deploy-force:${service}`, trigger, service, origin, force: true };
  return { lane: `deploy:${service}`, trigger, service, origin };
}

/**
 * Turns triggers into queued runs and runs into pipeline calls. A run the shutdown interrupted
 * is queued again (origin `restart`) for the next instance, in its lane, so it coalesces with
 * whatever already waits there; a run that never started stays the queued run it was.
 */
export function createDispatcher(deps: {
  store: Pick<Store, 'createRun' | 'getRun' | 'updateRun' | 'listDeployments' | 'updateDeployment'>;
  events: Pick<RunEventBus, 'publishRun'>;
  clock: Clock;
  logger: Logger;
  executor: () => RunExecutor;
  /** Holds a package webhook's update for UPDATE_DEBOUNCE_SECONDS so a burst becomes one run. */
  updateDebounce?: UpdateDebounce;
}) {
  /**
   * Runs whose end could not be recorded (the state database failed, say on a full disk). Each
   * later run first tries again, so once the disk has room the history is whole without waiting
   * for a restart.
   */
  const unrecorded = new Set<string>();
  const recordLostEnds = () => {
    for (const runId of [...unrecorded]) {
      try {
        const message = 'The state database failed while this run was recorded; what it did is unknown and is retried';
        for (const d of deps.store.listDeployments(runId)) {
          if (d.status === 'running' || d.status === 'queued') deps.store.updateDeployment(d.id, { status: 'failed', errorCode: 'STORE_FAILED', error: message, finishedAt: deps.clock.now().toISOString() });
        }
        endRun(deps, runId, { code: 'STORE_FAILED', message });
        unrecorded.delete(runId);
        deps.logger.info({ runId }, 'the end of a run the state database had refused is recorded now');
      } catch {
        return; // still failing: the next run tries again
      }
    }
  };
  const queue = new RunQueue<Job>({
    createRun: (job) => {
      const record = deps.store.createRun({ trigger: job.trigger, service: job.service, origin: job.origin, ...(typeof job['target'] === 'string' ? { target: job['target'] } : {}) });
      deps.events.publishRun(record);
      return record.id;
    },
    execute: async (runId, job) => {
      if (job.trigger === 'redeploy-and-update') {
        const window = await deps.updateDebounce?.settled(runId);
        if (window) deps.logger.info({ runId, service: job.service, deliveries: window.joined }, 'update window closed; one run for its deliveries');
        // The server began stopping during the window: the run stays queued for the next instance, like any run not started.
        if (window && queue.isClosed) return;
      }
      recordLostEnds();
      const executor = deps.executor();
      const result =
        job.trigger === 'deploy-all-changed'
          ? await executor.deployAllChanged(runId)
          : job.trigger === 'deploy-service'
            ? await executor.deployService(runId, job.service!, job['force'] === true ? { force: true } : {})
            : job.trigger === 'rollback-service'
              ? await executor.rollbackService(runId, job.service!)
              : await executor.redeployAndUpdate(runId, job.service!);
      if (result === 'ended') {
        try {
          if (deps.store.getRun(runId)?.status === 'running') unrecorded.add(runId);
        } catch {
          unrecorded.add(runId);
        }
      }
      if (result === 'interrupted') {
        const { runId: retry } = queue.enqueue(jobOf(job.trigger, job.service, 'restart', job['target'] as string | null | undefined, job['force'] === true));
        deps.logger.info({ runId, retry }, 'run interrupted by the shutdown; queued again for the next instance');
      }
    },
    onUnexpectedError: (error, runId) => deps.logger.error({ err: error, runId }, 'run crashed'),
  });

  const triggers: Triggers = {
    deployAllChanged: (origin) => queue.enqueue(jobOf('deploy-all-changed', null, origin)),
    redeployAndUpdate: (service, origin) => {
      const enqueue = () => queue.enqueue(jobOf('redeploy-and-update', service, origin));
      return deps.updateDebounce ? deps.updateDebounce.trigger(service, origin, enqueue) : enqueue();
    },
    deployService: (service, origin, options) => queue.enqueue(jobOf('deploy-service', service, origin, null, options?.force === true)),
  };

  return {
    triggers,
    /** Deploys the inputs of the service's successful deployment `target` again, and pins it (the API's rollback). */
    rollbackService: (service: string, target: string, origin: RunOrigin): EnqueueResult => queue.enqueue(jobOf('rollback-service', service, origin, target)),
    queue,
    /**
     * Carries out what the last stop left: runs accepted but never started, under their own ids,
     * then a retry of each run a crash cut off, unless a run already waits in its lane (it does
     * the same work: a deploy-all syncs and plans afresh, an update pulls afresh).
     */
    recover(work: RecoveredWork): void {
      for (const run of work.queued) queue.restore(run.id, jobOf(run.trigger, run.service, run.origin, run.target));
      for (const run of work.runs) {
        const job = jobOf(run.trigger, run.service, 'restart', run.target);
        if (!queue.busy(job.lane)) queue.enqueue(job);
      }
    },
  };
}
