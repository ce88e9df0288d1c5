import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { RuntimeKind } from './domain/types.js';
import { isValidServiceName } from './domain/service-layout.js';
import { NOTIFY_SECRET_VARIABLES, readNotifySettings, type NotifySettings } from './notify/settings.js';
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
  gitTimeoutMs: number;
  maxBodyBytes: number;
  /** `docker compose` (v2 plugin), `docker-compose` (standalone), or auto-detected. */
  dockerCompose: 'auto' | 'plugin' | 'standalone';
  logLevel: string;
  ghcrUser: string | undefined;
  registryAuthFile: string | undefined;
  /** The environment compose tools and git run with: the process's own, less the server's secrets. */
  childEnv: Record<string, string | undefined>;
  /** Where failure, recovery and (optionally) success notifications go. */
  notify: NotifySettings;
  /** Acceptable but unwise settings, logged at start-up. */
  warnings: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const SECRET_VARIABLES = ['WEBHOOK_SECRET', 'WEBHOOK_SECRET_FILE', 'API_TOKEN', 'API_TOKEN_FILE'];
/**
 * The server's own settings, also kept from compose tools: docker-compose lets the environment
 * beat a service's `.env`, so a server running with PORT=8080 would otherwise turn every
 * `${PORT}` in the repository into 8080. (CONTAINER_HOST, DOCKER_HOST and REGISTRY_AUTH_FILE
 * stay: the tools read them.)
 */
const SERVER_SETTINGS = [
  'PORT', 'HOST', 'DATA_DIR', 'LOG_LEVEL', 'ENV_REPO_PATH', 'ENV_REPO_URL', 'ENV_REPO_BRANCH',
  'GITOPS_SERVICES_DIRECTORY', 'DEPLOY_SERVER_NAME', 'DEFAULT_RUNTIME', 'DEPLOY_PARALLELISM',
  'COMPOSE_TIMEOUT_SECONDS', 'STOP_TIMEOUT_SECONDS', 'GIT_TIMEOUT_SECONDS', 'MAX_BODY_BYTES',
  'DOCKER_COMPOSE', 'GHCR_USER', 'PUBLIC_URL', 'INSTANCE_LABEL', 'SELF_UPDATE_HEALTH_TIMEOUT_SECONDS', 'SHUTDOWN_GRACE_SECONDS',
];

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
  GIT_TIMEOUT_SECONDS: intInRange('GIT_TIMEOUT_SECONDS', 1, 3_600).default(120),
  MAX_BODY_BYTES: intInRange('MAX_BODY_BYTES', 1, 64 * 1024 * 1024).default(1024 * 1024),
  DOCKER_COMPOSE: z.enum(['auto', 'plugin', 'standalone'], 'DOCKER_COMPOSE must be auto, plugin or standalone').default('auto'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'LOG_LEVEL must be a pino level').default('info'),
  GHCR_USER: z.string().min(1).optional(),
  REGISTRY_AUTH_FILE: z.string().min(1).optional(),
});

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

  /** A value given directly or in a file (Docker/Podman secrets); the file's trailing newline is not part of it. */
  const secretValue = (name: string): string | undefined => {
    const direct = raw[name];
    const file = raw[`${name}_FILE`];
    if (direct && file) problems.push(`Set ${name} or ${name}_FILE, not both`);
    if (!file) return direct;
    try {
      return fs.readFile(file).replace(/\r?\n$/, '');
    } catch (error) {
      problems.push(`${name}_FILE ${file} cannot be read: ${(error as Error).message}`);
      return undefined;
    }
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
  if (webhookSecret === '') problems.push('The webhook secret is empty');
  // The self-update helper receives no secrets: it answers no webhooks.
  if (webhookSecret === undefined && !secretFile && !exampleMode && options.requireWebhookSecret !== false) problems.push('WEBHOOK_SECRET or WEBHOOK_SECRET_FILE is required');
  if (apiToken === '') problems.push('The API token is empty; unset API_TOKEN to turn the management API off');
  if (apiToken !== undefined && apiToken.length < 16) warnings.push('The API token is shorter than 16 characters; a longer random one resists guessing');
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

  const hidden = new Set<string>([...SECRET_VARIABLES, ...NOTIFY_SECRET_VARIABLES, ...SERVER_SETTINGS]);
  for (const name of [...WEBHOOK_SECRET_VARIABLES, ...WEBHOOK_SERVER_SETTINGS]) hidden.add(name);
  const childEnv = Object.fromEntries(Object.entries(env).filter(([k]) => !hidden.has(k)));
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
    gitTimeoutMs: e.GIT_TIMEOUT_SECONDS * 1000,
    maxBodyBytes: e.MAX_BODY_BYTES,
    dockerCompose: e.DOCKER_COMPOSE,
    logLevel: e.LOG_LEVEL,
    ghcrUser: e.GHCR_USER,
    registryAuthFile: e.REGISTRY_AUTH_FILE ? path.resolve(e.REGISTRY_AUTH_FILE) : undefined,
    childEnv,
    notify: notify.settings,
    ...webhook.settings,
    warnings,
  };
}
