import type { Logger } from 'pino';
import { planDeployAll, type PlanEntry } from '../domain/plan.js';
import { decideSelfDeploy, type SelfDeployMode } from '../domain/self-deploy.js';
import { MISSING_DIGEST, type DeployedState, type ServicePin, type ServiceSource } from '../domain/types.js';
import { AppError, toAppError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { Repository } from '../ports/repository.js';
import type { SelfUpdater } from '../ports/self-updater.js';
import { failedInputs, pinsOf, rolledBackInputs } from './rolled-back.js';
import { GATE_FAILURE_CODES, rollBackService, type RollbackDeps } from './rollback.js';
import type { ActionContext } from '../ports/runtime.js';
import type { RuntimeRegistry } from '../ports/runtime.js';
import type { ServiceCatalog } from '../ports/service-catalog.js';
import type { DeploymentPatch, DeploymentRecord, RunPatch, Store } from '../ports/store.js';
import { KeyedMutex, ReadWriteLock, Semaphore } from '../util/concurrency.js';
import { FETCH_LOCK } from './plan-preview.js';
import { endRun } from './run-end.js';
import type { RunEventBus } from './run-events.js';
import { SelfUpdateStage } from './self-update.js';
import { pruneRemoved, readDeployedCompose, type PruneSettings } from './prune.js';

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
   * The queue's exclusive section (RunQueue.exclusive): a self-update enters it so that no other
   * run is cut off halfway. Without it (tests) the section is free.
   */
  exclusive?: (runId: string) => Promise<() => void>;
  /** Told every discovery of the whole checkout, with the commit it was read at (the views' snapshot). */
  onDiscovered?: (commit: string, services: ServiceSource[]) => void;
  /** Told every single service read by a one-service run. */
  onServiceRead?: (service: ServiceSource) => void;
  /** How long to wait for a helper's result before taking it for lost. */
  handoffTimeoutMs?: number;
  /** How often the store is read for a helper's result. */
  handoffPollMs?: number;
  /** What a rollback after a health-gate failure needs; without it a gate failure stays a failure. */
  rollback?: RollbackDeps;
  /** ROLLBACK_ON_FAILURE (default true); a service opts out with `x-gitops: { rollback: false }`. */
  rollbackOnFailure?: boolean;
  /** SELF_DEPLOY (default `container`): whether the own service is deployed in place when the server does not run in a container of it. */
  selfDeploy?: SelfDeployMode;
  /** Pruning of services removed in git (PRUNE, PRUNE_MAX_FRACTION); without it nothing is pruned. */
  prune?: PruneSettings;
}

/**
 * How a run ended, for the dispatcher: `interrupted` runs are queued again for the next instance,
 * `not-started` runs (nothing recorded, nothing touched) go back to `queued` as they are.
 */
export type RunResult = 'ended' | 'interrupted' | 'not-started' | 'abandoned';

const INTERRUPTED_MESSAGE = 'The server stopped while the deployment was running (aborted at the end of the shutdown grace)';

/**
 * The stages of a run, in order:
 *   deploy-all-changed: sync -> discover -> plan -> prune -> execute (bounded, per-service locked) -> self -> record
 *   redeploy-and-update / deploy-service: read one -> update or deploy -> record
 *   rollback-service: read one -> deploy an earlier success's inputs again -> record and pin
 * A deployment that fails the health gate goes on to a rollback stage (afterGateFailure).
 * Each stage records its outcome; a stage failure ends the run without running later stages.
 * A failed deployment fails alone; deployed state is written only after success, in the same
 * transaction as the success. A run reads the tree once, under one hold of the repository's read
 * lock, from discovery to the last deployment: what is recorded is what was deployed.
 */
export class Pipeline {
  /** Sync is the writer; runs reading the tree are readers. Views never take it (they use a snapshot). */
  readonly repositoryLock = new ReadWriteLock();
  /** One git fetch at a time (a sync's, a plan preview's); previews take only this lock. */
  readonly fetchLock = new KeyedMutex();
  private readonly serviceLocks = new KeyedMutex();
  private readonly slots: Semaphore;
  private readonly abort = new AbortController();
  private readonly self: SelfUpdateStage;

