import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { readComposeModel } from './adapters/compose/compose-file.js';
import { createEngines } from './adapters/compose/index.js';
import { createGitRepository } from './adapters/git-repository.js';
import { createMetrics } from './adapters/prometheus-metrics.js';
import { createProcessRunner, type ProcessRunner } from './adapters/process-runner.js';
import { createSelfUpdater } from './adapters/self-updater.js';
import { createServiceCatalog } from './adapters/service-catalog.js';
import { openSqliteStore } from './adapters/sqlite-store.js';
import { compatOf, composeRuntimes } from './compose-runtimes.js';
import type { Config } from './config.js';
import { createDispatcher } from './deploy/dispatcher.js';
import { createUpdateDebounce } from './deploy/update-debounce.js';
import { createHandoffWatcher } from './deploy/handoff-watcher.js';
import { createImageServices } from './deploy/image-services.js';
import { Pipeline } from './deploy/pipeline.js';
import { previewPlan } from './deploy/plan-preview.js';
import type { RollbackEngine } from './deploy/rollback.js';
import { createRemotePoller } from './deploy/remote-poller.js';
import { createRetryScheduler } from './deploy/retry-scheduler.js';
import { createImagePoller } from './deploy/image-poller.js';
import { createDriftWatch } from './deploy/drift-watch.js';
import { buildDriftNotification } from './notify/drift-message.js';
import { createRegistryDigests } from './adapters/registry-digest.js';
import { prepareRegistryAuth } from './adapters/registry-auth.js';
import { createRunningImages } from './adapters/running-images.js';
import { SwarmCli } from './adapters/swarm/swarm-cli.js';
import { RunEventBus } from './deploy/run-events.js';
import { observeRuns } from './deploy/run-observers.js';
import { createServicesView } from './deploy/services-view.js';
import { ensureExampleRepository } from './example/example-repository.js';
import { createAuthFailureLimiter, DEFAULT_MAX_TRACKED_ADDRESSES } from './http/auth-failure-limiter.js';
import { OpenStreams } from './http/open-streams.js';
import { buildServer } from './http/server.js';
import { describeGoneServices, describeServices } from './http/views.js';
import { createLogger } from './logging.js';
import { createNotifier } from './notify/notifier.js';
import { systemClock, type Clock } from './ports/clock.js';
import type { RuntimeRegistry } from './ports/runtime.js';
import type { RuntimeKind } from './domain/types.js';
import { shutDown } from './shutdown.js';
import { readVersion } from './version.js';
import { createReplayGuard } from './webhook/replay-guard.js';
import { signBody } from './webhook/signature.js';

export { createLogger } from './logging.js';
export { composeRuntimes } from './compose-runtimes.js';

export interface RunningServer {
  url: string;
  webhookSecret: string;
  /** The management API's token; undefined when the API is off. */
  apiToken: string | undefined;
  /** Set in example mode: where an operator clones and pushes. */
  exampleRemote: string | undefined;
  /** Shuts down in the declared order (see `shutdown.ts`); resolves when the store is closed. */
  close(): Promise<void>;
}

/** How often self-updates handed to helper containers are looked at. */
const HANDOFF_CHECK_MS = 2_000;
/** How old the views' snapshot may get before a background refresh picks up changed secrets. */
const SERVICES_VIEW_TTL_MS = 2_000;

/** The engines as a rollback uses them: pulls with the server's registry credentials, merged afresh. */
function rollbackEngines(config: Config, engines: ReturnType<typeof createEngines>): Record<RuntimeKind, RollbackEngine> {
  const authEnv = () =>
    prepareRegistryAuth({
      envRepoPath: config.envRepoPath,
      ghcrUser: config.ghcrUser,
      registryAuthFile: config.registryAuthFile,
      stateDir: path.join(config.dataDir, 'registry-auth'),
    });
  const wrap = (engine: ReturnType<typeof createEngines>['podman']): RollbackEngine => ({
    imageId: (reference) => engine.imageId(reference),
    tag: (imageId, reference) => engine.tag(imageId, reference),
    pull: (reference, output, signal) => engine.pull(reference, authEnv(), output, signal),
  });
  return { podman: wrap(engines.podman), docker: wrap(engines.docker), swarm: wrap(engines.swarm) };
}

