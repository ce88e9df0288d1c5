import type { ServiceDrift } from '../domain/drift.js';
import { serviceState, serviceStateReason } from '../domain/service-state.js';
import type { DeployedState, ServicePin, ServiceSource } from '../domain/types.js';

import type { ServiceState } from '../domain/service-state.js';
export type { ServiceState } from '../domain/service-state.js';
import type { DeploymentRecord, RunRecord, RunSummaryRecord } from '../ports/store.js';

const errorOf = (record: { error: string | null; errorCode: string | null }) =>
  record.error === null ? null : { code: record.errorCode, message: record.error };

/** A deployment without its output (lists); the run detail adds the output. */
export function describeDeployment(d: DeploymentRecord) {
  return {
    id: d.id,
    runId: d.runId,
    service: d.service,
    action: d.action,
    status: d.status,
    reason: d.reason,
    commit: d.commit,
    error: errorOf(d),
    imagesBefore: d.imagesBefore,
    imagesAfter: d.imagesAfter,
    createdAt: d.createdAt,
    startedAt: d.startedAt,
    finishedAt: d.finishedAt,
  };
}

export function describeRunSummary(run: RunSummaryRecord) {
  return {
    id: run.id,
    status: run.status,
    trigger: run.trigger,
    origin: run.origin,
    service: run.service,
    commit: run.commit,
    error: errorOf(run),
    createdAt: run.createdAt,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    counts: run.counts,
    services: run.services,
  };
}

/** The JSON shape of a run: what the API promises, decoupled from the store's records. */
export function describeRun(run: RunRecord, deployments: DeploymentRecord[]) {
  return {
    id: run.id,
    status: run.status,
    trigger: run.trigger,
    origin: run.origin,
    service: run.service,
    commit: run.commit,
    error: errorOf(run),
    createdAt: run.createdAt,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    deployments: deployments.map((d) => ({ ...describeDeployment(d), output: d.output })),
  };
}

/** Every service in the repository beside what was last deployed of it. */
export function describeServices(
  services: ServiceSource[],
  deployed: DeployedState[],
  last: Map<string, DeploymentRecord>,
  selfService: string,
  /** Pinned services (rolled back): shown with the commit they run. */
  pins: readonly ServicePin[] = [],
  /** Services the drift check found drifted (drift-watch.ts). */
  drift: ReadonlyMap<string, ServiceDrift> = new Map(),
  /** Why this server leaves its own service alone (SELF_DEPLOY), when it does. */
  selfHeld?: string,
) {
  const deployedByName = new Map(deployed.map((s) => [s.service, s] as const));
  const pinByName = new Map(pins.map((p) => [p.service, p] as const));
  return services.map((service) => {
    const state = deployedByName.get(service.name);
    const lastDeployment = last.get(service.name);
    const pin = pinByName.get(service.name);
    const drifted = drift.get(service.name);
    return {
      name: service.name,
      state: serviceState(service, state, lastDeployment, selfService, pin, drifted !== undefined),
      /** Set while the engine does not run what was deployed: why, since when, and whether it is held from healing. */
      drift: drifted ? { reasons: drifted.reasons, since: drifted.since, held: drifted.held, healsLastHour: drifted.healsLastHour, healRunId: drifted.healRunId } : null,
      /** What the state means for the next run, when it is not plain (`failed (unchanged since <commit>)`), else null. */
      stateReason: serviceStateReason(service, lastDeployment, service.name === selfService ? selfHeld : undefined),
      /** Set while the service runs a rollback instead of git: the commit it runs, and why. */
      pinned: pin ? { commit: pin.commit, reason: pin.reason, deploymentId: pin.deploymentId, since: pin.pinnedAt } : null,
      /** The server's own service: updated through a helper container. */
      self: service.name === selfService,
      runtime: service.runtime,
      composeFile: service.composeFile,
      projectName: service.projectName,
      desiredFingerprint: service.fingerprint,
      deployedFingerprint: state?.fingerprint ?? null,
      inSync: state?.fingerprint === service.fingerprint,
      deployedCommit: state?.commit ?? null,
      deployedAt: state?.deployedAt ?? null,
      problem: service.problem ?? null,
      lastDeployment: lastDeployment
        ? {
            id: lastDeployment.id,
            runId: lastDeployment.runId,
            status: lastDeployment.status,
            action: lastDeployment.action,
            reason: lastDeployment.reason,
            startedAt: lastDeployment.startedAt,
            finishedAt: lastDeployment.finishedAt,
            error: errorOf(lastDeployment),
          }
        : null,
    };
  });
}

/**
 * Services the checkout no longer has, in the shape of describeServices: `orphaned` when a
 * deployed state is left (still running), `removed` when the newest deployment is the prune's
 * tombstone (asked for by name only: the services list drops them). Names in `present` are skipped.
 */
export function describeGoneServices(
  present: ReadonlySet<string>,
  deployed: DeployedState[],
  last: Map<string, DeploymentRecord>,
  options: { removed?: string[] } = {},
) {
  const states = new Map(deployed.map((s) => [s.service, s] as const));
  const names = [...new Set([...states.keys(), ...(options.removed ?? [])])].filter((name) => !present.has(name)).sort();
  return names.flatMap((name) => {
    const state = states.get(name);
    const lastDeployment = last.get(name);
    if (!state && lastDeployment?.action !== 'prune') return [];
    return [{
      name,
      state: (state ? 'orphaned' : 'removed') as ServiceState,
      pinned: null,
      self: false,
      runtime: state?.compose?.runtime ?? null,
      composeFile: state?.compose?.composeFile ?? null,
      projectName: state?.compose?.projectName ?? null,
      desiredFingerprint: null,
      deployedFingerprint: state?.fingerprint ?? null,
      inSync: false,
      deployedCommit: state?.commit ?? null,
      deployedAt: state?.deployedAt ?? null,
      problem: null,
      lastDeployment: lastDeployment ? lastDeploymentOf(lastDeployment) : null,
    }];
  });
}

function lastDeploymentOf(d: DeploymentRecord) {
  return { id: d.id, runId: d.runId, status: d.status, action: d.action, reason: d.reason, startedAt: d.startedAt, finishedAt: d.finishedAt, error: errorOf(d) };
}