  constructor(private readonly deps: PipelineDeps) {
    this.slots = new Semaphore(deps.parallelism);
    this.self = new SelfUpdateStage({
      store: deps.store,
      events: deps.events,
      catalog: deps.catalog,
      repositoryLock: this.repositoryLock,
      clock: deps.clock,
      selfService: deps.selfService,
      selfUpdater: deps.selfUpdater,
      exclusive: deps.exclusive ?? (async () => () => {}),
      deployInPlace: (deployment, service) => this.execute(deployment, service, deployment.commit, deps.logger.child({ runId: deployment.runId }), deployment.action === 'update' ? 'update' : 'deploy'),
      problemOf: deployProblem,
      handoffTimeoutMs: deps.handoffTimeoutMs ?? 30 * 60_000,
      ...(deps.selfDeploy ? { selfDeploy: deps.selfDeploy } : {}),
      ...(deps.handoffPollMs !== undefined ? { handoffPollMs: deps.handoffPollMs } : {}),
    });
  }

  /** The start of shutdown: a handed-off self-update is not waited for (its helper ends it). */
  shutdown(): void {
    this.self.shutdown();
  }

  /** The end of the shutdown grace: every running command is stopped; its deployment ends `interrupted`. */
  abortRunning(): void {
    this.abort.abort();
  }

  async deployAllChanged(runId: string): Promise<RunResult> {
    const { store, clock } = this.deps;
    const log = this.deps.logger.child({ runId, trigger: 'deploy-all-changed' });
    return this.guard(runId, log, async () => {
      this.setRun(runId, { status: 'running', startedAt: clock.now().toISOString() });
      let commit: string;
      // What ran before this sync: the inputs a failed self-update of a never-recorded service goes back to.
      const previousHead = await this.deps.repository.head().catch(() => null);
      try {
        ({ commit } = await this.repositoryLock.write(() => this.fetchLock.run(FETCH_LOCK, () => this.deps.repository.sync(this.abort.signal))));
        this.setRun(runId, { commit }, { stage: 'synced' });
        log.info({ commit }, 'repository synced');
      } catch (error) {
        return this.failRun(runId, log, error, 'sync failed; nothing deployed');
      }

      const stage = await this.repositoryLock.read(async () => {
        let services: ServiceSource[];
        try {
          services = await this.deps.catalog.discover();
        } catch (error) {
          // No services directory at all (every service removed in one push, a wrong
          // GITOPS_SERVICES_DIRECTORY): nothing is pruned, but the guard's code says it best.
          const refused = await this.pruneStage(runId, commit, [], store.listDeployedStates(), log, true).catch(() => undefined);
          this.failRun(runId, log, refused ?? error, 'reading the services failed; nothing deployed');
          return undefined;
        }
        this.deps.onDiscovered?.(commit, services);
        const deployed = new Map(store.listDeployedStates().map((s) => [s.service, s] as const));
        const selfHeld = await this.selfHeld(services);
        const plan = planDeployAll({ services, deployed, selfService: this.deps.selfService, rolledBack: rolledBackInputs(store), pins: pinsOf(store), failed: failedInputs(store), ...(selfHeld ? { selfHeld } : {}) });
        const byName = new Map(services.map((s) => [s.name, s] as const));
        const toDeploy = plan.filter((e) => e.decision === 'deploy');
        log.info({ deploy: toDeploy.map((e) => e.service), unchanged: plan.filter((e) => e.decision === 'unchanged').length }, 'plan ready');
        const refused = await this.pruneStage(runId, commit, services, [...deployed.values()], log);
        if (refused) {
          this.failRun(runId, log, refused, 'pruning refused; nothing removed or deployed');
          return undefined;
        }
        const deployments = toDeploy.map((entry) => this.recordPlanned(runId, commit, entry));
        await Promise.all(deployments.map((d) => this.execute(d, byName.get(d.service)!, commit, log, 'deploy')));
        return { self: plan.find((e) => e.decision === 'self'), deployed };
      });
      if (!stage) return 'ended';

      // The own service goes last, once everything else of this run is done.
      if (stage.self && !this.abort.signal.aborted) {
        const rollbackCommit = stage.deployed.get(stage.self.service)?.commit ?? previousHead;
        const result = await this.self.run({ runId, kind: 'deploy', reason: stage.self.reason, commit, rollbackCommit, onlyIfChanged: true, log });
        if (result.kind === 'abandoned') return 'abandoned';
        if (result.kind === 'not-started') {
          // The server is being replaced (another self-update got there first) before this run's
          // own stage began: the run goes back to the queue as it is, and the next instance
          // carries it on under the same id (what it deployed already is unchanged by then).
          this.setRun(runId, { status: 'queued' });
          log.info('stopped before the self stage; the next instance carries the run on');
          return 'not-started';
        }
      }
      return this.finish(runId, log);
    });
  }