/** Overrides for tests: a fake runtime registry or clock; everything else is real. */
export interface StartOverrides {
  logger?: Logger;
  clock?: Clock;
  runtimes?: RuntimeRegistry;
}

/**
 * Composition root: config -> adapters -> pipeline, queue and observers -> HTTP. Everything the
 * server needs is built here and passed down; nothing below reads the environment or holds
 * globals. Each part owns its start and its step of the shutdown.
 */
export async function startServer(config: Config, overrides: StartOverrides = {}): Promise<RunningServer> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const clock = overrides.clock ?? systemClock;
  const run = createProcessRunner({ baseEnv: config.childEnv });
  for (const warning of config.warnings) logger.warn(warning);
  mkdirSync(config.dataDir, { recursive: true });

  const { webhookSecret, apiToken, exampleRemote } = await prepareRepository(config, run, logger);
  const startedAt = clock.now().toISOString();

  const store = openSqliteStore({ file: path.join(config.dataDir, 'state.db'), clock });
  // A self-update's helper that has not recorded an end by then is taken for dead.
  const handoffTimeoutMs = 2 * config.composeTimeoutMs + 2 * config.selfUpdateHealthTimeoutMs + 5 * 60_000;
  const recovered = store.recoverInterrupted(clock.now().toISOString(), new Date(clock.now().getTime() - handoffTimeoutMs).toISOString());
  if (recovered.runs.length > 0 || recovered.queued.length > 0) {
    logger.warn({ deployments: recovered.deployments, interrupted: recovered.runs.length, queued: recovered.queued.length }, 'carrying out what the last stop left: queued runs, and retries of interrupted ones');
  }

  const repository = createGitRepository({ path: config.envRepoPath, run, timeoutMs: config.gitTimeoutMs });
  const engines = createEngines(run, config.composeTimeoutMs, config.childEnv);
  const runtimes = overrides.runtimes ?? composeRuntimes(config, run, engines);
  const compat = compatOf(runtimes);
  const catalogFor = (root: string, listing: Parameters<typeof createServiceCatalog>[0]['repository']) =>
    createServiceCatalog({ repoPath: root, servicesDirectory: config.servicesDirectory, defaultRuntime: config.defaultRuntime, repository: listing, compat });
  const catalog = catalogFor(config.envRepoPath, repository);
  const events = new RunEventBus(store, (error) => logger.error({ err: error }, 'a run event listener failed'));
  const selfUpdater = createSelfUpdater({ engines, helperEnv: helperEnvironment(config) });

  const updateDebounce = createUpdateDebounce({ windowMs: config.updateDebounceMs });
  const dispatcher = createDispatcher({ store, events, clock, logger, executor: () => pipeline, updateDebounce });
  let view: ReturnType<typeof createServicesView>;
  const pipeline: Pipeline = new Pipeline({
    store,
    events,
    repository,
    catalog,
    runtimes,
    clock,
    logger,
    selfService: config.deployServerName,
    parallelism: config.parallelism,
    selfUpdater,
    exclusive: (runId) => dispatcher.queue.exclusive(runId),
    onDiscovered: (commit, services) => view.replace(commit, services),
    onServiceRead: (service) => view.updateOne(service),
    handoffTimeoutMs,
    // Rollback after a health-gate failure (issue 12).
    rollbackOnFailure: config.rollbackOnFailure,
    selfDeploy: config.selfDeploy,
    // Pruning of services removed in git (issue 9).
    prune: { servicesDirectory: config.servicesDirectory, ...config.prune },
    rollback: {
      repository,
      catalogFor: (root, listing) => catalogFor(root, listing),
      runtimes,
      engines: rollbackEngines(config, engines),
      // A Swarm stack's images are put back by Swarm's own rollback (the running spec's digests are kept).
      imageReferences: async (service) =>
        service.runtime === 'swarm' ? {} : Object.fromEntries((await readComposeModel(service, config.childEnv)).services.flatMap((s) => (s.image ? [[s.name, s.image] as const] : []))),
      // Inside the repository (like the self-update helper's tree), so bind mounts resolve on the host.
      treesDir: path.join(config.envRepoPath, '.git', 'gds-rollback'),
    },
  });
  view = createServicesView({ catalog, repository, repositoryLock: pipeline.repositoryLock, ttlMs: SERVICES_VIEW_TTL_MS });

  const metrics = createMetrics({
    version: readVersion(),
    serverName: config.deployServerName,
    queueDepth: () => dispatcher.queue.depth(),
    // From the snapshot and the store: a scrape never reads or hashes a file.
    servicesByState: () => {
      const counts: Record<string, number> = {};
      const snapshot = view.peek();
      if (!snapshot) return counts;
      const [deployed, last] = [store.listDeployedStates(), store.lastDeployments()];
      const orphans = describeGoneServices(new Set(snapshot.services.map((s) => s.name)), deployed, last);
      for (const s of [...describeServices(snapshot.services, deployed, last, config.deployServerName, store.listPins(), drift.drift()), ...orphans]) {
        counts[s.state] = (counts[s.state] ?? 0) + 1;
      }
      return counts;
    },
  });
  const notifier = createNotifier({ settings: config.notify, logger });
  const observers = observeRuns({ store, events, metrics, notifier, serverName: config.deployServerName, publicUrl: config.publicUrl, logger });
  // Drift (DRIFT_CHECK_SECONDS, SELF_HEAL): engine state against what was deployed, after every run too.
  const drift = createDriftWatch({
    services: async () => (await view.services()).services,
    store,
    // The engine of the runtime that deployed the service (a runtime that cannot say is not checked).
    containers: (service) => runtimes[service.runtime].containers?.(service) ?? Promise.resolve(undefined),
    selfService: config.deployServerName,
    ...(config.selfHeal ? {
      heal: {
        maxPerHour: config.selfHealMaxPerHour,
        deployService: (service: string) => dispatcher.triggers.deployService(service, 'heal'),
        busy: (service: string) => dispatcher.queue.busy(`deploy:${service}`),
      },
    } : {}),
    notify: (notice) => notifier.send?.(buildDriftNotification(notice, { serverName: config.deployServerName, publicUrl: config.publicUrl })),
    onHeal: (service) => metrics.driftHeal?.(service),
    intervalMs: config.driftCheckMs,
    logger: logger.child({ component: 'drift-watch' }),
  });
  // DRIFT_CHECK_SECONDS=0 turns the check off altogether, after runs too.
  const stopDriftAfterRuns = config.driftCheckMs === undefined ? () => undefined : events.observe((event) => {
    if (event.type === 'end') drift.afterRun();
  });
  const handoffs = createHandoffWatcher({ store, events, selfUpdater, clock, logger, onForeignRunEnd: observers.onForeignRunEnd });
  handoffs.start(HANDOFF_CHECK_MS);
  // Transient failures are retried with backoff (RETRY_BACKOFF_SECONDS); deterministic ones wait for a change.
  const retries = config.retryBackoffMs === undefined ? undefined : createRetryScheduler({
    events, store, triggers: dispatcher.triggers, selfService: config.deployServerName,
    backoff: { initialMs: config.retryBackoffMs, maxMs: config.retryBackoffMaxMs }, logger: logger.child({ component: 'retry-scheduler' }),
  });

  // Webhook hardening (issue 10): replays refused across restarts, failed authentication limited per address.
  const replayGuard = createReplayGuard({ store, clock });
  const authFailures = createAuthFailureLimiter({ maxFailures: config.authFailuresPerMinute, windowMs: 60_000, maxTrackedAddresses: DEFAULT_MAX_TRACKED_ADDRESSES });
  const imageServices = createImageServices({
    services: async () => (await view.services()).services,
    imagesOf: async (service) => (await readComposeModel(service, config.childEnv)).services.map((s) => s.image),
    logger,
  });

  const streams = new OpenStreams();
  let draining = false;
  const app = buildServer({
    logger,
    webhookSecret,
    webhookSecrets: { current: webhookSecret, ...(config.webhookSecretPrevious ? { previous: config.webhookSecretPrevious } : {}) },
    webhookMode: config.webhookMode,
    replayGuard,
    authFailures,
    servicesForImage: (reference) => imageServices.servicesForImage(reference),
    trackedBranch: () => repository.trackedBranch(),
    dockerHubToken: config.dockerHubToken,
    trustProxy: config.trustProxy,
    now: () => clock.now().getTime(),
    apiToken,
    maxBodyBytes: config.maxBodyBytes,
    serverName: config.deployServerName,
    version: readVersion(),
    instanceLabel: config.instanceLabel,
    startedAt,
    store,
    events,
    catalog,
    metrics,
    streams,
    draining: () => draining,
    services: () => view.services(),
    drift: () => drift.drift(),
    triggers: dispatcher.triggers,
    rollbackService: (service, target, origin) => dispatcher.rollbackService(service, target, origin),
    selfHeld: () => pipeline.lastSelfHeld(),
    previewPlan: () =>
      previewPlan({
        repository,
        fetchLock: pipeline.fetchLock,
        view,
        catalogFor: (root, listing) => catalogFor(root, listing),
        store,
        selfService: config.deployServerName,
        selfHeld: (services) => pipeline.selfHeld(services),
        scratchDir: path.join(config.dataDir, 'plan-preview'),
        toolOf: async (kind) => runtimes[kind].describeTool?.(),
      }),
  });
  // The first snapshot, before anything can hold the repository lock; and whether the own service
  // is left alone (one engine call), so its state says why before the first run.
  const first = await view.services().catch(() => undefined);
  if (first) await pipeline.selfHeld(first.services).catch(() => undefined);
  const address = await app.listen({ port: config.port, host: config.host });
  logger.info({ address, repository: config.envRepoPath, servicesDirectory: config.servicesDirectory }, 'listening');

  // What the last stop left: accepted runs under their own ids, and retries of interrupted ones
  // (including a run killed before it recorded any deployment: its webhook was accepted).
  dispatcher.recover(recovered);

  // The backstop for lost webhooks (POLL_INTERVAL_SECONDS), started once the server answers.
  const poller = config.pollIntervalMs === undefined ? undefined : createRemotePoller({
    repository, triggers: dispatcher.triggers, deployAllBusy: () => dispatcher.queue.busy('deploy-all'),
    intervalMs: config.pollIntervalMs, logger: logger.child({ component: 'remote-poller' }),
  });
  poller?.start();
  // Image polling for services that opt in (x-gitops: { poll-images: true }); idle when none does.
  const imagePoller = config.imagePollIntervalMs === undefined ? undefined : createImagePoller({
    services: async () => (await view.services()).services,
    runningImages: createRunningImages({ engines, processEnv: config.childEnv, swarm: new SwarmCli(run, config.composeTimeoutMs) }),
    registryDigest: createRegistryDigests({
      authEnv: () => prepareRegistryAuth({
        envRepoPath: config.envRepoPath, ghcrUser: config.ghcrUser, registryAuthFile: config.registryAuthFile,
        stateDir: path.join(config.dataDir, 'registry-auth'),
      }),
    }).digest,
    triggers: dispatcher.triggers, busy: (lane) => dispatcher.queue.busy(lane),
    intervalMs: config.imagePollIntervalMs, logger: logger.child({ component: 'image-poller' }),
  });
  imagePoller?.start();
  drift.start();

  let closing: Promise<void> | undefined;
  return {
    url: address.replace('0.0.0.0', '127.0.0.1'),
    webhookSecret,
    apiToken,
    exampleRemote,
    close: () =>
      (closing ??= shutDown({
        logger,
        graceMs: config.shutdownGraceMs,
        http: { drain: () => void (draining = true), close: () => app.close() },
        // A run waiting out its update window must not hold the drain: the window ends with the queue.
        queue: { close: () => (dispatcher.queue.close(), updateDebounce.close()), idle: () => dispatcher.queue.idle() },
        pipeline,
        streams,
        background: { stop: () => (poller?.stop(), imagePoller?.stop(), drift.stop(), stopDriftAfterRuns(), retries?.stop(), handoffs.stop(), observers.stop()) },
        notifier,
        store,
      })),
  };
}

