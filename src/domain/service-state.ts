import { FAILED_DEPLOYMENT_STATUSES, type DeployedState, type DeploymentStatus, type ServicePin, type ServiceSource } from './types.js';

/**
 * `rolled-back`: its newest deployment failed the health gate and the last good one runs again
 * (it is pinned there); `pinned`: rolled back by hand, it runs an earlier deployment, not git.
 * `orphaned`: deployed, but its directory is gone from the checkout and it was not pruned
 * (PRUNE=false, the guard, or no removal in git to prove it); `removed`: pruned (its tombstone is
 * its newest deployment), shown only where the service is asked for by name.
 * `drifted`: the engine no longer runs what was deployed (a container stopped, removed or
 * replaced by hand; see domain/drift.ts).
 */
export type ServiceState = 'in-sync' | 'changed' | 'never-deployed' | 'failed' | 'rolled-back' | 'pinned' | 'problem' | 'self' | 'drifted' | 'orphaned' | 'removed';

/** One word for where a service stands, for tables and the `gds_services` metric. */
export function serviceState(
  service: ServiceSource,
  deployed: DeployedState | undefined,
  /** The status of the service's newest deployment. */
  last: { status: DeploymentStatus } | undefined,
  selfService: string,
  pin?: ServicePin,
  /** The drift check found that what runs is not what was deployed. */
  drifted = false,
): ServiceState {
  if (service.problem) return 'problem';
  if (service.name === selfService && !deployed) return 'self';
  // Before rolled-back and pinned: what runs is neither git's nor the pin's any more.
  if (drifted && deployed) return 'drifted';
  if (last?.status === 'rolled-back' && pin) return 'rolled-back';
  if (last && FAILED_DEPLOYMENT_STATUSES.has(last.status)) return 'failed';
  if (pin) return 'pinned';
  if (!deployed) return 'never-deployed';
  return deployed.fingerprint === service.fingerprint ? 'in-sync' : 'changed';
}
