// Shared set-up for the end-to-end suites: real engines, real git remotes, the real server.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/main.js';
import type { RuntimeRegistry } from '../../src/ports/runtime.js';
import { signBody } from '../../src/webhook/signature.js';
import { loadTestEngines, SKIP_NO_ENGINES, type TestEngines } from './engines/engines.js';
import { currentToolsInstalled, selectTools, SKIP_NO_CURRENT_TOOLS, type ToolGeneration, type ToolSelection } from './engines/tool-generations.js';

export type { ToolGeneration } from './engines/tool-generations.js';

/**
 * Server settings that make it run one compose tool generation (`current`: Compose v2 and
 * podman-compose 1.3 from /opt/gds-tools; `debian12`: docker-compose 1.29 and podman-compose
 * 1.0.3 on PATH); give `env` to TestServer.start and dispose it after. Missing current tools
 * skip locally and fail in CI, as missing engines do.
 */
export function requireToolGeneration(t: TestContext, generation: ToolGeneration, docker: 'plugin' | 'standalone' = 'standalone'): ToolSelection | undefined {
  if (generation === 'current' && !currentToolsInstalled()) {
    if (process.env['CI']) throw new Error(`CI=true but ${SKIP_NO_CURRENT_TOOLS}`);
    t.skip(SKIP_NO_CURRENT_TOOLS);
    return undefined;
  }
  return selectTools(generation, docker);
}

/**
 * The running test engines. Locally a missing engine skips the suite with the fix; in CI
 * (CI=true) it fails, so a broken engine set-up can never pass as "nothing to test".
 */
export function requireEngines(t: TestContext): TestEngines | undefined {
  const engines = loadTestEngines();
  if (engines) return engines;
  if (process.env['CI']) throw new Error(`CI=true but ${SKIP_NO_ENGINES}`);
  t.skip(SKIP_NO_ENGINES);
  return undefined;
}

/** Runs a command (argv, no shell) and returns its trimmed stdout. */
export function sh(command: string, args: string[], options: { cwd?: string; env?: Record<string, string | undefined>; input?: string } = {}): string {
  return execFileSync(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    input: options.input,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: 120_000,
  }).trim();
}

/** A short random suffix: every suite uses its own service names, so compose projects never collide. */
export function uid(): string {
  return randomBytes(3).toString('hex');
}

const GIT_ID = ['-c', 'user.name=e2e', '-c', 'user.email=e2e@localhost'];

/**
 * A real environment repository: a bare remote, the operator's clone (where the test edits
 * and pushes) and the server's checkout (what the server syncs). Secrets are written into the
 * server's checkout only: ignored files never travel through git.
 */
export class EnvRepo {
  readonly root: string;
  readonly remote: string;
  readonly work: string;
  readonly checkout: string;

  constructor() {
    this.root = mkdtempSync(path.join(tmpdir(), 'gds-e2e-repo-'));
    this.remote = path.join(this.root, 'remote.git');
    this.work = path.join(this.root, 'operator');
    this.checkout = path.join(this.root, 'checkout');
    sh('git', ['init', '-q', '--bare', '-b', 'main', this.remote]);
    sh('git', ['init', '-q', '-b', 'main', this.work]);
    sh('git', ['-C', this.work, 'remote', 'add', 'origin', this.remote]);
    this.write('.gitignore', 'secrets/\n');
    this.push('initial commit');
    sh('git', ['clone', '-q', this.remote, this.checkout]);
  }

