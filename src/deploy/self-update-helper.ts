import { rm, mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { ContainerState } from '../domain/engine-state.js';
import { settleVerdict } from '../domain/settle.js';
import { SERVER_LABEL } from '../domain/server-labels.js';
import type { RuntimeKind, ServiceSource } from '../domain/types.js';
import { AppError, toAppError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { ContainerEngine } from '../ports/engine.js';
import type { Repository } from '../ports/repository.js';
import type { RuntimeRegistry } from '../ports/runtime.js';
import type { ServiceCatalog } from '../ports/service-catalog.js';
import type { DeploymentPatch, Store } from '../ports/store.js';
import { endRun } from './run-end.js';
import type { RunEventBus } from './run-events.js';

export interface SelfUpdateHelperDeps {
  store: Store;
  events: RunEventBus;
  catalog: Pick<ServiceCatalog, 'find'>;
  /** A catalog over another tree (the rollback commit written out). */
  catalogFor(root: string, listing: Pick<Repository, 'listTrackedFiles'>): Pick<ServiceCatalog, 'find'>;
  repository: Pick<Repository, 'head' | 'materialize'>;
  runtimes: RuntimeRegistry;
  engines: Record<RuntimeKind, ContainerEngine>;
  clock: Clock;
  logger: Logger;
  selfService: string;
  /** Where the rollback commit's tree is written: inside the repository mount, so bind-mount paths resolve on the host. */
  rollbackDir: string;
  healthTimeoutMs: number;
  healthPollMs?: number;
}

/**
 * The helper container's work: carry out a handed-off update of the server's own service,
 * then prove the new instance answers /health (run inside it with `exec`, so no network is
 * needed); if it does not, put back the images and inputs that ran before. It records every
 * step in the shared store, ends the deployment `succeeded`, `rolled-back` or `failed` (never
 * `handed-off`), and then ends the run.
 */
export async function runSelfUpdate(deps: SelfUpdateHelperDeps, deploymentId: string): Promise<'succeeded' | 'rolled-back' | 'failed'> {
  const { store, clock } = deps;
  const deployment = store.getDeployment(deploymentId);
  if (!deployment) throw new AppError('SELF_UPDATE_FAILED', `no deployment ${deploymentId}`);
  if (deployment.status !== 'handed-off' || !deployment.handoff) {
    throw new AppError('SELF_UPDATE_FAILED', `deployment ${deploymentId} is ${deployment.status}, not handed off`);
  }
  const handoff = deployment.handoff;
  const log = deps.logger.child({ deploymentId, runId: deployment.runId, service: deployment.service });
  let output = '';
  const live = deps.events.outputSink(deployment.runId, deployment.id, deployment.service);
  const say = (chunk: string) => {
    output += chunk;
    live.write(chunk);
  };
  const ctx = { output: say };
  const finish = (status: 'succeeded' | 'rolled-back' | 'failed', patch: DeploymentPatch, state?: Parameters<Store['recordSuccess']>[2]) => {
    live.flush();
    const final = { status, output, finishedAt: clock.now().toISOString(), ...patch };
    // A success and the deployed state in one transaction: never one without the other.
    if (state) store.recordSuccess(deployment.id, final, state);
    else store.updateDeployment(deployment.id, final);
    deps.events.publishDeployment(store.getDeployment(deployment.id)!);
    endRun(deps, deployment.runId);
    log.info({ status }, 'self-update recorded');
    return status;
  };

  const service = await deps.catalog.find(deployment.service);
  if (!service) return finish('failed', { errorCode: 'UNKNOWN_SERVICE', error: `No service directory is named ${deployment.service}` });
  const runtime = deps.runtimes[service.runtime];
  const engine = deps.engines[service.runtime];
  const before = await engine.listProjectContainers(service.projectName);
  const previousServer = before.find(isServer);
  say(`self-update (${handoff.kind}) of ${service.name} by helper ${handoff.helper}\n`);

  try {
    const result = handoff.kind === 'update' ? await runtime.update(service, ctx) : await runtime.deploy(service, ctx);
    const images = 'images' in result ? result.images : result.imagesAfter;
    // The old instance must be gone only when the action replaced it: an update that found no
    // new image keeps the same container, which must simply still answer.
    const replaced = previousServer && !(await engine.listProjectContainers(service.projectName)).some((c) => c.id === previousServer.id && c.state === 'running');
    await waitHealthy(deps, engine, service, replaced ? previousServer.id : undefined, say);
    return finish(
      'succeeded',
      { imagesAfter: images, ...('imagesBefore' in result ? { imagesBefore: result.imagesBefore } : {}) },
      { service: service.name, fingerprint: service.fingerprint, files: service.files, commit: deployment.commit, deployedAt: clock.now().toISOString(), images },
    );
  } catch (thrown) {
    const failure = toAppError(thrown);
    say(`the new instance failed: ${failure.code}: ${failure.message}\nrolling back\n`);
    log.warn({ code: failure.code, err: failure.message }, 'self-update failed; rolling back');
    try {
      await rollBack(deps, engine, service, before, handoff.rollbackCommit, ctx);
      await waitHealthy(deps, engine, service, undefined, say);
      return finish('rolled-back', {
        errorCode: failure.code,
        error: `${failure.message}; the previous instance was put back and answers /health`,
      });
    } catch (rollbackThrown) {
      const rollbackError = toAppError(rollbackThrown);
      say(`rollback failed: ${rollbackError.code}: ${rollbackError.message}\n`);
      return finish('failed', {
        errorCode: 'SELF_UPDATE_FAILED',
        error: `${failure.code}: ${failure.message}; rollback failed too: ${rollbackError.code}: ${rollbackError.message}`,
      });
    }
  }
}

const isServer = (c: ContainerState) => c.labels?.[SERVER_LABEL] === 'true';

/**
 * Waits until a running server container of the project answers its own /health (through
 * `exec`, so the helper needs no network). `notId`: a container that must be gone (the old
 * instance, when the update replaced it). Whether a server container has failed is the health
 * gate's decision (domain/settle.ts), with one difference: a server that exits at all, even 0, has
 * failed. Restarts count from the first look, so an instance kept as it was is not blamed for old ones.
 */
async function waitHealthy(
  deps: SelfUpdateHelperDeps,
  engine: ContainerEngine,
  service: ServiceSource,
  notId: string | undefined,
  say: (chunk: string) => void,
): Promise<void> {
  const started = Date.now();
  const deadline = started + deps.healthTimeoutMs;
  const restartsAtStart = new Map<string, number>();
  let last = 'no server container found';
  for (;;) {
    const containers = await engine.listProjectContainers(service.projectName);
    const servers = containers.filter((c) => isServer(c) && c.id !== notId);
    for (const server of servers) {
      restartsAtStart.set(server.id, restartsAtStart.get(server.id) ?? server.restartCount ?? 0);
      const sinceStart = { ...server, restartCount: (server.restartCount ?? 0) - restartsAtStart.get(server.id)! };
      // The settle window is /health's to prove here; only the gate's failures are taken.
      const verdict = settleVerdict(sinceStart, Date.now() - started, { settleMs: 0, healthTimeoutMs: deps.healthTimeoutMs });
      const exited = server.state === 'exited' || server.state === 'stopped' || server.state === 'dead';
      if ((verdict.kind === 'failed' && verdict.code !== 'CONTAINER_UNHEALTHY') || exited) {
        const logs = await engine.logsTail(server.id, 20);
        const reason = verdict.kind === 'failed' ? verdict.reason : `${server.name} exited with code ${server.exitCode}`;
        throw new AppError('SELF_UPDATE_UNHEALTHY', `the new instance failed: ${reason}${logs ? `: ${logs.trim().split('\n').pop()}` : ''}`);
      }
    }
    const running = servers.find((c) => c.state === 'running');
    if (running) {
      const probe = await engine.execIn(running.id, ['gitops-deploy-server', 'health'], 10_000);
      if (probe.exitCode === 0) {
        say(`new instance ${running.id.slice(0, 12)} answers /health\n`);
        return;
      }
      last = `/health: ${probe.output.trim().split('\n').pop() ?? `exit ${probe.exitCode}`}`;
    }
    if (Date.now() > deadline) {
      throw new AppError('SELF_UPDATE_UNHEALTHY', `the new instance did not answer /health within ${Math.round(deps.healthTimeoutMs / 1000)} s (${last})`);
    }
    await new Promise((resolve) => setTimeout(resolve, deps.healthPollMs ?? 1_000));
  }
}

/**
 * Puts back what ran before: every image reference points at the image id its container ran,
 * and the inputs are those of `rollbackCommit` (or the checkout's, when null or the same).
 */
async function rollBack(
  deps: SelfUpdateHelperDeps,
  engine: ContainerEngine,
  service: ServiceSource,
  before: ContainerState[],
  rollbackCommit: string | null,
  ctx: { output: (chunk: string) => void },
): Promise<void> {
  for (const container of before) {
    if (!container.imageRef) continue;
    const now = await engine.imageId(container.imageRef);
    if (now !== container.imageId) {
      ctx.output(`tagging ${container.imageId.slice(0, 12)} as ${container.imageRef} again\n`);
      await engine.tag(container.imageId, container.imageRef);
    }
  }
  let previous = service;
  const head = await deps.repository.head();
  if (rollbackCommit && rollbackCommit !== head) {
    await rm(deps.rollbackDir, { recursive: true, force: true });
    await mkdir(deps.rollbackDir, { recursive: true });
    const listing = await deps.repository.materialize(rollbackCommit, deps.rollbackDir);
    const found = await deps.catalogFor(deps.rollbackDir, listing).find(service.name);
    if (!found) throw new AppError('SELF_UPDATE_FAILED', `${service.name} does not exist at ${rollbackCommit}`);
    ctx.output(`inputs of ${rollbackCommit.slice(0, 12)}\n`);
    previous = found;
  }
  await deps.runtimes[service.runtime].deploy(previous, ctx);
}
