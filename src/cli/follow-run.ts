import { FAILED_DEPLOYMENT_STATUSES } from '../domain/types.js';
import type { ApiClient } from './api-client.js';
import { RUN_FINISHED_STATUSES, type ApiErrorInfo, type RunEvent } from './api-types.js';
import type { Output } from './output.js';
import { oneLine, shortCommit } from './output.js';

export interface FollowResult {
  /** The run's final status (`succeeded`, `failed`). */
  status: string;
  /** Services whose deployment ended failed or interrupted. */
  failedServices: string[];
}

/** How events are shown: lines for people, one JSON document per event, or nothing (the caller prints a summary). */
export type FollowMode = 'human' | 'ndjson' | 'silent';


/**
 * Follows a run's events to its end (stored ones first, then live), printing them as `mode`
 * says, and returns how it ended. Shared by `deploy` and `logs`.
 */
export async function followRun(client: ApiClient, runId: string, out: Output, mode: FollowMode): Promise<FollowResult> {
  const finalStatus = new Map<string, { service: string; status: string }>();
  const seen = new Set<string>();
  const run: { status: string | undefined; commit: string | null } = { status: undefined, commit: null };
  const s = out.style;

  const render = (event: RunEvent): string | undefined => {
    switch (event.event) {
      case 'run': {
        // One line per change: a new status, or the commit once it is known. The finish is the
        // `end` line, so a finished status is printed here only with its error.
        const d = event.data;
        const statusChanged = d.status !== run.status;
        const commitKnown = d.commit !== null && d.commit !== run.commit;
        run.status = d.status;
        run.commit = d.commit ?? run.commit;
        if (RUN_FINISHED_STATUSES.includes(d.status)) return d.error ? `${s.bold(`run ${d.runId}`)}: ${out.status(d.status)}${formatError(d.error)}` : undefined;
        if (statusChanged) return `${s.bold(`run ${d.runId}`)}: ${out.status(d.status)}${d.commit ? ` at ${shortCommit(d.commit)}` : ''}`;
        if (commitKnown) return `${s.bold(`run ${d.runId}`)}: at ${shortCommit(d.commit)}`;
        return undefined;
      }
      case 'deployment': {
        const d = event.data;
        // The reason is said once per deployment, the error when it fails.
        const reason = seen.has(d.deploymentId) || !d.reason ? '' : ` (${oneLine(d.reason)})`;
        seen.add(d.deploymentId);
        const line = `${s.cyan(d.service)}: ${d.action} ${out.status(d.status)}${reason}${formatError(d.error)}`;
        return d.status === 'skipped' ? s.dim(line) : line;
      }
      case 'output':
        return `${s.dim(`${event.data.service} |`)} ${event.data.line.replace(/\r?\n$/, '')}`;
      case 'end':
        return `${s.bold(`run ${event.data.runId}`)} ${out.status(event.data.status)}${run.commit ? ` at ${shortCommit(run.commit)}` : ''}: ${summarise([...finalStatus.values()])}`;
    }
  };

  const end = await client.followRunEvents(runId, {
    onEvent: (event) => {
      if (event.event === 'deployment') finalStatus.set(event.data.deploymentId, { service: event.data.service, status: event.data.status });
      if (mode === 'ndjson') out.printJsonLine(event);
      else if (mode === 'human') {
        const line = render(event);
        if (line !== undefined) out.print(line);
      }
    },
    onReconnect: ({ attempt, reason }) => out.progress(`connection to the server lost (${reason}); reconnecting (attempt ${attempt})…`),
  });
  const failedServices = [...finalStatus.values()].filter((d) => FAILED_DEPLOYMENT_STATUSES.has(d.status)).map((d) => d.service);
  return { status: end.status, failedServices };
}

function formatError(error: ApiErrorInfo | null | undefined): string {
  return error ? `: ${error.code} ${oneLine(error.message)}` : '';
}

/** `2 succeeded, 1 failed (app), 3 skipped` from the deployments' last statuses. */
function summarise(deployments: Array<{ service: string; status: string }>): string {
  if (deployments.length === 0) return 'no deployments';
  const byStatus = new Map<string, string[]>();
  for (const d of deployments) byStatus.set(d.status, [...(byStatus.get(d.status) ?? []), d.service]);
  return [...byStatus.entries()]
    .map(([status, services]) => (FAILED_DEPLOYMENT_STATUSES.has(status) ? `${services.length} ${status} (${services.join(', ')})` : `${services.length} ${status}`))
    .join(', ');
}
