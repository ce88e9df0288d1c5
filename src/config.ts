import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { RuntimeKind } from './domain/types.js';
import { isValidServiceName } from './domain/service-layout.js';
import { NOTIFY_SECRET_VARIABLES, readNotifySettings, type NotifySettings } from './notify/settings.js';
import { envSecretSource, readSecretSetting } from './util/secret-setting.js';
import { readWebhookSettings, WEBHOOK_SECRET_VARIABLES, WEBHOOK_SERVER_SETTINGS, type WebhookSettings } from './webhook/settings.js';

/** Typed configuration; `loadConfig` is the only reader of the process environment. */
export interface Config extends WebhookSettings {
  port: number;
  host: string;
  dataDir: string;
  /** Checkout of the environment repository. */
  envRepoPath: string;
  /** Set when the server clones the checkout itself (ENV_REPO_URL, or the example repository). */
  envRepoUrl: string | undefined;
  envRepoBranch: string | undefined;
  /** True when neither ENV_REPO_PATH nor ENV_REPO_URL was given: the example repository is used. */
  exampleMode: boolean;
  servicesDirectory: string;
  deployServerName: string;
  /** Undefined only in example mode, where the server generates and keeps one. */
  webhookSecret: string | undefined;
  /** Bearer token of the management API and dashboard; undefined turns the API off (example mode generates one). */
  apiToken: string | undefined;
  /** Where operators reach the server (links in notifications), e.g. https://deploy.example.com. */
  publicUrl: string | undefined;
  /** Free text the server reports in /health and /api/version, to tell instances apart (e.g. after a self-update). */
  instanceLabel: string | undefined;
  /** How long a self-update's new instance gets to answer /health before it is rolled back. */
  selfUpdateHealthTimeoutMs: number;
  /** How long running deployments get to finish on SIGTERM before they are aborted. */
  shutdownGraceMs: number;
  defaultRuntime: RuntimeKind;
  parallelism: number;
  composeTimeoutMs: number;
  /** Seconds a container gets to stop before it is killed, when one must be replaced. */
  stopTimeoutSeconds: number;
  /** UPDATE_DEBOUNCE_SECONDS: package webhooks for one service within this window become one update (0: off). */
  updateDebounceMs: number;
  /** Health gate: how long a new container without a healthcheck must keep running (DEPLOY_SETTLE_SECONDS). */
  deploySettleMs: number;
  /** Health gate: the longest a deployment waits for its containers to settle (DEPLOY_HEALTH_TIMEOUT_SECONDS). */
  deployHealthTimeoutMs: number;
  gitTimeoutMs: number;
  maxBodyBytes: number;
  /** `docker compose` (v2 plugin), `docker-compose` (standalone), or auto-detected. */
  dockerCompose: 'auto' | 'plugin' | 'standalone';
  /** PODMAN_COMPOSE_COMMAND: the podman-compose to run (a name on PATH or a path); its version is detected. */
  podmanComposeCommand: string;
  /** DOCKER_COMPOSE_COMMAND: the standalone Docker Compose (`docker-compose` 1.29, or Compose v2's binary). */
  dockerComposeCommand: string;
  logLevel: string;
  ghcrUser: string | undefined;
  registryAuthFile: string | undefined;
  /** The environment compose tools and git run with: an allow-list of the process's own plus CHILD_ENV_PASS, never the server's settings. */
  childEnv: Record<string, string | undefined>;
  /** The extra names CHILD_ENV_PASS let through (the self-update helper is told them too). */
  childEnvPass: string[];
  /** Where failure, recovery and (optionally) success notifications go. */
  notify: NotifySettings;
  /** ROLLBACK_ON_FAILURE: a health-gate failure puts the last good deployment back (per-service opt-out: `x-gitops: { rollback: false }`). */
  rollbackOnFailure: boolean;
  /** Transient failures are retried after this long, doubled per attempt up to `retryBackoffMaxMs`; undefined: no retries (RETRY_BACKOFF_SECONDS=0). */
  retryBackoffMs: number | undefined;
  retryBackoffMaxMs: number;
  /**
   * SELF_DEPLOY: `container` (default) deploys the own service only through a container of it the
   * server runs in (the self-update helper); `in-place` also deploys it like any other service
   * when the server runs elsewhere (on the host, in development).
   */
  selfDeploy: 'container' | 'in-place';
  /** PRUNE (take down services removed in git; false: list them `orphaned`) and PRUNE_MAX_FRACTION (the guard). */
  prune: { enabled: boolean; maxFraction: number };
  /** DRIFT_CHECK_SECONDS: how often engine state is compared with what was deployed; undefined: off (0). */
  driftCheckMs: number | undefined;
  /** SELF_HEAL: a drifted service is deployed again (origin `heal`), within SELF_HEAL_MAX_PER_HOUR. */
  selfHeal: boolean;
  selfHealMaxPerHour: number;
  /** Acceptable but unwise settings, logged at start-up. */
  warnings: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * What git and the compose tools see of the server's environment: an allow-list, so cloud
 * credentials and the server's own settings never reach compose interpolation (docker-compose
 * lets the environment beat a service's `.env`: a server started with PORT=8080 would turn every
 * `${PORT}` in the repository into 8080). Operators name more with CHILD_ENV_PASS.
 */
