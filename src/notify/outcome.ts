/**
 * What a finished run means to a person: pure, no I/O. The server hands over one RunOutcome per
 * run and gets back at most one Notification, so a run of twenty services is one message, not
 * twenty, and a run that changed nothing says nothing.
 */

import { FAILED_DEPLOYMENT_STATUSES } from '../domain/types.js';

/** A finished run as the notifier sees it: plain data, copied from the store by the caller. */
export interface RunOutcome {
  /** DEPLOY_SERVER_NAME, to tell servers apart in a shared channel. */
  serverName: string;
  /** Link to the run in the dashboard (e.g. https://deploy.example.com/#/runs/<id>), or null. */
  dashboardUrl: string | null;
  run: {
    id: string;
    trigger: 'deploy-all-changed' | 'redeploy-and-update' | 'deploy-service' | 'rollback-service';
    service: string | null;
    status: 'succeeded' | 'failed';
    commit: string | null;
    error: { code: string; message: string } | null;
    startedAt: string | null;
    finishedAt: string | null;
  };
  deployments: Array<{
    service: string;
    action: 'deploy' | 'update' | 'skip' | 'prune';
    status: string;
    reason: string;
    error: { code: string; message: string } | null;
    /** Status of this service's previous non-skip deployment, null if none. */
    previousStatus: string | null;
    /** A failure like the previous deployment's (same inputs, same code): notified then, not again. */
    repeated?: boolean;
  }>;
}

/** `drift`: not a run but a service whose containers are not what was deployed (notify/drift-message.ts). */
export type NotificationKind = 'failure' | 'recovery' | 'success' | 'drift';

/** One message about one run, ready for any channel. */
export interface Notification {
  kind: NotificationKind;
  /** One line, for a push title or a chat message's first line. */
  title: string;
  /** Plain text, several lines: services, commit, trigger, errors, dashboard link. */
  text: string;
  failed: string[];
  recovered: string[];
  succeeded: string[];
  /** A run's outcome; for a drift notice, only `serverName`, `dashboardUrl` and `run.id` (the delivery id) mean anything. */
  outcome: RunOutcome;
  /** Set on drift notices: what the webhook channel sends instead of the run. */
  drift?: DriftDetails;
}

/** A drift notice as the generic webhook sends it. */
export interface DriftDetails {
  kind: 'drifted' | 'held';
  service: string;
  reasons: string[];
  since: string;
  commit: string | null;
  healRunId: string | null;
  held: string | null;
}

/** Error messages can carry a compose tool's whole stderr; a notification needs the gist. */
export const MAX_ERROR_CHARS = 300;
/** Beyond this many names a title lists the first few and a count, so it stays one line. */
const MAX_TITLE_SERVICES = 5;

type Deployment = RunOutcome['deployments'][number];

/**
 * Decides whether a run deserves a message and writes it. Failure beats recovery beats success;
 * success is only reported when asked for (it is noise for most operators); a run that deployed
 * nothing and failed nothing returns null.
 */
export function buildNotification(outcome: RunOutcome, opts: { onSuccess: boolean }): Notification | null {
  const { run } = outcome;
  const acted = sortByService(outcome.deployments.filter((d) => d.action !== 'skip'));
  const everyFailure = acted.filter((d) => FAILED_DEPLOYMENT_STATUSES.has(d.status));
  // A failure already notified (a retry failing the same way) is not news; it is listed only beside news.
  const failedDeployments = everyFailure.filter((d) => !d.repeated);
  const stillFailing = everyFailure.filter((d) => d.repeated);
  const succeededDeployments = acted.filter((d) => d.status === 'succeeded');
  const recoveredDeployments = succeededDeployments.filter((d) => d.previousStatus !== null && FAILED_DEPLOYMENT_STATUSES.has(d.previousStatus));
  const plainSucceeded = succeededDeployments.filter((d) => !recoveredDeployments.includes(d));

  const failed = failedDeployments.map((d) => d.service);
  const recovered = recoveredDeployments.map((d) => d.service);
  const succeeded = plainSucceeded.map((d) => d.service);
  // A run can fail before any deployment exists (sync, discovery, unknown service): still a failure.
  const runFailedItself = run.status === 'failed' && everyFailure.length === 0;

  let kind: NotificationKind;
  if (failed.length > 0 || runFailedItself) kind = 'failure';
  else if (recovered.length > 0) kind = 'recovery';
  else if (opts.onSuccess && succeeded.length > 0) kind = 'success';
  else return null;

  // A failure the server already undid (health gate, then rollback) reads as such.
  const rolledBack = failedDeployments.length > 0 && failedDeployments.every((d) => d.status === 'rolled-back');
  const title = buildTitle(outcome, kind, { failed, recovered, succeeded }, rolledBack);
  const lines: string[] = [rolledBack ? `Deployment failed on ${outcome.serverName} and was rolled back.` : headline(outcome.serverName, kind)];
  lines.push(`Commit: ${run.commit ?? 'unknown'}`);
  lines.push(`Trigger: ${run.trigger}${run.service ? ` (${run.service})` : ''}, run ${run.id}`);
  const duration = formatDuration(run.startedAt, run.finishedAt);
  if (duration) lines.push(`Duration: ${duration}`);
  if (run.error) lines.push(`Run error: ${formatError(run.error)}`);
  else if (runFailedItself) lines.push('Run error: the run failed without a recorded error');

  pushSection(lines, 'Failed', failedDeployments);
  pushSection(lines, 'Still failing (notified before)', stillFailing);
  pushSection(lines, 'Recovered', recoveredDeployments);
  pushSection(lines, 'Succeeded', plainSucceeded);
  pushSection(lines, 'Skipped', sortByService(outcome.deployments.filter((d) => d.action === 'skip')));
  if (outcome.dashboardUrl) lines.push('', `Details: ${outcome.dashboardUrl}`);

  return { kind, title, text: lines.join('\n'), failed, recovered, succeeded, outcome };
}

