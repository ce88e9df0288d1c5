/**
 * The message of a drift notice: pure, no I/O. One per drift episode of a service (and one more
 * when self-heal's flap limit holds it), sent through the same channels as run notifications.
 */
import type { DriftDetails, Notification } from './outcome.js';
import { shortCommit, truncate } from './outcome.js';

/** Beyond this many findings the text says how many more there are. */
const MAX_REASONS = 10;

export function buildDriftNotification(notice: DriftDetails, context: { serverName: string; publicUrl: string | undefined }): Notification {
  const commit = shortCommit(notice.commit);
  const title = notice.kind === 'held'
    ? `[${context.serverName}] drift not healed: ${notice.service} (${notice.held ?? 'held'})`
    : `[${context.serverName}] drifted: ${notice.service}${commit ? ` (deployed ${commit})` : ''}`;
  const lines = [
    notice.kind === 'held'
      ? `${notice.service} keeps drifting on ${context.serverName}; self-heal ${notice.held ?? 'holds it'} and leaves it as it is.`
      : `${notice.service} on ${context.serverName} no longer runs what was deployed.`,
    `Deployed commit: ${notice.commit ?? 'unknown'}`,
    `Since: ${notice.since}`,
    '',
    'Found:',
    ...notice.reasons.slice(0, MAX_REASONS).map((r) => `- ${truncate(r, 300)}`),
  ];
  if (notice.reasons.length > MAX_REASONS) lines.push(`- and ${notice.reasons.length - MAX_REASONS} more`);
  if (notice.kind === 'drifted') {
    lines.push('', notice.healRunId ? `Self-heal: redeploying it (run ${notice.healRunId}).` : notice.held ? `Self-heal: ${notice.held}.` : 'Redeploy it to converge it again (SELF_HEAL=true does it by itself).');
  }
  const dashboardUrl = context.publicUrl ? `${context.publicUrl}/#/services/${encodeURIComponent(notice.service)}` : null;
  if (dashboardUrl) lines.push('', `Details: ${dashboardUrl}`);
  return {
    kind: 'drift',
    title,
    text: lines.join('\n'),
    failed: [notice.service],
    recovered: [],
    succeeded: [],
    // Channels read the server name, the link and a delivery id (the same on a retry) from here.
    outcome: {
      serverName: context.serverName,
      dashboardUrl,
      run: { id: `drift-${notice.service}-${notice.kind}-${Date.parse(notice.since) || 0}`, trigger: 'deploy-service', service: notice.service, status: 'failed', commit: notice.commit, error: null, startedAt: notice.since, finishedAt: null },
      deployments: [],
    },
    drift: notice,
  };
}