const CHILD_ENV_NAMES = new Set([
  'PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR',
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'all_proxy',
  'SSH_AUTH_SOCK',
  'CONTAINER_HOST', 'CONTAINER_CONNECTION', 'CONTAINERS_CONF', 'CONTAINERS_REGISTRIES_CONF', 'CONTAINERS_STORAGE_CONF',
  'DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_CONFIG', 'DOCKER_CONTEXT', 'REGISTRY_AUTH_FILE',
  'XDG_RUNTIME_DIR', 'XDG_CONFIG_HOME',
  'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR',
]);
/** Locale (`LC_ALL`, `LC_CTYPE`, ...) and git's own settings (`GIT_SSH_COMMAND`, `GIT_SSL_CAINFO`, `GIT_CONFIG_*`, ...). */
const CHILD_ENV_PREFIXES = ['LC_', 'GIT_'];
/**
 * Never passed, even when named in CHILD_ENV_PASS: git variables that would point the server's
 * git at another repository or index, or that it sets per command; compose variables that would
 * override the project name and file the server gives on the command line.
 */
const CHILD_ENV_REFUSED = new Set([
  'GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_COMMON_DIR', 'GIT_NAMESPACE', 'GIT_TERMINAL_PROMPT', 'GIT_OPTIONAL_LOCKS',
  'COMPOSE_PROJECT_NAME', 'COMPOSE_FILE',
]);
/** The server's own settings that tools also read, and so pass (the engine and auth variables). */
const SHARED_WITH_TOOLS = new Set(['REGISTRY_AUTH_FILE']);

const intInRange = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `${name} must be between ${min} and ${max}`);