/** The first 7 hex digits, as git and every forge show them. */
export function shortCommit(commit: string | null): string | null {
  return commit ? commit.slice(0, 7) : null;
}

/** `CODE: message` on one line, cut to MAX_ERROR_CHARS so one bad error cannot flood a channel. */
export function formatError(error: { code: string; message: string }): string {
  return `${error.code}: ${truncate(oneLine(error.message), MAX_ERROR_CHARS)}`;
}

/** Cuts at `max` characters (code points, so no half emoji), marking the cut. */
export function truncate(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  return `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}

function buildTitle(outcome: RunOutcome, kind: NotificationKind, services: { failed: string[]; recovered: string[]; succeeded: string[] }, rolledBack: boolean): string {
  const { run } = outcome;
  let subject: string;
  if (kind === 'failure') {
    subject = services.failed.length > 0 ? listNames(services.failed) : run.service ?? run.error?.code ?? 'run failed';
  } else if (kind === 'recovery') {
    subject = listNames(services.recovered);
  } else {
    subject = listNames(services.succeeded);
  }
  const verb = rolledBack ? 'deploy rolled back' : kind === 'failure' ? 'deploy failed' : kind === 'recovery' ? 'deploy recovered' : 'deploy succeeded';
  const commit = shortCommit(run.commit);
  return `[${outcome.serverName}] ${verb}: ${subject}${commit ? ` (commit ${commit})` : ''}`;
}

function headline(serverName: string, kind: NotificationKind): string {
  if (kind === 'failure') return `Deployment failed on ${serverName}.`;
  if (kind === 'recovery') return `Deployment recovered on ${serverName}.`;
  return `Deployment succeeded on ${serverName}.`;
}

function listNames(names: string[]): string {
  if (names.length <= MAX_TITLE_SERVICES) return names.join(', ');
  return `${names.slice(0, MAX_TITLE_SERVICES).join(', ')} and ${names.length - MAX_TITLE_SERVICES} more`;
}

function pushSection(lines: string[], heading: string, deployments: Deployment[]): void {
  if (deployments.length === 0) return;
  lines.push('', `${heading}:`);
  for (const d of deployments) {
    const was = heading === 'Recovered' && d.previousStatus ? `, was ${d.previousStatus}` : '';
    const action = d.action === 'skip' ? '' : ` ${d.action}`;
    lines.push(`- ${d.service}:${action} ${d.status === 'rolled-back' ? 'rolled back' : d.status}${was} (${oneLine(d.reason)})`);
    if (d.error) lines.push(`  ${formatError(d.error)}`);
  }
}

/** Stable order whatever order the store returned; plain comparison, not locale-dependent. */
function sortByService(deployments: Deployment[]): Deployment[] {
  return [...deployments].sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
}

/** Multi-line tool output becomes one line, so the message keeps its shape. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function formatDuration(startedAt: string | null, finishedAt: string | null): string | null {
  if (!startedAt || !finishedAt) return null;
  const ms = Date.parse(finishedAt) - Date.parse(startedAt);
  if (!Number.isFinite(ms) || ms < 0) return null;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.floor((ms % 60_000) / 1000)} s`;
}
