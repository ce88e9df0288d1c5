import type { RunOutcome } from '../notify/outcome.js';
import type { DeploymentRecord, Store } from '../ports/store.js';

const errorOf = (record: { error: string | null; errorCode: string | null }) =>
  record.error === null ? null : { code: record.errorCode ?? 'INTERNAL', message: record.error };

/**
 * What a notification says about a finished run: its deployments, each beside the status of that
 * service's previous deployment (so a success after a failure reads as a recovery).
 */
export function runOutcome(
  store: Pick<Store, 'getRun' | 'listDeployments' | 'previousDeploymentStatus' | 'listServiceDeployments'>,
  runId: string,
  context: { serverName: string; publicUrl: string | undefined },
): RunOutcome | null {
  const run = store.getRun(runId);
  if (!run || (run.status !== 'succeeded' && run.status !== 'failed')) return null;
  return {
    serverName: context.serverName,
    dashboardUrl: context.publicUrl ? `${context.publicUrl}/#/runs/${run.id}` : null,
    run: {
      id: run.id,
      trigger: run.trigger,
      service: run.service,
      status: run.status,
      commit: run.commit,
      error: errorOf(run),
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
    },
    deployments: store.listDeployments(run.id).map((d) => ({
      service: d.service,
      action: d.action,
      status: d.status,
      reason: d.reason,
      error: errorOf(d),
      previousStatus: d.action === 'skip' ? null : store.previousDeploymentStatus(d.service, d.id),
      ...(d.status === 'failed' && repeatsPrevious(store, d) ? { repeated: true } : {}),
    })),
  };
}

/**
 * Whether a failure is the same as the service's previous deployment's: the same inputs failing
 * with the same code (a retry after a transient failure, a redeploy that changed nothing). Its
 * failure was notified then; the notifier does not say it again.
 */
function repeatsPrevious(store: Pick<Store, 'listServiceDeployments'>, d: DeploymentRecord): boolean {
  const [previous] = store.listServiceDeployments(d.service, { limit: 1, before: d.id }).items;
  return previous !== undefined && previous.status === 'failed' && previous.errorCode === d.errorCode && previous.fingerprint !== null && previous.fingerprint === d.fingerprint;
}