const envSchema = z.object({
  PORT: intInRange('PORT', 0, 65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATA_DIR: z.string().min(1).default('./data'),
  ENV_REPO_PATH: z.string().min(1).optional(),
  ENV_REPO_URL: z.string().min(1).optional(),
  ENV_REPO_BRANCH: z.string().regex(/^[A-Za-z0-9._/-]+$/, 'ENV_REPO_BRANCH must be a branch name').optional(),
  GITOPS_SERVICES_DIRECTORY: z
    .string()
    .min(1)
    .refine((d) => !path.isAbsolute(d) && !d.split(/[\\/]/).includes('..'), 'GITOPS_SERVICES_DIRECTORY must be a path inside the repository')
    .default('services'),
  DEPLOY_SERVER_NAME: z
    .string()
    .refine(isValidServiceName, 'DEPLOY_SERVER_NAME must be a valid service directory name')
    .default('gitops-deploy-server'),
  WEBHOOK_SECRET: z.string().optional(),
  WEBHOOK_SECRET_FILE: z.string().optional(),
  API_TOKEN: z.string().optional(),
  API_TOKEN_FILE: z.string().optional(),
  INSTANCE_LABEL: z.string().max(200, 'INSTANCE_LABEL must be at most 200 characters').optional(),
  SELF_UPDATE_HEALTH_TIMEOUT_SECONDS: intInRange('SELF_UPDATE_HEALTH_TIMEOUT_SECONDS', 5, 3_600).default(90),
  SHUTDOWN_GRACE_SECONDS: intInRange('SHUTDOWN_GRACE_SECONDS', 0, 3_600).default(60),
  PUBLIC_URL: z.url({ protocol: /^https?$/, error: 'PUBLIC_URL must be an http(s) URL' }).optional(),
  DEFAULT_RUNTIME: z.enum(['podman', 'docker'], 'DEFAULT_RUNTIME must be podman or docker').default('podman'),
  DEPLOY_PARALLELISM: intInRange('DEPLOY_PARALLELISM', 1, 64).default(4),
  COMPOSE_TIMEOUT_SECONDS: intInRange('COMPOSE_TIMEOUT_SECONDS', 1, 86_400).default(900),
  STOP_TIMEOUT_SECONDS: intInRange('STOP_TIMEOUT_SECONDS', 0, 3_600).default(10),
  UPDATE_DEBOUNCE_SECONDS: intInRange('UPDATE_DEBOUNCE_SECONDS', 0, 600).default(10),
  // Health gate (README "Health-gated deployments"): the default window is defended there with its measurement.
  DEPLOY_SETTLE_SECONDS: intInRange('DEPLOY_SETTLE_SECONDS', 0, 3_600).default(5),
  DEPLOY_HEALTH_TIMEOUT_SECONDS: intInRange('DEPLOY_HEALTH_TIMEOUT_SECONDS', 1, 86_400).default(300),
  GIT_TIMEOUT_SECONDS: intInRange('GIT_TIMEOUT_SECONDS', 1, 3_600).default(120),
  MAX_BODY_BYTES: intInRange('MAX_BODY_BYTES', 1, 64 * 1024 * 1024).default(1024 * 1024),
  DOCKER_COMPOSE: z.enum(['auto', 'plugin', 'standalone'], 'DOCKER_COMPOSE must be auto, plugin or standalone').default('auto'),
  // Tool selection (issue 9): a second tool generation side by side, e.g. under /opt/gds-tools.
  PODMAN_COMPOSE_COMMAND: z.string().trim().min(1, 'PODMAN_COMPOSE_COMMAND must not be empty').default('podman-compose'),
  DOCKER_COMPOSE_COMMAND: z.string().trim().min(1, 'DOCKER_COMPOSE_COMMAND must not be empty').default('docker-compose'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'LOG_LEVEL must be a pino level').default('info'),
  GHCR_USER: z.string().min(1).optional(),
  REGISTRY_AUTH_FILE: z.string().min(1).optional(),
  CHILD_ENV_PASS: z.string().optional(),
  // Rollback (issue 12): a deployment that fails the health gate goes back to the last good one.
  ROLLBACK_ON_FAILURE: z.enum(['true', 'false'], 'ROLLBACK_ON_FAILURE must be true or false').default('true').transform((v) => v === 'true'),
  // Retries of transient failures (engine away, registry timeout, a hung tool killed).
  RETRY_BACKOFF_SECONDS: intInRange('RETRY_BACKOFF_SECONDS', 0, 86_400).default(30),
  RETRY_BACKOFF_MAX_SECONDS: intInRange('RETRY_BACKOFF_MAX_SECONDS', 1, 86_400).default(1_800),
  SELF_DEPLOY: z.enum(['container', 'in-place'], 'SELF_DEPLOY must be container or in-place').default('container'),
  // Pruning (issue 9): services whose directory is removed in git are taken down, with a guard.
  PRUNE: z.enum(['true', 'false'], 'PRUNE must be true or false').default('true').transform((v) => v === 'true'),
  PRUNE_MAX_FRACTION: z
    .string()
    .regex(/^(0(\.\d+)?|1(\.0*)?|\.\d+)$/, 'PRUNE_MAX_FRACTION must be a number from 0 to 1 (1 turns the guard off)')
    .default('0.5')
    .transform(Number),
  // Drift (issue 9): engine state against what was deployed, and self-heal with a flap limit.
  DRIFT_CHECK_SECONDS: intInRange('DRIFT_CHECK_SECONDS', 0, 86_400).default(300),
  SELF_HEAL: z.enum(['true', 'false'], 'SELF_HEAL must be true or false').default('false').transform((v) => v === 'true'),
  SELF_HEAL_MAX_PER_HOUR: intInRange('SELF_HEAL_MAX_PER_HOUR', 1, 60).default(3),
});

/** Every variable the server reads itself: never given to git or the compose tools. */
const SERVER_SETTINGS = new Set(
  [...Object.keys(envSchema.shape), 'WEBHOOK_SECRET_FILE', 'API_TOKEN_FILE', ...NOTIFY_SECRET_VARIABLES].filter((name) => !SHARED_WITH_TOOLS.has(name)),
);
const WEBHOOK_SETTINGS = new Set<string>([...WEBHOOK_SECRET_VARIABLES, ...WEBHOOK_SERVER_SETTINGS]);
const isServerSetting = (name: string) => SERVER_SETTINGS.has(name) || WEBHOOK_SETTINGS.has(name) || name.startsWith('NOTIFY_');

/** The names of CHILD_ENV_PASS, or the problems with them (the server's own settings are refused). */
function readChildEnvPass(value: string | undefined): { names: string[]; problems: string[] } {
  const names: string[] = [];
  const problems: string[] = [];
  for (const name of (value ?? '').split(',').map((n) => n.trim()).filter((n) => n !== '')) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) problems.push(`CHILD_ENV_PASS: ${JSON.stringify(name)} is not a variable name`);
    else if (isServerSetting(name)) problems.push(`CHILD_ENV_PASS: ${name} is a setting of the server and is never passed to git or compose tools`);
    else if (CHILD_ENV_REFUSED.has(name)) problems.push(`CHILD_ENV_PASS: ${name} is set by the server itself for git or compose and cannot be passed`);
    else names.push(name);
  }
  return { names, problems };
}

