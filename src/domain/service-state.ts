import { failedUnchangedReason } from './plan.js';
import { holdsFailedInputs } from './retry-policy.js';
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

/**
 * Why a service stands where it does, when the state word alone does not say what happens next:
 * a service that failed deterministically, whose inputs did not change since, is not retried by a push
 * (`failed (unchanged since <commit>)`, as its plan entry says); otherwise null.
 */
export function serviceStateReason(
  service: ServiceSource,
  last: { status: DeploymentStatus; fingerprint: string | null; commit: string | null; errorCode: string | null; error: string | null } | undefined,
  /** Set for the own service when this server leaves it alone (SELF_DEPLOY): why. */
  selfHeld?: string,
): string | null {
  if (selfHeld !== undefined) return selfHeld;
  // Transient failures and pulls are not held: the next run (or the retry scheduler) tries them again.
  if (last?.status === 'failed' && last.fingerprint !== null && last.fingerprint === service.fingerprint && holdsFailedInputs({ code: last.errorCode ?? 'INTERNAL', message: last.error ?? '' })) {
    return failedUnchangedReason({ fingerprint: last.fingerprint, commit: last.commit });
  }
  return null;
}
