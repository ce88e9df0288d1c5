import type { Logger } from 'pino';
import { planDeployAll, type PlanEntry } from '../domain/plan.js';
import { MISSING_DIGEST, type DeployedState, type ServiceSource } from '../domain/types.js';
import { AppError, toAppError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { Repository } from '../ports/repository.js';
import type { RuntimeRegistry } from '../ports/runtime.js';
import type { ServiceCatalog } from '../ports/service-catalog.js';
import type { DeploymentRecord, Store } from '../ports/store.js';
import { KeyedMutex, ReadWriteLock, Semaphore } from '../util/concurrency.js';


export interface PipelineDeps {
  store: Store;
  repository: Repository;
  catalog: ServiceCatalog;
  runtimes: RuntimeRegistry;
  clock: Clock;
  logger: Logger;
  selfService: string;
  parallelism: number;
}

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

  constructor(private readonly deps: PipelineDeps) {
    this.slots = new Semaphore(deps.parallelism);
  }

  async deployAllChanged(runId: string): Promise<void> {
    const { store, clock } = this.deps;
    const log = this.deps.logger.child({ runId, trigger: 'deploy-all-changed' });
    store.updateRun(runId, { status: 'running', startedAt: clock.now().toISOString() });
    let commit: string;
    try {
      ({ commit } = await this.repositoryLock.write(() => this.deps.repository.sync()));
      store.updateRun(runId, { commit });
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
    const plan = planDeployAll({ services, deployed, selfService: this.deps.selfService });
    const byName = new Map(services.map((s) => [s.name, s] as const));
    const toDeploy = plan.filter((e) => e.decision === 'deploy');
    log.info(
      { deploy: toDeploy.map((e) => e.service), unchanged: plan.filter((e) => e.decision === 'unchanged').length },
      'plan ready',
    );

    const deployments = plan.filter((e) => e.decision !== 'unchanged').map((entry) => this.recordPlanned(runId, commit, entry));
    const results = await Promise.all(
      deployments
        .filter((d) => d.action === 'deploy')
        .map((d) => this.execute(d, byName.get(d.service)!, commit, log, 'deploy')),
    );
    this.finishRun(runId, results.every(Boolean), log);
  }

  async redeployAndUpdate(runId: string, serviceName: string): Promise<void> {
    const { store, clock } = this.deps;
    const log = this.deps.logger.child({ runId, trigger: 'redeploy-and-update', service: serviceName });
    store.updateRun(runId, { status: 'running', startedAt: clock.now().toISOString() });
    let service: ServiceSource | undefined;
    let commit: string | null = null;
    try {
      [service, commit] = await this.repositoryLock.read(async () => [
        await this.deps.catalog.find(serviceName),
        await this.deps.repository.head(),
      ] as const);
      store.updateRun(runId, { commit });
    } catch (error) {
      return this.failRun(runId, log, error, 'reading the service failed');
    }
    if (!service) {
      return this.failRun(runId, log, new AppError('UNKNOWN_SERVICE', `No service directory is named ${serviceName}`), 'service is gone');
    }
    if (service.name === this.deps.selfService) {
      this.recordPlanned(runId, commit, {
        service: service.name,
        decision: 'self',
        reason: "the deploy server's own service is not updated by itself yet",
      });
      return this.finishRun(runId, true, log);
    }
    const deployment = store.createDeployment({ runId, service: service.name, action: 'update', status: 'queued', reason: 'image published', commit });
    const ok = await this.execute(deployment, service, commit, log, 'update');
    this.finishRun(runId, ok, log);
  }

  private recordPlanned(runId: string, commit: string | null, entry: PlanEntry): DeploymentRecord {
    const skipped = entry.decision !== 'deploy';
    const record = this.deps.store.createDeployment({
      runId,
      service: entry.service,
      action: skipped ? 'skip' : 'deploy',
      status: skipped ? 'skipped' : 'queued',
      reason: entry.reason,
      commit,
    });
    if (skipped) this.deps.store.updateDeployment(record.id, { finishedAt: this.deps.clock.now().toISOString() });
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
          store.updateDeployment(deployment.id, { status: 'running', startedAt: clock.now().toISOString() });
          log.info({ reason: deployment.reason }, `${kind} started`);
          let output = '';
          const ctx = { output: (chunk: string) => void (output += chunk) };
          try {
            assertDeployable(service);
            const runtime = this.deps.runtimes[service.runtime];
            let images: Record<string, string>;
            if (kind === 'deploy') {
              ({ images } = await runtime.deploy(service, ctx));
            } else {
              const result = await runtime.update(service, ctx);
              images = result.imagesAfter;
              store.updateDeployment(deployment.id, {
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
            store.updateDeployment(deployment.id, {
              status: 'succeeded',
              output,
              finishedAt: clock.now().toISOString(),
              ...(kind === 'deploy' ? { imagesAfter: images } : {}),
            });
            log.info(`${kind} succeeded`);
            return true;
          } catch (thrown) {
            const error = toAppError(thrown);
            const toolOutput = typeof error.details?.['output'] === 'string' ? (error.details['output'] as string) : '';
            store.updateDeployment(deployment.id, {
              status: 'failed',
              errorCode: error.code,
              error: error.message,
              output: output || toolOutput,
              finishedAt: clock.now().toISOString(),
            });
            log.warn({ code: error.code, err: error.message }, `${kind} failed`);
            return false;
          }
        }),
      ),
    );
  }

  private failRun(runId: string, log: Logger, thrown: unknown, message: string): void {
    const error = toAppError(thrown);
    this.deps.store.updateRun(runId, {
      status: 'failed',
      errorCode: error.code,
      error: error.message,
      finishedAt: this.deps.clock.now().toISOString(),
    });
    log.error({ code: error.code, err: error.message }, message);
  }

  private finishRun(runId: string, ok: boolean, log: Logger): void {
    this.deps.store.updateRun(runId, { status: ok ? 'succeeded' : 'failed', finishedAt: this.deps.clock.now().toISOString() });
    log.info({ status: ok ? 'succeeded' : 'failed' }, 'run finished');
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
