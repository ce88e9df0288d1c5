import { changedFiles } from './fingerprint.js';
import type { DeployedState, ServiceSource } from './types.js';

export type PlanDecision = 'deploy' | 'unchanged' | 'self';

export interface PlanEntry {
  service: string;
  decision: PlanDecision;
  /** Human-readable why, recorded on the deployment (`new service`, `changed: a, b`, ...). */
  reason: string;
  /** Files whose digest differs from the deployed one (empty for new or unchanged services). */
  changedFiles: string[];
}

export interface PlanInput {
  services: readonly ServiceSource[];
  deployed: ReadonlyMap<string, DeployedState>;
  /** The server's own service (DEPLOY_SERVER_NAME): when changed, decided `self` (updated last, by a helper). */
  selfService: string;
}

/**
 * Decides, per service, what deploy-all-changed does. Pure: the same repository state and
 * deployed state always give the same plan, which makes a dry run the same code path.
 * Services deleted from the repository are left running (pruning is a later, opt-in feature).
 */
export function planDeployAll(input: PlanInput): PlanEntry[] {
  return input.services.map((service): PlanEntry => {
    // The own service changes like any other, but is carried out last, by a helper container.
    const changedDecision = service.name === input.selfService ? 'self' : 'deploy';
    const deployed = input.deployed.get(service.name);
    if (!deployed) return { service: service.name, decision: changedDecision, reason: 'new service', changedFiles: [] };
    if (deployed.fingerprint === service.fingerprint) {
      return { service: service.name, decision: 'unchanged', reason: 'unchanged since the last successful deployment', changedFiles: [] };
    }
    const changed = changedFiles(deployed.files, service.files);
    return {
      service: service.name,
      decision: changedDecision,
      reason: changed.length > 0 ? `changed: ${changed.join(', ')}` : 'changed: fingerprint rules',
      changedFiles: changed,
    };
  });
}