  /** Pulls one service's images and recreates what changed (the package-published webhook). */
  redeployAndUpdate(runId: string, serviceName: string): Promise<RunResult> {
    return this.oneService(runId, serviceName, 'update');
  }

  /**
   * Redeploys one service from the checkout as it stands, changed or not: an operator's request,
   * no sync. `force` recreates every container of it, even those that run their configuration.
   */
  deployService(runId: string, serviceName: string, options: { force?: boolean } = {}): Promise<RunResult> {
    return this.oneService(runId, serviceName, 'deploy', options.force === true);
  }

  /**
   * Deploys the inputs of one of the service's earlier successful deployments again (the run's
   * target) and pins the service there: deploy-all leaves it alone until git changes it.
   */
  rollbackService(runId: string, serviceName: string): Promise<RunResult> {
    const { store, clock } = this.deps;
    const log = this.deps.logger.child({ runId, trigger: 'rollback-service', service: serviceName });
    return this.guard(runId, log, async () => {
      this.setRun(runId, { status: 'running', startedAt: clock.now().toISOString() });
      if (serviceName === this.deps.selfService) {
        return this.failRun(runId, log, new AppError('SELF_UPDATE_FAILED', "The server's own service is not rolled back on demand (its self-update rolls itself back); push a revert instead"), 'rollback refused');
      }
      const targetId = store.getRun(runId)?.target;
      const target = targetId ? store.getDeployment(targetId) : undefined;
      if (!target || target.service !== serviceName || target.status !== 'succeeded') {
        return this.failRun(runId, log, new AppError('ROLLBACK_TARGET_NOT_FOUND', `No successful deployment of ${serviceName} has the id ${targetId ?? '(none)'}`), 'rollback target not found');
      }
      const reason = `rollback to ${target.commit ? target.commit.slice(0, 12) : 'unknown commit'} (deployment ${target.id}) requested`;
      return this.readAndDeploy(runId, serviceName, log, { commit: async () => target.commit, action: 'deploy', reason, kind: 'rollback', target });
    });
  }

  private async oneService(runId: string, serviceName: string, kind: 'deploy' | 'update', force = false): Promise<RunResult> {
    const { clock } = this.deps;
    const log = this.deps.logger.child({ runId, trigger: kind === 'update' ? 'redeploy-and-update' : 'deploy-service', service: serviceName });
    return this.guard(runId, log, async () => {
      this.setRun(runId, { status: 'running', startedAt: clock.now().toISOString() });
      const retry = this.deps.store.getRun(runId)?.origin === 'retry';
      const reason = retry
        ? `retry after a transient failure${kind === 'update' ? ' (image update)' : ''}`
        : kind === 'update' ? 'image published' : force ? 'forced redeploy requested: every container recreated' : 'redeploy requested';
      if (serviceName === this.deps.selfService) {
        let commit: string | null = null;
        try {
          commit = await this.repositoryLock.read(() => this.deps.repository.head());
          this.setRun(runId, { commit });
        } catch (error) {
          return this.failRun(runId, log, error, 'reading the service failed');
        }
        // Inputs stay as they are (no sync): a rollback puts back the images that ran.
        const result = await this.self.run({ runId, kind, reason, commit, rollbackCommit: null, onlyIfChanged: false, log });
        if (result.kind === 'abandoned') return 'abandoned';
        if (result.kind === 'not-started') {
          // Nothing was recorded or touched: the run waits, as accepted, for the next instance.
          this.setRun(runId, { status: 'queued', startedAt: null });
          return 'not-started';
        }
        return this.finish(runId, log);
      }
      return this.readAndDeploy(runId, serviceName, log, { commit: () => this.deps.repository.head(), action: kind, reason, kind, ...(force ? { force } : {}) });
    });
  }

