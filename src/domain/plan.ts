import { changedFiles } from './fingerprint.js';
import type { DeployedState, ServicePin, ServiceSource } from './types.js';

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
  /**
   * Fingerprints whose deployment was rolled back, by service (a self-update, or a health-gate
   * failure): those inputs are not tried again by a plan (each try would break the service and
   * roll back again) until they change.
   */
  rolledBack?: ReadonlyMap<string, string>;
  /**
   * Pinned services (rolled back, automatically or by hand): left alone while their inputs in git
   * are still those they were pinned against; once those change, the service follows git again.
   */
  pins?: ReadonlyMap<string, ServicePin>;
  /**
   * Services whose newest deployment failed, with the inputs it failed with: not tried again by
   * every unrelated push (each try fails the same way and notifies again) until they change. A
   * transient failure is retried by the retry scheduler instead, an explicit redeploy any time.
   */
  failed?: ReadonlyMap<string, FailedInputs>;
  /**
   * Set when the own service must not be deployed from here (the server does not run in a
   * container of it, and SELF_DEPLOY is not `in-place`): why, said by its plan entry.
   */
  selfHeld?: string;
}

/** The inputs a service's newest deployment failed with, and the commit they were read at. */
export interface FailedInputs {
  fingerprint: string;
  commit: string | null;
}

/** Why a service whose failed inputs did not change is not tried again, for the plan and the state. */
export function failedUnchangedReason(failed: FailedInputs): string {
  const since = failed.commit ? failed.commit.slice(0, 12) : 'its last deployment';
  return `failed (unchanged since ${since}): not retried until its inputs change; deploy it to try again`;
}

/** Why a pinned service is left alone, for the plan and its preview. */
export function pinnedReason(pin: ServicePin): string {
  const commit = pin.commit ? pin.commit.slice(0, 12) : 'its previous inputs';
  const why = pin.reason === 'rolled-back' ? 'rolled back after a failed health gate' : 'rolled back by hand';
  return `pinned to ${commit} (${why}): left alone until its inputs change in git; unpin or deploy it to follow git now`;
}

/**
 * Decides, per service, what deploy-all-changed does. Pure: the same repository state and
 * deployed state always give the same plan, which makes a dry run the same code path.
 * Services deleted from the repository are left running (pruning is a later, opt-in feature).
 */
export function planDeployAll(input: PlanInput): PlanEntry[] {
  return input.services.map((service): PlanEntry => {
    const deployed = input.deployed.get(service.name);
    if (deployed && deployed.fingerprint === service.fingerprint) {
      return { service: service.name, decision: 'unchanged', reason: 'unchanged since the last successful deployment', changedFiles: [] };
    }
    const changed = deployed ? changedFiles(deployed.files, service.files) : [];
    const pin = input.pins?.get(service.name);
    if (pin && pin.gitFingerprint === service.fingerprint) {
      return { service: service.name, decision: 'unchanged', reason: pinnedReason(pin), changedFiles: changed };
    }
    if (input.rolledBack?.get(service.name) === service.fingerprint) {
      return {
        service: service.name,
        decision: 'unchanged',
        reason: service.name === input.selfService
          ? 'not retried: a self-update with these inputs was rolled back; push a fix, or redeploy it to try again'
          : 'not retried: a deployment with these inputs failed the health gate and was rolled back; push a fix, or redeploy it to try again',
        changedFiles: changed,
      };
    }
    const failed = input.failed?.get(service.name);
    if (failed && failed.fingerprint === service.fingerprint) {
      return { service: service.name, decision: 'unchanged', reason: failedUnchangedReason(failed), changedFiles: changed };
    }
    if (service.name === input.selfService && input.selfHeld !== undefined) {
      return { service: service.name, decision: 'unchanged', reason: input.selfHeld, changedFiles: changed };
    }
    return {
      service: service.name,
      // The own service changes like any other, but is carried out last, by a helper container.
      decision: service.name === input.selfService ? 'self' : 'deploy',
      reason: !deployed ? 'new service' : changed.length > 0 ? `changed: ${changed.join(', ')}` : 'changed: fingerprint rules',
      changedFiles: changed,
    };
  });
}