/** Makes sure the checkout exists (cloning it or creating the example) and settles the webhook secret. */
async function prepareRepository(
  config: Config,
  run: ProcessRunner,
  logger: Logger,
): Promise<{ webhookSecret: string; apiToken: string | undefined; exampleRemote: string | undefined }> {
  let exampleRemote: string | undefined;
  if (config.exampleMode) {
    const example = await ensureExampleRepository({ baseDir: path.dirname(config.envRepoPath), checkoutPath: config.envRepoPath, run });
    exampleRemote = example.remotePath;
    if (example.created) logger.info({ remote: example.remotePath, checkout: config.envRepoPath }, 'created the example environment repository');
  } else if (config.envRepoUrl && !existsSync(path.join(config.envRepoPath, '.git'))) {
    logger.info({ checkout: config.envRepoPath }, 'cloning the environment repository');
    await run({
      command: 'git',
      args: ['clone', '--quiet', ...(config.envRepoBranch ? ['--branch', config.envRepoBranch] : []), '--', config.envRepoUrl, config.envRepoPath],
      env: { GIT_TERMINAL_PROMPT: '0' },
      timeoutMs: config.gitTimeoutMs,
    });
  }
  // Example mode: what is not configured is generated once and kept in the data directory.
  const webhookSecret = config.webhookSecret ?? generatedSecret(path.join(config.dataDir, 'webhook-secret'));
  const apiToken = config.apiToken ?? (config.exampleMode ? generatedSecret(path.join(config.dataDir, 'api-token')) : undefined);
  if (apiToken === undefined) logger.warn('API_TOKEN is not set: the management API and the dashboard are off');
  return { webhookSecret, apiToken, exampleRemote };
}

