import type { DeployedState, ServiceSource } from '../domain/types.js';
import type { DeploymentRecord, RunRecord } from '../ports/store.js';

/** The JSON shape of a run: what the API promises, decoupled from the store's records. */
export function describeRun(run: RunRecord, deployments: DeploymentRecord[]) {
  return {
    id: run.id,
    status: run.status,
    trigger: run.trigger,
    service: run.service,
    commit: run.commit,
    error: run.error === null ? null : { code: run.errorCode, message: run.error },
    createdAt: run.createdAt,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    deployments: deployments.map((d) => ({
      id: d.id,
      service: d.service,
      action: d.action,
      status: d.status,
      reason: d.reason,
      commit: d.commit,
      error: d.error === null ? null : { code: d.errorCode, message: d.error },
      imagesBefore: d.imagesBefore,
      imagesAfter: d.imagesAfter,
      startedAt: d.startedAt,
      finishedAt: d.finishedAt,
      output: d.output,
    })),
  };
}

/** Every service in the repository beside what was last deployed of it. */
export function describeServices(
  services: ServiceSource[],
  deployed: DeployedState[],
  last: Map<string, DeploymentRecord>,
) {
  const deployedByName = new Map(deployed.map((s) => [s.service, s] as const));
  return services.map((service) => {
    const state = deployedByName.get(service.name);
    const lastDeployment = last.get(service.name);
    return {
      name: service.name,
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
            runId: lastDeployment.runId,
            status: lastDeployment.status,
            action: lastDeployment.action,
            reason: lastDeployment.reason,
            finishedAt: lastDeployment.finishedAt,
            error: lastDeployment.error === null ? null : { code: lastDeployment.errorCode, message: lastDeployment.error },
          }
        : null,
    };
  });
}