/** The environment git and the compose tools run with: the allow-list, plus what the operator named. */
function childEnvironment(env: NodeJS.ProcessEnv, pass: readonly string[]): Record<string, string | undefined> {
  const extra = new Set(pass);
  const passes = (name: string) =>
    extra.has(name) ||
    (!isServerSetting(name) && !CHILD_ENV_REFUSED.has(name) && (CHILD_ENV_NAMES.has(name) || CHILD_ENV_PREFIXES.some((prefix) => name.startsWith(prefix))));
  return Object.fromEntries(Object.entries(env).filter(([name, value]) => value !== undefined && passes(name)));
}

/** The file-system reads configuration needs, passed in so tests need no real files. */
export interface ConfigFs {
  readFile(file: string): string;
  exists(file: string): boolean;
}
const realFs: ConfigFs = { readFile: (f) => readFileSync(f, 'utf8'), exists: (f) => existsSync(f) };
export const DEFAULT_ENV_REPO_PATH = '/env-repo';

/**
 * Reads and validates the configuration. Every problem is reported at once, one line each,
 * so an operator fixes them in one go instead of one restart per mistake.
 */
export function loadConfig(env: NodeJS.ProcessEnv, fs: ConfigFs = realFs, options: { requireWebhookSecret?: boolean } = {}): Config {
  const problems: string[] = [];
  const blankToUndefined = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === '' ? undefined : v]));
  const parsed = envSchema.safeParse(blankToUndefined);
  if (!parsed.success) for (const issue of parsed.error.issues) problems.push(issue.message);
  // The secret and repository checks read plain strings, so they run even when the schema
  // refused other variables, and every problem is reported in one go.
  const raw = blankToUndefined as Record<string, string | undefined>;

  /** NAME or NAME_FILE; a problem (both set, unreadable or empty file) is reported with the others. */
  const secretValue = (name: string): string | undefined => {
    const read = readSecretSetting(envSecretSource(raw, name), (file) => fs.readFile(file));
    if (read.ok) return read.value;
    problems.push(read.problem);
    return undefined;
  };
  const webhookSecret = secretValue('WEBHOOK_SECRET');
  const secretFile = raw['WEBHOOK_SECRET_FILE'];
  const apiToken = secretValue('API_TOKEN');
  if (raw['ENV_REPO_PATH'] && raw['ENV_REPO_URL']) problems.push('Set ENV_REPO_PATH (an existing checkout) or ENV_REPO_URL (cloned into DATA_DIR), not both');
  // With nothing configured and no checkout at the default place, serve an example repository.
  const exampleMode = !raw['ENV_REPO_PATH'] && !raw['ENV_REPO_URL'] && !fs.exists(DEFAULT_ENV_REPO_PATH);
  // A short secret is allowed (the old server's users keep theirs) but said at start-up.
  const warnings: string[] = [];
  if (webhookSecret !== undefined && webhookSecret.length < 16) warnings.push('The webhook secret is shorter than 16 characters; a longer random one resists guessing');
  // The self-update helper receives no secrets: it answers no webhooks.
  if (webhookSecret === undefined && !secretFile && !exampleMode && options.requireWebhookSecret !== false) problems.push('WEBHOOK_SECRET or WEBHOOK_SECRET_FILE is required');
  if (apiToken !== undefined && apiToken.length < 16) warnings.push('The API token is shorter than 16 characters; a longer random one resists guessing');
  const childEnvPass = readChildEnvPass(raw['CHILD_ENV_PASS']);
  problems.push(...childEnvPass.problems);
  // Webhook hardening (rotation, mode, limits, proxy, polling, Docker Hub): see webhook/settings.ts.
  const webhook = readWebhookSettings(raw, secretValue, webhookSecret);
  problems.push(...webhook.problems);
  warnings.push(...webhook.warnings);
  const notify = readNotifySettings(raw, (file) => fs.readFile(file));
  problems.push(...notify.problems);
  warnings.push(...notify.warnings);
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  const dataDir = path.resolve(e.DATA_DIR);

  const envRepoPath = e.ENV_REPO_PATH
    ? path.resolve(e.ENV_REPO_PATH)
    : exampleMode
      ? path.join(dataDir, 'example', 'env-repo')
      : e.ENV_REPO_URL
        ? path.join(dataDir, 'env-repo')
        : DEFAULT_ENV_REPO_PATH;

  const childEnv = childEnvironment(env, childEnvPass.names);
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir,
    envRepoPath,
    envRepoUrl: e.ENV_REPO_URL,
    envRepoBranch: e.ENV_REPO_BRANCH,
    exampleMode,
    servicesDirectory: e.GITOPS_SERVICES_DIRECTORY.replace(/\/+$/, ''),
    deployServerName: e.DEPLOY_SERVER_NAME,
    webhookSecret,
    apiToken,
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    instanceLabel: e.INSTANCE_LABEL,
    selfUpdateHealthTimeoutMs: e.SELF_UPDATE_HEALTH_TIMEOUT_SECONDS * 1000,
    shutdownGraceMs: e.SHUTDOWN_GRACE_SECONDS * 1000,
    defaultRuntime: e.DEFAULT_RUNTIME,
    parallelism: e.DEPLOY_PARALLELISM,
    composeTimeoutMs: e.COMPOSE_TIMEOUT_SECONDS * 1000,
    stopTimeoutSeconds: e.STOP_TIMEOUT_SECONDS,
    updateDebounceMs: e.UPDATE_DEBOUNCE_SECONDS * 1000,
    deploySettleMs: e.DEPLOY_SETTLE_SECONDS * 1000,
    deployHealthTimeoutMs: e.DEPLOY_HEALTH_TIMEOUT_SECONDS * 1000,
    gitTimeoutMs: e.GIT_TIMEOUT_SECONDS * 1000,
    maxBodyBytes: e.MAX_BODY_BYTES,
    dockerCompose: e.DOCKER_COMPOSE,
    podmanComposeCommand: e.PODMAN_COMPOSE_COMMAND,
    dockerComposeCommand: e.DOCKER_COMPOSE_COMMAND,
    logLevel: e.LOG_LEVEL,
    ghcrUser: e.GHCR_USER,
    registryAuthFile: e.REGISTRY_AUTH_FILE ? path.resolve(e.REGISTRY_AUTH_FILE) : undefined,
    childEnv,
    childEnvPass: childEnvPass.names,
    notify: notify.settings,
    rollbackOnFailure: e.ROLLBACK_ON_FAILURE,
    retryBackoffMs: e.RETRY_BACKOFF_SECONDS === 0 ? undefined : e.RETRY_BACKOFF_SECONDS * 1000,
    retryBackoffMaxMs: Math.max(e.RETRY_BACKOFF_MAX_SECONDS, e.RETRY_BACKOFF_SECONDS) * 1000,
    selfDeploy: e.SELF_DEPLOY,
    prune: { enabled: e.PRUNE, maxFraction: e.PRUNE_MAX_FRACTION },
    driftCheckMs: e.DRIFT_CHECK_SECONDS === 0 ? undefined : e.DRIFT_CHECK_SECONDS * 1000,
    selfHeal: e.SELF_HEAL,
    selfHealMaxPerHour: e.SELF_HEAL_MAX_PER_HOUR,
    ...webhook.settings,
    warnings,
  };
}