/** The settings a self-update helper runs with: the server's own, without any secret. */
function helperEnvironment(config: Config): Record<string, string> {
  const env: Record<string, string> = {
    DATA_DIR: config.dataDir,
    ENV_REPO_PATH: config.envRepoPath,
    GITOPS_SERVICES_DIRECTORY: config.servicesDirectory,
    DEPLOY_SERVER_NAME: config.deployServerName,
    DEFAULT_RUNTIME: config.defaultRuntime,
    DOCKER_COMPOSE: config.dockerCompose,
    PODMAN_COMPOSE_COMMAND: config.podmanComposeCommand,
    DOCKER_COMPOSE_COMMAND: config.dockerComposeCommand,
    COMPOSE_TIMEOUT_SECONDS: String(config.composeTimeoutMs / 1000),
    STOP_TIMEOUT_SECONDS: String(config.stopTimeoutSeconds),
    GIT_TIMEOUT_SECONDS: String(config.gitTimeoutMs / 1000),
    SELF_UPDATE_HEALTH_TIMEOUT_SECONDS: String(config.selfUpdateHealthTimeoutMs / 1000),
    LOG_LEVEL: config.logLevel,
  };
  for (const key of ['CONTAINER_HOST', 'DOCKER_HOST']) {
    const value = config.childEnv[key];
    if (value) env[key] = value;
  }
  // What the operator let through to the compose tools reaches the helper's tools too.
  const passed = config.childEnvPass;
  if (passed.length > 0) env['CHILD_ENV_PASS'] = passed.join(',');
  for (const key of passed) {
    const value = config.childEnv[key];
    if (value !== undefined) env[key] = value;
  }
  if (config.ghcrUser) env['GHCR_USER'] = config.ghcrUser;
  if (config.registryAuthFile) env['REGISTRY_AUTH_FILE'] = config.registryAuthFile;
  return env;
}

function generatedSecret(file: string): string {
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

/** The ready-to-paste command that triggers a deploy, for the example's start-up banner. */
export function exampleCurl(url: string, secret: string): string {
  return `curl -i -X POST -H 'X-Hub-Signature-256: ${signBody(secret, new Uint8Array())}' ${url}/deploy-all-changed`;
}
