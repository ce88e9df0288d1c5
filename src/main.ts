import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { createEngines, createRuntimes } from './adapters/compose/index.js';
import { createSelfUpdater } from './adapters/self-updater.js';
import { createGitRepository } from './adapters/git-repository.js';
import { createProcessRunner, type ProcessRunner } from './adapters/process-runner.js';
import { prepareRegistryAuth } from './adapters/registry-auth.js';
import { createServiceCatalog } from './adapters/service-catalog.js';
import { openSqliteStore } from './adapters/sqlite-store.js';
import type { Config } from './config.js';
import { createMetrics } from './adapters/prometheus-metrics.js';
import { Pipeline } from './deploy/pipeline.js';
import { previewPlan } from './deploy/plan-preview.js';
import { RunEventBus } from './deploy/run-events.js';
import { runOutcome } from './deploy/run-outcome.js';
import { createHandoffWatcher } from './deploy/handoff-watcher.js';
import { RunQueue } from './deploy/run-queue.js';
import { createServicesView } from './deploy/services-view.js';
import type { RunOrigin, RunTrigger } from './domain/types.js';
import { describeServices } from './http/views.js';
import { createNotifier } from './notify/notifier.js';
import { ensureExampleRepository } from './example/example-repository.js';
import { buildServer } from './http/server.js';
import { systemClock, type Clock } from './ports/clock.js';
import { readVersion } from './version.js';
import type { RuntimeRegistry } from './ports/runtime.js';
import { signBody } from './webhook/signature.js';

export interface RunningServer {
  url: string;
  webhookSecret: string;
  /** The management API's token; undefined when the API is off. */
  apiToken: string | undefined;
  /** Set in example mode: where an operator clones and pushes. */
  exampleRemote: string | undefined;
  close(): Promise<void>;
}

interface Job {
  lane: string;
  trigger: RunTrigger;
  service: string | null;
  origin: RunOrigin;
  [key: string]: unknown;
}

/** Runs whose events stay in the database for streams to replay; older runs keep records and output. */
const RUN_EVENTS_KEPT = 500;
/** How often self-updates handed to helper containers are looked at. */
const HANDOFF_CHECK_MS = 2_000;
/** How long a discovery of the services is shared between API calls and metric scrapes. */
const SERVICES_VIEW_TTL_MS = 2_000;

/** Overrides for tests: a fake runtime registry or clock; everything else is real. */
export interface StartOverrides {
  logger?: Logger;
  clock?: Clock;
  runtimes?: RuntimeRegistry;
}

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { app: 'gitops-deploy-server' },
    redact: { paths: ['req.headers["x-hub-signature-256"]', 'req.headers.authorization'], censor: '[redacted]' },
  });
}

