import type { Logger } from 'pino';
import { planDeployAll } from '../domain/plan.js';
import { decideSelfDeploy, type SelfDeployMode } from '../domain/self-deploy.js';
import type { ServiceSource } from '../domain/types.js';
import { AppError, toAppError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { SelfUpdater } from '../ports/self-updater.js';
import type { ServiceCatalog } from '../ports/service-catalog.js';
import type { DeploymentRecord, Store } from '../ports/store.js';
import type { ReadWriteLock } from '../util/concurrency.js';
import { pinsOf, rolledBackInputs } from './rolled-back.js';
import { QueueClosedError } from './run-queue.js';
import type { RunEventBus } from './run-events.js';

/**
 * The self-update protocol, as the server process runs it. When the server runs in a container
 * of its own service, replacing that container from inside would kill the process doing it, so:
 *   1. enter the queue's exclusive section: one self-update at a time, every other run finished
 *      (runs waiting to enter count as finished: they touched nothing, and waiting for them is
 *      what made two self-updates wait for each other for good);
 *   2. wait for any earlier handoff to end (a new instance may start while the helper that made
 *      it still checks it), then decide again from the store and the tree as they are now: the
 *      plan made before the wait may predate the helper's record;
 *   3. record the deployment `handed-off`, start a helper container, and wait for the helper to
 *      record the end, or for this process to be replaced (then the run is the helper's).
 * Without a container of its own (on the host, in development, beside the old server) the service
 * is left alone, unless SELF_DEPLOY=in-place deploys it in place (domain/self-deploy.ts).
 */

/** How a self-update stage ended. */
export type SelfStageResult =
  /** A deployment was recorded and ended (succeeded or not: see the record). */
  | { kind: 'ended'; ok: boolean }
  /** Re-decided after waiting: nothing left to do (the previous self-update did it). */
  | { kind: 'nothing' }
  /** The server is being replaced: the helper records the end of the deployment and of the run. */
  | { kind: 'abandoned' }
  /** The queue closed before the stage began: nothing was recorded or touched. */
  | { kind: 'not-started' };

export interface SelfStageRequest {
  runId: string;
  kind: 'deploy' | 'update';
  reason: string;
  commit: string | null;
  /** The commit whose inputs the helper puts back on failure; null: the inputs as they are. */
  rollbackCommit: string | null;
  /** deploy-all: deploy only if still changed after the wait. An explicit request deploys regardless. */
  onlyIfChanged: boolean;
  log: Logger;
}

export interface SelfUpdateStageDeps {
  store: Store;
  events: Pick<RunEventBus, 'publishDeployment'>;
  catalog: Pick<ServiceCatalog, 'find'>;
  repositoryLock: ReadWriteLock;
  clock: Clock;
  selfService: string;
  selfUpdater: SelfUpdater | undefined;
  /** The queue's exclusive section (RunQueue.exclusive); rejects with QueueClosedError on close. */
  exclusive(runId: string): Promise<() => void>;
  /** Deploys the service in place, like any other (the server does not run in a container of it). */
  deployInPlace(deployment: DeploymentRecord, service: ServiceSource): Promise<boolean>;
  /** Why a service cannot be deployed as it stands (problem, missing env file), or null. */
  problemOf(service: ServiceSource): AppError | null;
  handoffTimeoutMs: number;
  handoffPollMs?: number;
  /** SELF_DEPLOY; default `container`: without a container of its own, the own service is not deployed. */
  selfDeploy?: SelfDeployMode;
}

export class SelfUpdateStage {
  /** Set when the server shuts down: a handed-off self-update is not waited for. */
  private closing = false;

  constructor(private readonly deps: SelfUpdateStageDeps) {}

  /** Called at the start of shutdown: waits for helpers end, leaving their runs to them. */
  shutdown(): void {
    this.closing = true;
  }

  async run(request: SelfStageRequest): Promise<SelfStageResult> {
    const { store, clock, selfUpdater } = this.deps;
    const log = request.log.child({ service: this.deps.selfService, selfUpdate: true });
    let service = await this.find();
    if (!service) return this.failNew(request, new AppError('UNKNOWN_SERVICE', `No service directory is named ${this.deps.selfService}`), log);
    let instance;
    try {
      const problem = this.deps.problemOf(service);
      if (problem) throw problem;
      instance = selfUpdater ? await selfUpdater.findInstance(service) : undefined;
    } catch (error) {
      return this.failNew(request, error, log);
    }
    const decision = decideSelfDeploy({ service: this.deps.selfService, runsInOwnContainer: Boolean(selfUpdater && instance), mode: this.deps.selfDeploy ?? 'container' });
    if (decision.kind === 'held') {
      log.info({ reason: decision.reason }, 'the own service is left alone');
      // deploy-all: its plan entry said why. An explicit request fails, saying why.
      if (request.onlyIfChanged) return { kind: 'nothing' };
      return this.failNew(request, new AppError('SELF_UPDATE_FAILED', decision.reason), log);
    }
    if (!selfUpdater || !instance) {
      log.info('the server does not run in a container of its own service and SELF_DEPLOY=in-place: deploying it like any other');
      // Read and deployed under one hold of the read lock, like any other service.
      const ok = await this.deps.repositoryLock.read(async () => {
        const fresh = (await this.deps.catalog.find(this.deps.selfService)) ?? service!;
        return this.deps.deployInPlace(this.record(request), fresh);
      });
      return { kind: 'ended', ok };
    }

    let leave: () => void;
    try {
      leave = await this.deps.exclusive(request.runId);
    } catch (error) {
      if (error instanceof QueueClosedError) return { kind: 'not-started' };
      throw error;
    }
    let abandoned = false;
    let deployment: DeploymentRecord | undefined;
    try {
      for (const other of store.handedOffDeployments()) {
        if ((await this.awaitHandoff(other.id)) === 'abandoned') {
          abandoned = true;
          return { kind: 'abandoned' };
        }
      }
      // Decided now, after the wait: the previous helper may have deployed exactly these inputs.
      service = await this.find();
      if (!service) return this.failNew(request, new AppError('UNKNOWN_SERVICE', `No service directory is named ${this.deps.selfService}`), log);
      if (request.onlyIfChanged && !this.stillChanged(service)) {
        log.info('nothing left to do: the previous self-update deployed these inputs');
        return { kind: 'nothing' };
      }
      deployment = this.record(request);
      const problem = this.deps.problemOf(service);
      if (problem) throw problem;
      const helper = `gds-self-update-${deployment.id.replace(/[^a-zA-Z0-9_.-]/g, '')}`.toLowerCase();
      this.update(deployment, {
        status: 'handed-off',
        startedAt: clock.now().toISOString(),
        handoff: { kind: request.kind, rollbackCommit: request.rollbackCommit, helper, runtime: service.runtime, fingerprint: service.fingerprint },
      });
      await selfUpdater.startHelper(instance, deployment.id, service.runtime);
      log.info({ helper, image: instance.imageId, deploymentId: deployment.id }, 'self-update handed to a helper container');
      const status = await this.awaitHandoff(deployment.id);
      if (status === 'abandoned') {
        abandoned = true;
        return { kind: 'abandoned' };
      }
      log.info({ status, deploymentId: deployment.id }, 'self-update finished');
      return { kind: 'ended', ok: status === 'succeeded' };
    } catch (thrown) {
      const error = toAppError(thrown);
      deployment ??= this.record(request);
      this.update(deployment, { status: 'failed', errorCode: error.code, error: error.message, finishedAt: clock.now().toISOString() });
      log.warn({ code: error.code, err: error.message, deploymentId: deployment.id }, 'self-update failed');
      return { kind: 'ended', ok: false };
    } finally {
      // Replaced mid-handoff: nothing may start in this process any more (the queue closes too).
      if (!abandoned) leave();
    }
  }

  private find(): Promise<ServiceSource | undefined> {
    return this.deps.repositoryLock.read(() => this.deps.catalog.find(this.deps.selfService));
  }

  /** The plan's own rule for the service, against the store as it is now. */
  private stillChanged(service: ServiceSource): boolean {
    const deployed = this.deps.store.getDeployedState(service.name);
    const [entry] = planDeployAll({
      services: [service],
      deployed: new Map(deployed ? [[service.name, deployed] as const] : []),
      selfService: this.deps.selfService,
      rolledBack: rolledBackInputs(this.deps.store),
      pins: pinsOf(this.deps.store),
    });
    return entry?.decision === 'self';
  }

  private record(request: SelfStageRequest): DeploymentRecord {
    const deployment = this.deps.store.createDeployment({
      runId: request.runId,
      service: this.deps.selfService,
      action: request.kind,
      status: 'queued',
      reason: request.reason,
      commit: request.commit,
    });
    this.deps.events.publishDeployment(deployment);
    return deployment;
  }

  private failNew(request: SelfStageRequest, thrown: unknown, log: Logger): SelfStageResult {
    const error = toAppError(thrown);
    const deployment = this.record(request);
    this.update(deployment, { status: 'failed', errorCode: error.code, error: error.message, finishedAt: this.deps.clock.now().toISOString() });
    log.warn({ code: error.code, err: error.message }, 'self-update failed');
    return { kind: 'ended', ok: false };
  }

  private update(deployment: DeploymentRecord, patch: Parameters<Store['updateDeployment']>[1]): void {
    this.deps.store.updateDeployment(deployment.id, patch);
    this.deps.events.publishDeployment(this.deps.store.getDeployment(deployment.id)!);
  }

  /** Waits for the helper to record the end of a handed-off deployment; gives up after the timeout. */
  private async awaitHandoff(deploymentId: string): Promise<string> {
    const deadline = Date.now() + this.deps.handoffTimeoutMs;
    for (;;) {
      const status = this.deps.store.getDeployment(deploymentId)?.status;
      if (status !== undefined && status !== 'handed-off') return status;
      if (this.closing) return 'abandoned';
      if (Date.now() > deadline) throw new AppError('SELF_UPDATE_LOST');
      await new Promise((resolve) => setTimeout(resolve, this.deps.handoffPollMs ?? 500));
    }
  }
}
