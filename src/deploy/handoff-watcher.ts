import type { Logger } from 'pino';
import type { Clock } from '../ports/clock.js';
import type { SelfUpdater } from '../ports/self-updater.js';
import type { DeploymentRecord, Store } from '../ports/store.js';
import { endRun } from './run-end.js';
import type { RunEventBus } from './run-events.js';

export interface HandoffWatcherDeps {
  store: Store;
  events: RunEventBus;
  selfUpdater: Pick<SelfUpdater, 'helperExists'>;
  clock: Clock;
  logger: Logger;
  /** A run another process (the helper) ended: this process's observers (notifications, metrics) never saw it. */
  onForeignRunEnd(runId: string): void;
  /** How long a helper gets to appear before its absence counts. */
  graceMs?: number;
}

/**
 * Watches self-updates handed to helper containers, from whichever instance of the server is
 * alive: when a helper records the end, the run's end is passed on (the helper has no notifier);
 * when a helper is gone without recording one, the deployment ends `failed` (SELF_UPDATE_LOST)
 * instead of staying `handed-off`, and its run ends with it.
 */
export function createHandoffWatcher(deps: HandoffWatcherDeps): { check(): Promise<void>; start(intervalMs: number): void; stop(): void } {
  const watched = new Map<string, DeploymentRecord>();
  const missingOnce = new Set<string>();
  let checking = false;

  const loseHandoff = (deployment: DeploymentRecord) => {
    const { store, clock, events } = deps;
    const now = clock.now().toISOString();
    const message = `the helper container ${deployment.handoff?.helper ?? ''} is gone and recorded no result`;
    store.updateDeployment(deployment.id, { status: 'failed', errorCode: 'SELF_UPDATE_LOST', error: message, finishedAt: now });
    events.publishDeployment(store.getDeployment(deployment.id)!);
    endRun({ store, events, clock }, deployment.runId, { code: 'SELF_UPDATE_LOST', message });
    deps.logger.error({ deploymentId: deployment.id, helper: deployment.handoff?.helper }, 'self-update helper lost');
  };

  let timer: NodeJS.Timeout | undefined;
  const watcher = {
    /** Looks every `intervalMs` until `stop`. */
    start(intervalMs: number) {
      timer ??= setInterval(() => void watcher.check().catch((error: unknown) => deps.logger.warn({ err: error }, 'checking self-updates failed')), intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
    async check() {
      if (checking) return;
      checking = true;
      try {
        const open = new Map(deps.store.handedOffDeployments().map((d) => [d.id, d] as const));
        for (const [id, before] of watched) {
          if (open.has(id)) continue;
          watched.delete(id);
          missingOnce.delete(id);
          const run = deps.store.getRun(before.runId);
          if (run?.status === 'succeeded' || run?.status === 'failed') deps.onForeignRunEnd(run.id);
        }
        for (const [id, deployment] of open) {
          watched.set(id, deployment);
          const started = Date.parse(deployment.startedAt ?? '') || 0;
          if (!deployment.handoff || deps.clock.now().getTime() - started < (deps.graceMs ?? 30_000)) continue;
          const exists = await deps.selfUpdater.helperExists(deployment.handoff.helper, deployment.handoff.runtime).catch(() => true);
          // Twice in a row: the helper records its end just before it removes itself.
          if (exists) missingOnce.delete(id);
          else if (!missingOnce.has(id)) missingOnce.add(id);
          else if (deps.store.getDeployment(id)?.status === 'handed-off') {
            watched.delete(id);
            missingOnce.delete(id);
            loseHandoff(deployment);
          }
        }
      } finally {
        checking = false;
      }
    },
  };
  return watcher;
}