  /**
   * Reads one service and deploys it under one hold of the read lock, from reading the service to
   * recording its deployment: a sync in between would deploy one tree and record another's
   * fingerprint. A service that cannot be read, or is gone, fails the run.
   */
  private async readAndDeploy(
    runId: string,
    serviceName: string,
    log: Logger,
    plan: { commit: () => Promise<string | null>; action: 'deploy' | 'update'; reason: string; kind: 'deploy' | 'update' | 'rollback'; target?: DeploymentRecord; force?: boolean },
  ): Promise<RunResult> {
    const outcome = await this.repositoryLock.read(async () => {
      let service: ServiceSource | undefined;
      let commit: string | null;
      try {
        [service, commit] = [await this.deps.catalog.find(serviceName), await plan.commit()];
        this.setRun(runId, { commit });
      } catch (error) {
        this.failRun(runId, log, error, 'reading the service failed');
        return 'failed';
      }
      if (!service) {
        this.failRun(runId, log, new AppError('UNKNOWN_SERVICE', `No service directory is named ${serviceName}`), 'service is gone');
        return 'failed';
      }
      this.deps.onServiceRead?.(service);
      const deployment = this.deps.store.createDeployment({ runId, service: service.name, action: plan.action, status: 'queued', reason: plan.reason, commit });
      this.publishDeployment(deployment.id);
      await this.execute(deployment, service, commit, log, plan.kind, { ...(plan.target ? { target: plan.target } : {}), ...(plan.force ? { force: true } : {}) });
      return 'done';
    });
    return outcome === 'failed' ? 'ended' : this.finish(runId, log);
  }

  /**
   * Why the own service is not deployed by this run (the server does not run in a container of
   * it, and SELF_DEPLOY is not `in-place`), for its plan entry; undefined when it may be. An
   * engine that cannot be asked decides nothing here: the self stage asks again and fails.
   */
  async selfHeld(services: readonly ServiceSource[]): Promise<string | undefined> {
    const held = await this.decideSelfHeld(services);
    this.lastSelfHeldReason = held;
    return held;
  }

  /** The last decision of `selfHeld` (undefined before the first), for the services' state without an engine call. */
  lastSelfHeld(): string | undefined {
    return this.lastSelfHeldReason;
  }

  private lastSelfHeldReason: string | undefined;

  private async decideSelfHeld(services: readonly ServiceSource[]): Promise<string | undefined> {
    if (this.deps.selfDeploy === 'in-place') return undefined;
    const service = services.find((s) => s.name === this.deps.selfService);
    if (!service) return undefined;
    let instance;
    try {
      instance = this.deps.selfUpdater ? await this.deps.selfUpdater.findInstance(service) : undefined;
    } catch {
      return undefined;
    }
    const decision = decideSelfDeploy({ service: service.name, runsInOwnContainer: instance !== undefined, mode: this.deps.selfDeploy ?? 'container' });
    return decision.kind === 'held' ? decision.reason : undefined;
  }

  /** Records a planned deployment as queued, before any of the run's deployments starts. */
  private recordPlanned(runId: string, commit: string | null, entry: PlanEntry): DeploymentRecord {
    const record = this.deps.store.createDeployment({ runId, service: entry.service, action: 'deploy', status: 'queued', reason: entry.reason, commit });
    this.publishDeployment(record.id);
    return record;
  }

