import type { Logger } from 'pino';
import { planDeployAll, type PlanEntry } from '../domain/plan.js';
import { MISSING_DIGEST, type DeployedState, type ServiceSource } from '../domain/types.js';
import { AppError, toAppError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { Repository } from '../ports/repository.js';
import type { SelfUpdater } from '../ports/self-updater.js';
import { rolledBackInputs } from './rolled-back.js';
import type { RuntimeRegistry } from '../ports/runtime.js';
import type { ServiceCatalog } from '../ports/service-catalog.js';
import type { DeploymentPatch, DeploymentRecord, RunPatch, Store } from '../ports/store.js';
import { KeyedMutex, ReadWriteLock, Semaphore } from '../util/concurrency.js';
import type { RunEventBus } from './run-events.js';


export interface PipelineDeps {
  store: Store;
  events: RunEventBus;
  repository: Repository;
  catalog: ServiceCatalog;
  runtimes: RuntimeRegistry;
  clock: Clock;
  logger: Logger;
  selfService: string;
  parallelism: number;
  /** Hands the own service's update to a helper container; without it the own service is deployed in place. */
  selfUpdater?: SelfUpdater;
  /**
   * Stops other runs from starting and resolves, with the function that lets them start again,
   * once every other run has finished: a self-update must not cut a deployment off halfway.
   */
  quiesce?: (runId: string) => Promise<() => void>;
  /** How long to wait for a helper's result before taking it for lost. */
  handoffTimeoutMs?: number;
  /** How often the store is read for a helper's result. */
  handoffPollMs?: number;
}

/** A self-update whose container was replaced under this process: the helper records the end. */
const ABANDONED = 'abandoned';

/**
 * The stages of a run, in order:
 *   deploy-all-changed: sync -> discover -> plan -> execute (bounded, per-service locked) -> record
 *   redeploy-and-update: discover one -> update (pull, recreate what changed) -> record
 * Each stage records its outcome; a stage failure ends the run without running later stages.
 * A failed deployment fails alone; deployed state is written only after success.
 */
export class Pipeline {
  /** Sync is the writer; compose actions and discovery are readers. */
  readonly repositoryLock = new ReadWriteLock();
  private readonly serviceLocks = new KeyedMutex();
  private readonly slots: Semaphore;

  /** Set when the server shuts down: waits for a helper's result end, leaving the run to the helper. */
  private closing = false;

  constructor(private readonly deps: PipelineDeps) {
    this.slots = new Semaphore(deps.parallelism);
  }

  /** Called on shutdown, before waiting for runs: a handed-off self-update is not waited for. */
  shutdown(): void {
    this.closing = true;
  }

  async deployAllChanged(runId: string): Promise<void> {
    const { store, clock } = this.deps;
    const log = this.deps.logger.child({ runId, trigger: 'deploy-all-changed' });
    this.setRun(runId, { status: 'running', startedAt: clock.now().toISOString() });
    let commit: string;
    // What ran before this sync: the inputs a failed self-update of a never-recorded service goes back to.
    const previousHead = await this.deps.repository.head().catch(() => null);
    try {
      ({ commit } = await this.repositoryLock.write(() => this.deps.repository.sync()));
      this.setRun(runId, { commit }, { stage: 'synced' });
      log.info({ commit }, 'repository synced');
    } catch (error) {
      return this.failRun(runId, log, error, 'sync failed; nothing deployed');
    }

    let services: ServiceSource[];
    try {
      services = await this.repositoryLock.read(() => this.deps.catalog.discover());
    } catch (error) {
      return this.failRun(runId, log, error, 'reading the services failed; nothing deployed');
    }
    const deployed = new Map(store.listDeployedStates().map((s) => [s.service, s] as const));
    const plan = planDeployAll({ services, deployed, selfService: this.deps.selfService, rolledBack: rolledBackInputs(store, this.deps.selfService) });
    const byName = new Map(services.map((s) => [s.name, s] as const));
    const toDeploy = plan.filter((e) => e.decision === 'deploy');
    log.info(
      { deploy: toDeploy.map((e) => e.service), unchanged: plan.filter((e) => e.decision === 'unchanged').length },
      'plan ready',
    );

    const deployments = plan.filter((e) => e.decision === 'deploy').map((entry) => this.recordPlanned(runId, commit, entry));
    const results = await Promise.all(deployments.map((d) => this.execute(d, byName.get(d.service)!, commit, log, 'deploy')));
    // The own service goes last, once everything else of this run is done.
    const self = plan.find((e) => e.decision === 'self');
    if (self) {
      const rollbackCommit = deployed.get(self.service)?.commit ?? previousHead;
      const result = await this.selfUpdate(runId, byName.get(self.service)!, commit, log, 'deploy', self.reason, rollbackCommit);
      if (result === ABANDONED) return;
      results.push(result);
    }
    this.finishRun(runId, results.every(Boolean), log);
  }

  /** Pulls one service's images and recreates what changed (the package-published webhook). */
  redeployAndUpdate(runId: string, serviceName: string): Promise<void> {
    return this.oneService(runId, serviceName, 'update');
  }

  /** Redeploys one service from the checkout as it stands, changed or not: an operator's request, no sync. */
  deployService(runId: string, serviceName: string): Promise<void> {
    return this.oneService(runId, serviceName, 'deploy');
  }

  private async oneService(runId: string, serviceName: string, kind: 'deploy' | 'update'): Promise<void> {
    const { store, clock } = this.deps;
    const log = this.deps.logger.child({ runId, trigger: kind === 'update' ? 'redeploy-and-update' : 'deploy-service', service: serviceName });
    this.setRun(runId, { status: 'running', startedAt: clock.now().toISOString() });
    let service: ServiceSource | undefined;
    let commit: string | null = null;
    try {
      [service, commit] = await this.repositoryLock.read(async () => [
        await this.deps.catalog.find(serviceName),
        await this.deps.repository.head(),
      ] as const);
      this.setRun(runId, { commit });
    } catch (error) {
      return this.failRun(runId, log, error, 'reading the service failed');
    }
    if (!service) {
      return this.failRun(runId, log, new AppError('UNKNOWN_SERVICE', `No service directory is named ${serviceName}`), 'service is gone');
    }
    const reason = kind === 'update' ? 'image published' : 'redeploy requested';
    if (service.name === this.deps.selfService) {
      // Inputs stay as they are (no sync): a rollback puts back the images that ran.
      const result = await this.selfUpdate(runId, service, commit, log, kind, reason, null);
      if (result !== ABANDONED) this.finishRun(runId, result, log);
      return;
    }
    const deployment = store.createDeployment({ runId, service: service.name, action: kind, status: 'queued', reason, commit });
    this.publishDeployment(deployment.id);
    const ok = await this.execute(deployment, service, commit, log, kind);
    this.finishRun(runId, ok, log);
  }

  /**
   * Updates the server's own service. When the server runs in a container of that service, the
   * work is handed to a helper container started from the same image (it survives the
   * replacement of this container, checks the new instance's /health and rolls back if needed),
   * after every other run finished; this process then waits for the helper's result in the
   * store, or is replaced meanwhile. Otherwise the service is deployed like any other.
   */
  private async selfUpdate(
    runId: string,
    service: ServiceSource,
    commit: string | null,
    runLog: Logger,
    kind: 'deploy' | 'update',
    reason: string,
    rollbackCommit: string | null,
  ): Promise<boolean | typeof ABANDONED> {
    const { store, clock, selfUpdater } = this.deps;
    const deployment = store.createDeployment({ runId, service: service.name, action: kind, status: 'queued', reason, commit });
    this.publishDeployment(deployment.id);
    const log = runLog.child({ deploymentId: deployment.id, service: service.name, selfUpdate: true });
    const fail = (thrown: unknown) => {
      const error = toAppError(thrown);
      this.setDeployment(deployment, { status: 'failed', errorCode: error.code, error: error.message, finishedAt: clock.now().toISOString() });
      log.warn({ code: error.code, err: error.message }, 'self-update failed');
      return false;
    };
    let instance;
    try {
      assertDeployable(service);
      instance = selfUpdater ? await selfUpdater.findInstance(service) : undefined;
    } catch (error) {
      return fail(error);
    }
    if (!selfUpdater || !instance) {
      log.info('the server does not run in a container of its own service: deploying it like any other');
      return this.execute(deployment, service, commit, runLog, kind);
    }
    const resume = await (this.deps.quiesce ?? (async () => () => {}))(runId);
    let abandoned = false;
    try {
      // One self-update at a time: a new instance may start a run while the helper that made it
      // is still checking it. Wait for that helper, then see whether anything is left to do.
      for (const other of store.handedOffDeployments()) await this.awaitHandoff(other.id);
      if (this.closing) {
        abandoned = true;
        return ABANDONED;
      }
      if (kind === 'deploy' && store.getDeployedState(service.name)?.fingerprint === service.fingerprint) {
        this.setDeployment(deployment, { status: 'succeeded', reason: `${reason}; already deployed by the previous self-update`, finishedAt: clock.now().toISOString() });
        return true;
      }
      const helper = `gds-self-update-${deployment.id.replace(/[^a-zA-Z0-9_.-]/g, '')}`.toLowerCase();
      this.setDeployment(deployment, { status: 'handed-off', startedAt: clock.now().toISOString(), handoff: { kind, rollbackCommit, helper, runtime: service.runtime, fingerprint: service.fingerprint } });
      await selfUpdater.startHelper(instance, deployment.id, service.runtime);
      log.info({ helper, image: instance.imageId }, 'self-update handed to a helper container');
      const status = await this.awaitHandoff(deployment.id);
      if (status === ABANDONED) {
        // This process is being replaced: nothing may start any more (the queue is closing too).
        abandoned = true;
        return ABANDONED;
      }
      log.info({ status }, 'self-update finished');
      return status === 'succeeded';
    } catch (error) {
      return fail(error);
    } finally {
      if (!abandoned) resume();
    }
  }

  /** Waits for the helper to record the end of a handed-off deployment; gives up after the timeout. */
  private async awaitHandoff(deploymentId: string): Promise<string> {
    const deadline = Date.now() + (this.deps.handoffTimeoutMs ?? 30 * 60_000);
    for (;;) {
      const status = this.deps.store.getDeployment(deploymentId)?.status;
      if (status !== undefined && status !== 'handed-off') return status;
      if (this.closing) return ABANDONED;
      if (Date.now() > deadline) throw new AppError('SELF_UPDATE_LOST');
      await new Promise((resolve) => setTimeout(resolve, this.deps.handoffPollMs ?? 500));
    }
  }

  /** Records a planned deployment as queued, before any of the run's deployments starts. */
  private recordPlanned(runId: string, commit: string | null, entry: PlanEntry): DeploymentRecord {
    const record = this.deps.store.createDeployment({ runId, service: entry.service, action: 'deploy', status: 'queued', reason: entry.reason, commit });
    this.publishDeployment(record.id);
    return record;
  }

  /** Runs one deployment under the parallelism limit and the service's lock. Resolves to success. */
  private execute(
    deployment: DeploymentRecord,
    service: ServiceSource,
    commit: string | null,
    runLog: Logger,
    kind: 'deploy' | 'update',
  ): Promise<boolean> {
    const { store, clock } = this.deps;
    const log = runLog.child({ deploymentId: deployment.id, service: service.name, runtime: service.runtime });
    return this.slots.run(() =>
      this.serviceLocks.run(service.name, () =>
        this.repositoryLock.read(async () => {
          const runtimeTag = { runtime: service.runtime };
          this.setDeployment(deployment, { status: 'running', startedAt: clock.now().toISOString() }, runtimeTag);
          log.info({ reason: deployment.reason }, `${kind} started`);
          let output = '';
          const live = this.deps.events.outputSink(deployment.runId, deployment.id, service.name);
          const ctx = {
            output: (chunk: string) => {
              output += chunk;
              live.write(chunk);
            },
          };
          try {
            assertDeployable(service);
            const runtime = this.deps.runtimes[service.runtime];
            let images: Record<string, string>;
            if (kind === 'deploy') {
              ({ images } = await runtime.deploy(service, ctx));
            } else {
              const result = await runtime.update(service, ctx);
              images = result.imagesAfter;
              this.setDeployment(deployment, {
                imagesBefore: result.imagesBefore,
                imagesAfter: result.imagesAfter,
                reason: result.recreated.length > 0 ? `image published; recreated: ${result.recreated.join(', ')}` : 'image published; no image changed',
              });
            }
            const state: DeployedState = {
              service: service.name,
              fingerprint: service.fingerprint,
              files: service.files,
              commit,
              deployedAt: clock.now().toISOString(),
              images,
            };
            store.saveDeployedState(state);
            live.flush();
            this.setDeployment(deployment, {
              status: 'succeeded',
              output,
              finishedAt: clock.now().toISOString(),
              ...(kind === 'deploy' ? { imagesAfter: images } : {}),
            }, runtimeTag);
            log.info(`${kind} succeeded`);
            return true;
          } catch (thrown) {
            const error = toAppError(thrown);
            const toolOutput = typeof error.details?.['output'] === 'string' ? (error.details['output'] as string) : '';
            // Tools that fail before streaming (a spawn error) only carry their output on the error.
            if (!output && toolOutput) live.write(`${toolOutput}\n`);
            live.flush();
            this.setDeployment(deployment, {
              status: 'failed',
              errorCode: error.code,
              error: error.message,
              output: output || toolOutput,
              finishedAt: clock.now().toISOString(),
            }, runtimeTag);
            log.warn({ code: error.code, err: error.message }, `${kind} failed`);
            return false;
          }
        }),
      ),
    );
  }

  private failRun(runId: string, log: Logger, thrown: unknown, message: string): void {
    const error = toAppError(thrown);
    this.setRun(runId, {
      status: 'failed',
      errorCode: error.code,
      error: error.message,
      finishedAt: this.deps.clock.now().toISOString(),
    });
    log.error({ code: error.code, err: error.message }, message);
  }

  private finishRun(runId: string, ok: boolean, log: Logger): void {
    // A helper may have finished the run already (a self-update that changed nothing of this process).
    const current = this.deps.store.getRun(runId)?.status;
    if (current === 'succeeded' || current === 'failed') return;
    this.setRun(runId, { status: ok ? 'succeeded' : 'failed', finishedAt: this.deps.clock.now().toISOString() });
    log.info({ status: ok ? 'succeeded' : 'failed' }, 'run finished');
  }

  /** Records a run change and tells the run's stream; a finished run's stream ends with `end`. */
  private setRun(runId: string, patch: RunPatch, extra: Record<string, unknown> = {}): void {
    this.deps.store.updateRun(runId, patch);
    const run = this.deps.store.getRun(runId);
    if (run) this.deps.events.publishRun(run, extra);
  }

  private setDeployment(deployment: DeploymentRecord, patch: DeploymentPatch, extra: Record<string, unknown> = {}): void {
    this.deps.store.updateDeployment(deployment.id, patch);
    if (patch.status !== undefined) this.publishDeployment(deployment.id, extra);
  }

  private publishDeployment(deploymentId: string, extra: Record<string, unknown> = {}): void {
    const record = this.deps.store.getDeployment(deploymentId);
    if (record) this.deps.events.publishDeployment(record, extra);
  }
}

/** A service the catalog flagged, or whose required env files are missing, fails before any command runs. */
function assertDeployable(service: ServiceSource): void {
  if (service.problem) throw new AppError(service.problem.code, service.problem.message);
  const missing = service.requiredEnvFiles.filter((file) => service.files[file] === MISSING_DIGEST);
  if (missing.length > 0) {
    throw new AppError('ENV_FILE_MISSING', `env file${missing.length > 1 ? 's' : ''} not found: ${missing.join(', ')}`, { details: { files: missing } });
  }
}
