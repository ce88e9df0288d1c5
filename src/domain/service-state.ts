import { FAILED_DEPLOYMENT_STATUSES, type DeployedState, type DeploymentStatus, type ServiceSource } from './types.js';

export type ServiceState = 'in-sync' | 'changed' | 'never-deployed' | 'failed' | 'problem' | 'self';

/** One word for where a service stands, for tables and the `gds_services` metric. */
export function serviceState(
  service: ServiceSource,
  deployed: DeployedState | undefined,
  /** The status of the service's newest deployment. */
  last: { status: DeploymentStatus } | undefined,
  selfService: string,
): ServiceState {
  if (service.problem) return 'problem';
  if (service.name === selfService && !deployed) return 'self';
  if (last && FAILED_DEPLOYMENT_STATUSES.has(last.status)) return 'failed';
  if (!deployed) return 'never-deployed';
  return deployed.fingerprint === service.fingerprint ? 'in-sync' : 'changed';
}