  /**
   * Runs one deployment under the parallelism limit and the service's lock (the caller holds the
   * repository's read lock). Resolves to success; never rejects.
   */
  private execute(
    deployment: DeploymentRecord,
    service: ServiceSource,
    commit: string | null,
    runLog: Logger,
    kind: 'deploy' | 'update' | 'rollback',
    /** target (rollback): the earlier successful deployment whose inputs and images go back in place; force: recreate every container. */
    options: { target?: DeploymentRecord; force?: boolean } = {},
  ): Promise<boolean> {
    const { target } = options;
    const { store, clock } = this.deps;
    const log = runLog.child({ deploymentId: deployment.id, service: service.name, runtime: service.runtime });
    return this.slots.run(() =>
      this.serviceLocks.run(service.name, async () => {
        const runtimeTag = { runtime: service.runtime };
        let output = '';
        const live = this.deps.events.outputSink(deployment.runId, deployment.id, service.name);
        const ctx: ActionContext = {
          output: (chunk: string) => {
            output += chunk;
            live.write(chunk);
          },
          signal: this.abort.signal,
          ...(options.force ? { force: true as const } : {}),
        };
        try {
          if (this.abort.signal.aborted) throw new AppError('PROCESS_ABORTED', INTERRUPTED_MESSAGE);
          this.setDeployment(deployment, { status: 'running', startedAt: clock.now().toISOString() }, runtimeTag);
          log.info({ reason: deployment.reason }, `${kind} started`);
          // A rollback deploys an earlier tree: a problem of the checkout's is no reason to refuse it.
          const problem = kind === 'rollback' ? null : deployProblem(service);
          if (problem) throw problem;
          const runtime = this.deps.runtimes[service.runtime];
          let images: Record<string, string>;
          const patch: DeploymentPatch = {};
          let deployed = service;
          let pin: ServicePin | undefined;
          if (kind === 'rollback') {
            if (!this.deps.rollback || !target) throw new AppError('INTERNAL', 'this server has no rollback');
            const result = await rollBackService(this.deps.rollback, service, { commit: target.commit, images: target.imagesAfter ?? {} }, ctx);
            ({ images, service: deployed } = result);
            patch.imagesAfter = images;
            // Pinned against git's inputs of now: a change to them in git ends the pin.
            pin = { service: service.name, commit: target.commit, gitFingerprint: service.fingerprint, reason: 'manual', deploymentId: deployment.id, pinnedAt: clock.now().toISOString() };
          } else if (kind === 'deploy') {
            ({ images } = await runtime.deploy(service, ctx));
            patch.imagesAfter = images;
          } else {
            const result = await runtime.update(service, ctx);
            images = result.imagesAfter;
            Object.assign(patch, {
              imagesBefore: result.imagesBefore,
              imagesAfter: result.imagesAfter,
              reason: result.recreated.length > 0 ? `image published; recreated: ${result.recreated.join(', ')}` : 'image published; no image changed',
            });
          }
          const compose = await readDeployedCompose(deployed);
          const state: DeployedState = { service: service.name, fingerprint: deployed.fingerprint, files: deployed.files, commit, deployedAt: clock.now().toISOString(), images, ...(compose ? { compose } : {}) };
          live.flush();
          store.recordSuccess(deployment.id, { ...patch, status: 'succeeded', output, finishedAt: clock.now().toISOString() }, state, pin);
          // Tells the metrics a rollback on demand from an ordinary success.
          this.publishDeployment(deployment.id, kind === 'rollback' ? { ...runtimeTag, rollback: 'manual' } : runtimeTag);
          log.info(`${kind} succeeded`);
          return true;
        } catch (thrown) {
          const error = toAppError(thrown);
          // Whatever a deployment failed with after the grace ran out, the abort cut it off.
          const interrupted = this.abort.signal.aborted;
          const toolOutput = typeof error.details?.['output'] === 'string' ? (error.details['output'] as string) : '';
          // A rollback's own gate failure is not rolled back again: it fails, said as it is.
          if (!interrupted && kind !== 'rollback' && GATE_FAILURE_CODES.has(error.code)) {
            const ended = await this.afterGateFailure({ deployment, service, kind, error, ctx, log, runtimeTag, output: () => output, flush: () => live.flush() });
            if (ended) return false;
          }
          try {
            // Tools that fail before streaming (a spawn error) only carry their output on the error.
            if (!output && toolOutput) live.write(`${toolOutput}\n`);
            live.flush();
            this.setDeployment(deployment, interrupted
              ? { status: 'interrupted', errorCode: 'DEPLOYMENT_INTERRUPTED', error: INTERRUPTED_MESSAGE, output: output || toolOutput, finishedAt: clock.now().toISOString() }
              : {
                  status: 'failed', errorCode: error.code, error: error.message, output: output || toolOutput, finishedAt: clock.now().toISOString(),
                  // The inputs that failed: the plan holds them until they change (a rollback's are not git's).
                  ...(kind === 'rollback' ? {} : { fingerprint: service.fingerprint }),
                }, runtimeTag);
          } catch (recordError) {
            // The store itself fails (a full disk): the record stays `running`, and start-up
            // recovery marks it interrupted and retries it. Said in the log, with the code.
            log.error({ code: toAppError(recordError).code, err: toAppError(recordError).message, cause: error.code }, `${kind} failed and could not be recorded`);
            return false;
          }
          log.warn({ code: interrupted ? 'DEPLOYMENT_INTERRUPTED' : error.code, err: error.message }, interrupted ? `${kind} interrupted` : `${kind} failed`);
          return false;
        }
      }),
    );
  }

