import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { decidePrune, pruneCandidates } from '../domain/prune-plan.js';
import type { DeployedCompose, DeployedState, ServiceSource } from '../domain/types.js';
import { AppError, toAppError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { Repository } from '../ports/repository.js';
import type { ActionContext, RuntimeRegistry } from '../ports/runtime.js';
import type { Store } from '../ports/store.js';

export interface PruneSettings {
  /** GITOPS_SERVICES_DIRECTORY, relative to the repository root: where a removal is looked for. */
  servicesDirectory: string;
  /** PRUNE: false lists removed services as `orphaned` and leaves them running. */
  enabled: boolean;
  /** PRUNE_MAX_FRACTION: the guard (1 turns it off). */
  maxFraction: number;
}

export interface PruneDeps {
  store: Pick<Store, 'createDeployment' | 'updateDeployment' | 'recordPrune'>;
  repository: Pick<Repository, 'trackedRemoval'>;
  runtimes: RuntimeRegistry;
  clock: Clock;
  selfService: string;
  settings: PruneSettings;
  /** Runs `work` under the parallelism limit and the service's lock (the pipeline's). */
  withService: <T>(service: string, work: () => Promise<T>) => Promise<T>;
  /** The run's live output for one deployment. */
  outputSink: (runId: string, deploymentId: string, service: string) => { write: (chunk: string) => void; flush: () => void };
  publishDeployment: (deploymentId: string, extra?: Record<string, unknown>) => void;
  signal: AbortSignal;
}

const INTERRUPTED = 'The server stopped while the prune was running';

/**
 * The prune stage of a deploy-all run, before its deployments (a renamed service's new
 * directory may want the old one's ports). Deployed services the checkout no longer has are
 * taken down when git shows their directory removed since their deployed commit; the rest are
 * logged `orphaned` (the views list them). Each prune is a deployment with action `prune` (the
 * tombstone); its success deletes the deployed state. Resolves to PRUNE_REFUSED when the guard
 * refuses (nothing was touched); a failed prune fails alone and is tried again next run.
 */
export async function pruneRemoved(
  deps: PruneDeps,
  input: {
    runId: string;
    commit: string;
    services: readonly ServiceSource[];
    deployed: readonly DeployedState[];
    log: Logger;
    /** Only ask the guard, touch nothing (the services directory could not be read at all). */
    guardOnly?: boolean;
  },
): Promise<AppError | undefined> {
  const { log } = input;
  const candidates = pruneCandidates(input.deployed, new Set(input.services.map((s) => s.name)), deps.selfService);
  if (candidates.length === 0) return undefined;
  const removedInGit = new Set<string>();
  for (const state of candidates) {
    if (state.commit && (await removedSince(deps, state, input.commit, log))) removedInGit.add(state.service);
  }
  const decision = decidePrune({ candidates, removedInGit, deployedCount: input.deployed.length, prune: deps.settings.enabled, maxFraction: deps.settings.maxFraction });
  for (const { service, why } of decision.orphaned) log.warn({ service, why }, 'orphaned service left running');
  if (decision.refused) {
    const { count, deployed, message } = decision.refused;
    return new AppError('PRUNE_REFUSED', message, { details: { services: candidates.map((s) => s.service).sort(), count, deployed } });
  }
  if (input.guardOnly) return undefined;
  await Promise.all(decision.prune.map((state) => pruneOne(deps, input.runId, input.commit, state, state.compose!, log)));
  return undefined;
}

async function removedSince(deps: PruneDeps, state: DeployedState, commit: string, log: Logger): Promise<boolean> {
  const dir = path.posix.join(deps.settings.servicesDirectory, state.service);
  try {
    return await deps.repository.trackedRemoval(state.commit!, commit, dir);
  } catch (error) {
    // A deployed commit git no longer has (a force-push, then gc): no proof, so no prune.
    log.warn({ service: state.service, code: toAppError(error).code, err: toAppError(error).message }, 'cannot tell whether the service was removed in git');
    return false;
  }
}

async function pruneOne(deps: PruneDeps, runId: string, commit: string, state: DeployedState, compose: DeployedCompose, runLog: Logger): Promise<void> {
  const { store, clock } = deps;
  const dir = path.posix.join(deps.settings.servicesDirectory, state.service);
  const reason = `${dir} removed in git (deployed at ${state.commit?.slice(0, 12) ?? 'unknown commit'}); containers and networks taken down, volumes kept`;
  const deployment = store.createDeployment({ runId, service: state.service, action: 'prune', status: 'queued', reason, commit });
  const tag = { runtime: compose.runtime };
  deps.publishDeployment(deployment.id, tag);
  const log = runLog.child({ deploymentId: deployment.id, service: state.service, runtime: compose.runtime });
  await deps.withService(state.service, async () => {
    let output = '';
    const live = deps.outputSink(runId, deployment.id, state.service);
    const ctx: ActionContext = { output: (chunk) => ((output += chunk), live.write(chunk)), signal: deps.signal };
    try {
      if (deps.signal.aborted) throw new AppError('PROCESS_ABORTED', INTERRUPTED);
      store.updateDeployment(deployment.id, { status: 'running', startedAt: clock.now().toISOString() });
      deps.publishDeployment(deployment.id, tag);
      log.info({ project: compose.projectName }, 'prune started');
      const runtime = deps.runtimes[compose.runtime];
      if (!runtime.down) throw new AppError('INTERNAL', `the ${compose.runtime} runtime cannot take services down`);
      await runtime.down({ ...compose, service: state.service }, ctx);
      live.flush();
      store.recordPrune(deployment.id, { status: 'succeeded', output, finishedAt: clock.now().toISOString() }, state.service);
      deps.publishDeployment(deployment.id, tag);
      log.info('prune succeeded');
    } catch (thrown) {
      const error = toAppError(thrown);
      const interrupted = deps.signal.aborted;
      live.flush();
      try {
        store.updateDeployment(deployment.id, interrupted
          ? { status: 'interrupted', errorCode: 'DEPLOYMENT_INTERRUPTED', error: INTERRUPTED, output, finishedAt: clock.now().toISOString() }
          : { status: 'failed', errorCode: error.code, error: error.message, output, finishedAt: clock.now().toISOString() });
        deps.publishDeployment(deployment.id, tag);
      } catch (recordError) {
        log.error({ code: toAppError(recordError).code, cause: error.code }, 'prune failed and could not be recorded');
        return;
      }
      log.warn({ code: error.code, err: error.message }, interrupted ? 'prune interrupted' : 'prune failed');
    }
  });
}

/**
 * The compose file as just deployed, for the store (what a later prune takes down). Undefined
 * when it cannot be read: the state then keeps the compose file stored before.
 */
export async function readDeployedCompose(service: ServiceSource): Promise<DeployedCompose | undefined> {
  try {
    const text = await readFile(path.join(service.dir, service.composeFile), 'utf8');
    return { runtime: service.runtime, projectName: service.projectName, composeFile: service.composeFile, text };
  } catch {
    return undefined;
  }
}