  /** Writes a file in the operator's clone (commit it with push()). */
  write(file: string, text: string): void {
    const target = path.join(this.work, file);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, text);
  }

  remove(file: string): void {
    rmSync(path.join(this.work, file), { recursive: true, force: true });
  }

  /** Commits everything in the operator's clone and pushes it; returns the commit. */
  push(message: string): string {
    sh('git', ['-C', this.work, 'add', '--all']);
    sh('git', [...GIT_ID, '-C', this.work, 'commit', '-q', '--allow-empty', '-m', message]);
    sh('git', ['-C', this.work, 'push', '-q', 'origin', 'HEAD:main']);
    return sh('git', ['-C', this.work, 'rev-parse', 'HEAD']);
  }

  /** Writes a git-ignored file into the server's checkout, as an operator places secrets on the host. */
  writeSecret(file: string, text: string): void {
    const target = path.join(this.checkout, file);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, text, { mode: 0o600 });
  }

  dispose(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

export interface RunView {
  id: string;
  status: string;
  trigger: string;
  commit: string | null;
  error: { code: string; message: string } | null;
  deployments: Array<{
    service: string;
    action: string;
    status: string;
    reason: string;
    error: { code: string; message: string } | null;
    imagesBefore: Record<string, string> | null;
    imagesAfter: Record<string, string> | null;
    output: string;
  }>;
}

/** The real server (in this process, real HTTP on a free port) and a client that signs its webhooks. */
/** The management API token every test server is started with. */
export const E2E_API_TOKEN = 'e2e-api-token-0123456789abcdef';

export class TestServer {
  private constructor(
    readonly server: RunningServer,
    readonly dataDir: string,
  ) {}

  static async start(options: { checkout: string; env?: Record<string, string>; dataDir?: string; runtimes?: RuntimeRegistry }): Promise<TestServer> {
    const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'gds-e2e-data-'));
    const config = loadConfig({
      ...process.env,
      CONTAINER_HOST: undefined,
      DOCKER_HOST: undefined,
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      ENV_REPO_PATH: options.checkout,
      WEBHOOK_SECRET: 'e2e-webhook-secret-0123456789',
      API_TOKEN: E2E_API_TOKEN,
      STOP_TIMEOUT_SECONDS: '2',
      // The health gate's window (default 5 s) would add its length to every deployment of every
      // suite; suites about the window set their own.
      DEPLOY_SETTLE_SECONDS: '1',
      // The update debounce (default 10 s) would hold every package webhook's run; its own suite sets it.
      UPDATE_DEBOUNCE_SECONDS: '0',
      LOG_LEVEL: process.env['E2E_LOG_LEVEL'] ?? 'silent',
      ...options.env,
    });
    const server = await startServer(config, { logger: pino({ level: config.logLevel }), ...(options.runtimes ? { runtimes: options.runtimes } : {}) });
    return new TestServer(server, dataDir);
  }

  get url(): string {
    return this.server.url;
  }

  /** POSTs a body signed with the server's secret (or with `signature` when given). */
  async post(route: string, body = '', options: { signature?: string | null; contentType?: string } = {}): Promise<{ status: number; json: any }> {
    const bytes = Buffer.from(body);
    const headers: Record<string, string> = {};
    const signature = options.signature === undefined ? signBody(this.server.webhookSecret, bytes) : options.signature;
    if (signature !== null) headers['x-hub-signature-256'] = signature;
    if (options.contentType) headers['content-type'] = options.contentType;
    const response = await fetch(`${this.url}${route}`, { method: 'POST', headers, body: bytes.length > 0 ? bytes : undefined });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : null };
  }

  /** GETs a route with the management API's token. */
  async get(route: string): Promise<any> {
    const response = await fetch(`${this.url}${route}`, { headers: { authorization: `Bearer ${E2E_API_TOKEN}` } });
    return response.json();
  }

  /** Polls a run until it finished (bounded). */
  async waitForRun(runId: string, timeoutMs = 180_000): Promise<RunView> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = (await this.get(`/api/runs/${runId}`)) as RunView;
      if (run.status === 'succeeded' || run.status === 'failed') return run;
      if (Date.now() > deadline) throw new Error(`run ${runId} still ${run.status} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Triggers deploy-all-changed and waits for its run. */
  async deployAll(): Promise<RunView> {
    const response = await this.post('/deploy-all-changed');
    if (response.status !== 202) throw new Error(`deploy-all-changed answered ${response.status}: ${JSON.stringify(response.json)}`);
    return this.waitForRun(response.json.runId);
  }

  async close(): Promise<void> {
    await this.server.close();
  }

  dispose(): void {
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** A container as the engine CLI reports it. */
export interface Container {
  id: string;
  name: string;
  service: string;
  state: string;
  imageId: string;
}

/** The containers of a compose project, read straight from the engine. */
export function projectContainers(engine: 'podman' | 'docker', project: string, env: Record<string, string> = {}): Container[] {
  const ids = sh(engine, ['ps', '-a', '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=${project}`], { env }).split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  const inspected = JSON.parse(sh(engine, ['container', 'inspect', ...ids], { env })) as Array<{
    Id: string;
    Name: string;
    Image: string;
    State: { Status: string };
    Config: { Labels: Record<string, string> };
  }>;
  return inspected.map((c) => ({
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    service: c.Config.Labels['com.docker.compose.service'] ?? '',
    state: c.State.Status,
    imageId: c.Image.replace(/^sha256:/, ''),
  }));
}