  /**
   * A deployment failed the health gate: the service goes back to its last good deployment
   * (its commit's tracked files, the image ids that ran) and the deployment ends `rolled-back`
   * with the failed inputs' fingerprint, which the next plan holds. Resolves true when it
   * recorded the end; false leaves the caller to record a plain failure (no rollback: opted
   * out, or nothing earlier to go back to), with the reason already in the output.
   */
  private async afterGateFailure(input: {
    deployment: DeploymentRecord;
    service: ServiceSource;
    kind: 'deploy' | 'update';
    error: AppError;
    ctx: ActionContext;
    log: Logger;
    runtimeTag: Record<string, unknown>;
    output: () => string;
    flush: () => void;
  }): Promise<boolean> {
    const { deployment, service, kind, error, ctx, log, runtimeTag } = input;
    const { store, clock } = this.deps;
    const gateOutput = typeof error.details?.['output'] === 'string' ? (error.details['output'] as string) : '';
    if (gateOutput) ctx.output(`${gateOutput.replace(/\n?$/, '\n')}`);
    ctx.output(`health gate failed: ${error.code}: ${error.message}\n`);
    const why = !this.deps.rollback
      ? 'not rolled back: this server has no rollback'
      : this.deps.rollbackOnFailure === false
        ? 'not rolled back: ROLLBACK_ON_FAILURE=false'
        : service.noRollback
          ? 'not rolled back: the compose file says x-gitops: { rollback: false }'
          : undefined;
    const last = store.getDeployedState(service.name);
    if (why || !last) {
      ctx.output(`${why ?? 'not rolled back: there is no earlier good deployment to go back to'}; the containers are left as the tool left them\n`);
      return false;
    }
    const imagesBefore = error.details?.['imagesBefore'];
    const images = imagesBefore && typeof imagesBefore === 'object' ? { ...last.images, ...(imagesBefore as Record<string, string>) } : last.images;
    // An update changed images only: its inputs are the ones it ran with.
    const target = { commit: kind === 'update' ? null : last.commit, images };
    ctx.output(`rolling back to the last good deployment${last.commit ? ` (commit ${last.commit.slice(0, 12)})` : ''}\n`);
    log.warn({ code: error.code, err: error.message, to: last.commit }, `${kind} failed the health gate; rolling back`);
    let patch: DeploymentPatch;
    let state: DeployedState | undefined;
    let pin: ServicePin | undefined;
    try {
      const result = await rollBackService(this.deps.rollback!, service, target, ctx);
      ctx.output(`rolled back: ${service.name} runs ${last.commit ? last.commit.slice(0, 12) : 'its previous images'} again\n`);
      patch = {
        status: 'rolled-back',
        errorCode: error.code,
        error: `${error.message}; rolled back to ${last.commit ? last.commit.slice(0, 12) : 'the previous images'}`,
        fingerprint: service.fingerprint,
        imagesAfter: result.images,
      };
      // Still the last good deployment's inputs; only the images are as the rollback left them.
      state = { ...last, images: result.images };
      // Pinned against the inputs that failed: the next run leaves them alone, a new change is tried.
      pin = { service: service.name, commit: last.commit, gitFingerprint: service.fingerprint, reason: 'rolled-back', deploymentId: deployment.id, pinnedAt: clock.now().toISOString() };
    } catch (thrown) {
      const rollbackError = toAppError(thrown);
      ctx.output(`rollback failed: ${rollbackError.code}: ${rollbackError.message}\n`);
      patch = {
        status: 'failed',
        errorCode: error.code,
        error: `${error.message}; rollback failed too: ${rollbackError.code}: ${rollbackError.message}`,
      };
    }
    input.flush();
    const final = { ...patch, output: input.output(), finishedAt: clock.now().toISOString() };
    try {
      if (state) store.recordSuccess(deployment.id, final, state, pin);
      else store.updateDeployment(deployment.id, final);
    } catch (recordError) {
      log.error({ code: toAppError(recordError).code, err: toAppError(recordError).message, cause: error.code }, `${kind} rollback could not be recorded`);
      return true;
    }
    this.publishDeployment(deployment.id, runtimeTag);
    log.warn({ status: final.status, code: error.code }, final.status === 'rolled-back' ? `${kind} rolled back` : `${kind} failed; rollback failed`);
    return true;
  }

