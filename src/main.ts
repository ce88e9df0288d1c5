import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { createRuntimes } from './adapters/compose/index.js';
import { createGitRepository } from './adapters/git-repository.js';
import { createProcessRunner, type ProcessRunner } from './adapters/process-runner.js';
import { prepareRegistryAuth } from './adapters/registry-auth.js';
import { createServiceCatalog } from './adapters/service-catalog.js';
import { openSqliteStore } from './adapters/sqlite-store.js';
import type { Config } from './config.js';
import { Pipeline } from './deploy/pipeline.js';
import { RunQueue } from './deploy/run-queue.js';
import type { RunTrigger } from './domain/types.js';
import { ensureExampleRepository } from './example/example-repository.js';
import { buildServer } from './http/server.js';
import { systemClock, type Clock } from './ports/clock.js';
import type { RuntimeRegistry } from './ports/runtime.js';
import { signBody } from './webhook/signature.js';

export interface RunningServer {
  url: string;
  webhookSecret: string;
  /** Set in example mode: where an operator clones and pushes. */
  exampleRemote: string | undefined;
  close(): Promise<void>;
}

interface Job {
  lane: string;
  trigger: RunTrigger;
  service: string | null;
  [key: string]: unknown;
}

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

  const { webhookSecret, exampleRemote } = await prepareRepository(config, run, logger);

  const store = openSqliteStore({ file: path.join(config.dataDir, 'state.db'), clock });
  const interrupted = store.recoverInterrupted(clock.now().toISOString());
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
  const runtimes =
    overrides.runtimes ??
    createRuntimes({
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
  const pipeline = new Pipeline({
    store,
    repository,
    catalog,
    runtimes,
    clock,
    logger,
    selfService: config.deployServerName,
    parallelism: config.parallelism,
  });
  const queue = new RunQueue<Job>({
    createRun: (job) => store.createRun({ trigger: job.trigger, service: job.service }).id,
    execute: (runId, job) => (job.trigger === 'deploy-all-changed' ? pipeline.deployAllChanged(runId) : pipeline.redeployAndUpdate(runId, job.service!)),
    onUnexpectedError: (error, runId) => logger.error({ err: error, runId }, 'run crashed'),
  });
  const triggers = {
    deployAllChanged: () => queue.enqueue({ lane: 'deploy-all', trigger: 'deploy-all-changed', service: null }),
    redeployAndUpdate: (service: string) => queue.enqueue({ lane: `update:${service}`, trigger: 'redeploy-and-update', service }),
  };

  const app = buildServer({
    logger,
    webhookSecret,
    maxBodyBytes: config.maxBodyBytes,
    serverName: config.deployServerName,
    version: readVersion(),
    store,
    catalog,
    triggers,
  });
  const address = await app.listen({ port: config.port, host: config.host });
  logger.info({ address, repository: config.envRepoPath, servicesDirectory: config.servicesDirectory }, 'listening');

  // What a crash left half-done is retried now rather than at the next push, including a run
  // killed before it recorded any deployment (during sync or planning): its webhook was accepted.
  // An interrupted image update is retried as an update: a deploy-all would not pull again.
  for (const run of interrupted.runs) {
    if (run.trigger === 'redeploy-and-update' && run.service) triggers.redeployAndUpdate(run.service);
    else triggers.deployAllChanged();
  }

  let closing: Promise<void> | undefined;
  return {
    url: address.replace('0.0.0.0', '127.0.0.1'),
    webhookSecret,
    exampleRemote,
    close: () =>
      (closing ??= (async () => {
        await app.close();
        await queue.close();
        store.close();
      })()),
  };
}

/** Makes sure the checkout exists (cloning it or creating the example) and settles the webhook secret. */
async function prepareRepository(config: Config, run: ProcessRunner, logger: Logger): Promise<{ webhookSecret: string; exampleRemote: string | undefined }> {
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
  if (config.webhookSecret !== undefined) return { webhookSecret: config.webhookSecret, exampleRemote };
  // Example mode without a configured secret: generate one once and keep it.
  const file = path.join(config.dataDir, 'webhook-secret');
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  return { webhookSecret: readFileSync(file, 'utf8').trim(), exampleRemote };
}

export function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    if (pkg.version) return pkg.version;
  } catch {
    // dist/ is one level deeper than src/
  }
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The ready-to-paste command that triggers a deploy, for the example's start-up banner. */
export function exampleCurl(url: string, secret: string): string {
  return `curl -i -X POST -H 'X-Hub-Signature-256: ${signBody(secret, new Uint8Array())}' ${url}/deploy-all-changed`;
}