/** One env value as the running container sees it. */
export function containerEnv(engine: 'podman' | 'docker', containerId: string, name: string, env: Record<string, string> = {}): string {
  return sh(engine, ['exec', containerId, 'printenv', name], { env });
}

/** Removes a compose project's containers and network (test clean-up; errors ignored). */
export function removeProject(engine: 'podman' | 'docker', project: string, env: Record<string, string> = {}): void {
  try {
    const ids = sh(engine, ['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${project}`], { env }).split('\n').filter(Boolean);
    // `docker rm` has no -t; podman's -t 0 skips the stop grace period.
    if (ids.length > 0) sh(engine, ['rm', '-f', ...(engine === 'podman' ? ['-t', '0'] : []), ...ids], { env });
    sh(engine, ['network', 'rm', engine === 'podman' ? '-f' : '--force', `${project}_default`], { env });
  } catch {
    // Best effort: a leftover container does not change another suite's result (names are unique).
  }
}

/**
 * Sequential steps that share state: once one fails, the later ones are skipped naming it,
 * instead of reporting only its consequences.
 */
export function stepper(t: TestContext): (name: string, fn: (st: TestContext) => Promise<void>) => Promise<void> {
  let failed: string | undefined;
  return (name, fn) =>
    t.test(name, async (st) => {
      if (failed) return st.skip(`earlier step failed: ${failed}`);
      try {
        await fn(st);
      } catch (error) {
        failed = name;
        throw error;
      }
    });
}

/** A free TCP port on loopback (for published ports and child servers). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A compact view of a run for assertion messages (the tool output is long). */
export function summary(run: RunView): string {
  return JSON.stringify({
    status: run.status,
    error: run.error,
    deployments: run.deployments.map((d) => ({ service: d.service, action: d.action, status: d.status, reason: d.reason, error: d.error, output: d.output.slice(-800) })),
  });
}

/** The one deployment of `service` in a run (fails the test when there is none or several). */
export function deploymentOf(run: RunView, service: string): RunView['deployments'][number] {
  const found = run.deployments.filter((d) => d.service === service);
  assert.equal(found.length, 1, `run ${run.id}: one deployment of ${service} expected: ${summary(run)}`);
  return found[0]!;
}

/**
 * GETs a URL until it answers 200 with a body `accept` takes (bounded), and returns the body:
 * a freshly started httpd needs a moment to bind.
 */
export async function waitForHttp(url: string, accept: (body: string) => boolean = () => true, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      const text = await response.text();
      if (response.status === 200 && accept(text)) return text;
      last = `status ${response.status}: ${JSON.stringify(text)}`;
    } catch (error) {
      last = String(error);
    }
    if (Date.now() > deadline) throw new Error(`${url} did not give the expected answer within ${timeoutMs} ms (last: ${last})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