  /** The prune stage (deploy/prune.ts); PRUNE_REFUSED when its guard refuses. */
  private pruneStage(runId: string, commit: string, services: ServiceSource[], deployed: DeployedState[], log: Logger, guardOnly = false): Promise<AppError | undefined> {
    if (!this.deps.prune) return Promise.resolve(undefined);
    const { store, repository, runtimes, clock, selfService } = this.deps;
    return pruneRemoved(
      {
        store, repository, runtimes, clock, selfService, settings: this.deps.prune, signal: this.abort.signal,
        withService: (name, work) => this.slots.run(() => this.serviceLocks.run(name, work)),
        outputSink: (id, deploymentId, service) => this.deps.events.outputSink(id, deploymentId, service),
        publishDeployment: (id, extra) => this.publishDeployment(id, extra),
      },
      { runId, commit, services, deployed, log, guardOnly },
    );
  }

  /** Ends the run from its deployments; an interrupted run is reported as such to the dispatcher. */
  private finish(runId: string, log: Logger): RunResult {
    const interrupted = this.deps.store.listDeployments(runId).some((d) => d.status === 'interrupted');
    const run = endRun(this.deps, runId, interrupted ? { code: 'DEPLOYMENT_INTERRUPTED', message: INTERRUPTED_MESSAGE } : undefined);
    log.info({ status: run?.status }, 'run finished');
    return interrupted ? 'interrupted' : 'ended';
  }

  private failRun(runId: string, log: Logger, thrown: unknown, message: string): 'ended' {
    const error = toAppError(thrown);
    endRun(this.deps, runId, { code: error.code, message: error.message });
    log.error({ code: error.code, err: error.message }, message);
    return 'ended';
  }

  /**
   * The last line of defence of a run: a store that fails (STORE_FAILED) outside a deployment's
   * own handling ends the run where it still can and is logged with its code; nothing escapes
   * into the queue as an unexpected error.
   */
  private async guard(runId: string, log: Logger, work: () => Promise<RunResult>): Promise<RunResult> {
    try {
      return await work();
    } catch (thrown) {
      const error = toAppError(thrown);
      try {
        endRun(this.deps, runId, { code: error.code, message: error.message });
      } catch {
        // Recorded by start-up recovery instead (the run stays `running` in the store).
      }
      log.error({ code: error.code, err: error.message }, 'run failed');
      return 'ended';
    }
  }

  /** Records a run change and tells the run's stream. */
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

/** Why a deployment of this service would fail before any command runs (problem, missing env file), or null. */
export function deployProblem(service: ServiceSource): AppError | null {
  if (service.problem) return new AppError(service.problem.code, service.problem.message);
  const missing = service.requiredEnvFiles.filter((file) => service.files[file] === MISSING_DIGEST);
  if (missing.length > 0) {
    return new AppError('ENV_FILE_MISSING', `env file${missing.length > 1 ? 's' : ''} not found: ${missing.join(', ')}`, { details: { files: missing } });
  }
  return null;
}