/**
 * Composition root: config -> adapters -> pipeline and queue -> HTTP. Everything the server
 * needs is built here and passed down; nothing below reads the environment or holds globals.
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
  const interrupted = store.recoverInterrupted(clock.now().toISOString(), new Date(clock.now().getTime() - handoffTimeoutMs).toISOString());
  if (interrupted.runs.length > 0) {
    logger.warn({ deployments: interrupted.deployments, runs: interrupted.runs.length }, 'work interrupted by the last stop is marked interrupted and will be retried');
  }

  const repository = createGitRepository({ path: config.envRepoPath, run, timeoutMs: config.gitTimeoutMs });
  const catalog = createServiceCatalog({
    repoPath: config.envRepoPath,
    servicesDirectory: config.servicesDirectory,
    defaultRuntime: config.defaultRuntime,
    repository,
  });
  const engines = createEngines(run, config.composeTimeoutMs);
  const runtimes = overrides.runtimes ?? composeRuntimes(config, run, engines);
  const events = new RunEventBus(store, (error) => logger.error({ err: error }, 'a run event listener failed'));
  const selfUpdater = createSelfUpdater({ engines, helperEnv: helperEnvironment(config) });
  const pipeline = new Pipeline({
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
    quiesce: async (runId) => {
      queue.pause();
      await queue.idleExcept(runId);
      return () => queue.resume();
    },
    handoffTimeoutMs,
  });
  const queue = new RunQueue<Job>({
    createRun: (job) => {
      const record = store.createRun({ trigger: job.trigger, service: job.service, origin: job.origin });
      events.publishRun(record);
      return record.id;
    },
    execute: (runId, job) => {
      if (job.trigger === 'deploy-all-changed') return pipeline.deployAllChanged(runId);
      if (job.trigger === 'deploy-service') return pipeline.deployService(runId, job.service!);
      return pipeline.redeployAndUpdate(runId, job.service!);
    },
    onUnexpectedError: (error, runId) => logger.error({ err: error, runId }, 'run crashed'),
  });
  const triggers = {
    deployAllChanged: (origin: RunOrigin) => queue.enqueue({ lane: 'deploy-all', trigger: 'deploy-all-changed', service: null, origin }),
    redeployAndUpdate: (service: string, origin: RunOrigin) =>
      queue.enqueue({ lane: `update:${service}`, trigger: 'redeploy-and-update', service, origin }),
    deployService: (service: string, origin: RunOrigin) => queue.enqueue({ lane: `deploy:${service}`, trigger: 'deploy-service', service, origin }),
  };

  const servicesView = createServicesView({ catalog, repository, repositoryLock: pipeline.repositoryLock, ttlMs: SERVICES_VIEW_TTL_MS });
  const metrics = createMetrics({
    version: readVersion(),
    serverName: config.deployServerName,
    queueDepth: () => queue.depth(),
    servicesByState: async () => {
      const { services } = await servicesView.services();
      const counts: Record<string, number> = {};
      for (const s of describeServices(services, store.listDeployedStates(), store.lastDeployments(), config.deployServerName)) {
        counts[s.state] = (counts[s.state] ?? 0) + 1;
      }
      return counts;
    },
  });
  const notifier = createNotifier({ settings: config.notify, logger });
  const runEnded = (runId: string) => {
    store.pruneRunEvents(RUN_EVENTS_KEPT);
    // Fire and forget: a notifier that is down never delays the next run.
    const outcome = runOutcome(store, runId, { serverName: config.deployServerName, publicUrl: config.publicUrl });
    if (outcome) notifier.runFinished(outcome);
  };
  /** Runs whose end this process published (bounded): a run a helper ended is passed on once. */
  const endedHere = new Set<string>();
  events.observe((event) => {
    metrics.observe(event);
    if (event.type === 'run' && event.data['stage'] === 'synced') servicesView.invalidate();
    if (event.type === 'end') {
      endedHere.add(event.runId);
      if (endedHere.size > 1_000) endedHere.delete(endedHere.values().next().value!);
      runEnded(event.runId);
    }
  });
  const handoffs = createHandoffWatcher({
    store,
    events,
    selfUpdater,
    clock,
    logger,
    onForeignRunEnd: (runId) => {
      if (endedHere.has(runId)) return;
      const run = store.getRun(runId);
      if (run) metrics.observe({ id: 0, runId, type: 'end', data: { runId, trigger: run.trigger, status: run.status } });
      runEnded(runId);
    },
  });
  const watchHandoffs = setInterval(() => void handoffs.check().catch((error: unknown) => logger.warn({ err: error }, 'checking self-updates failed')), HANDOFF_CHECK_MS);
  watchHandoffs.unref();

  const app = buildServer({
    logger,
    webhookSecret,
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
    services: () => servicesView.services(),
    triggers,
    previewPlan: () =>
      previewPlan({
        repository,
        repositoryLock: pipeline.repositoryLock,
        catalog,
        catalogFor: (root, listing) =>
          createServiceCatalog({ repoPath: root, servicesDirectory: config.servicesDirectory, defaultRuntime: config.defaultRuntime, repository: listing }),
        store,
        selfService: config.deployServerName,
        scratchDir: path.join(config.dataDir, 'plan-preview'),
      }),
  });
  const address = await app.listen({ port: config.port, host: config.host });
  logger.info({ address, repository: config.envRepoPath, servicesDirectory: config.servicesDirectory }, 'listening');

  // What a crash left half-done is retried now rather than at the next push, including a run
  // killed before it recorded any deployment (during sync or planning): its webhook was accepted.
  // An interrupted image update is retried as an update: a deploy-all would not pull again.
  for (const run of interrupted.runs) {
    if (run.trigger === 'redeploy-and-update' && run.service) triggers.redeployAndUpdate(run.service, 'restart');
    else if (run.trigger === 'deploy-service' && run.service) triggers.deployService(run.service, 'restart');
    else triggers.deployAllChanged('restart');
  }

  let closing: Promise<void> | undefined;
  return {
    url: address.replace('0.0.0.0', '127.0.0.1'),
    webhookSecret,
    apiToken,
    exampleRemote,
    close: () =>
      (closing ??= (async () => {
        clearInterval(watchHandoffs);
        pipeline.shutdown();
        await app.close();
        await queue.close();
        await notifier.flush();
        store.close();
      })()),
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

/** The compose runtimes, with registry credentials merged afresh before each pull (the server's and the helper's). */
export function composeRuntimes(config: Config, run: ProcessRunner, engines: ReturnType<typeof createEngines>): RuntimeRegistry {
  return createRuntimes({
    engines,
    run,
    authEnv: () =>
      prepareRegistryAuth({
        envRepoPath: config.envRepoPath,
        ghcrUser: config.ghcrUser,
        registryAuthFile: config.registryAuthFile,
        stateDir: path.join(config.dataDir, 'registry-auth'),
      }),
    processEnv: config.childEnv,
    overrideDir: path.join(config.dataDir, 'compose-overrides'),
    dockerCompose: config.dockerCompose,
    timeoutMs: config.composeTimeoutMs,
    stopTimeoutSeconds: config.stopTimeoutSeconds,
  });
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
