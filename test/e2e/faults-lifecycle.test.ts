// End to end: faults in the server's life cycle. A real `serve` child process is stopped with
// SIGTERM in the middle of a deployment (within and past SHUTDOWN_GRACE_SECONDS), loses its
// disk (SQLITE_FULL on a small tmpfs) and loses its engine socket (a unix-socket proxy the test
// closes). Each scenario checks what runs afterwards, what was recorded and that the server
// still answers. Deployments are made slow in a controllable way by a stand-in compose tool
// first on the server's PATH that sleeps, then execs the real one.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { openSqliteStore } from '../../src/adapters/sqlite-store.js';
import { errorCatalog } from '../../src/errors.js';
import { systemClock } from '../../src/ports/clock.js';
import { signBody } from '../../src/webhook/signature.js';
import { containerEnv, E2E_API_TOKEN, EnvRepo, freePort, projectContainers, removeProject, requireEngines, uid, summary, type RunView } from './harness.js';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SECRET = 'e2e-life-webhook-secret-0123456789';
/** Variables the child must not inherit from the test's environment: each scenario sets what it means. */
const SCRUBBED = ['WEBHOOK_SECRET', 'WEBHOOK_SECRET_FILE', 'API_TOKEN', 'API_TOKEN_FILE', 'CONTAINER_HOST', 'DOCKER_HOST', 'ENV_REPO_URL', 'PORT', 'DATA_DIR', 'SHUTDOWN_GRACE_SECONDS'];
const IMAGE = 'localhost/busybox:test';

type LifeRun = RunView & { origin: string; startedAt: string | null; finishedAt: string | null };

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** argv of every live process, read from /proc (a process that ends while we look is left out). */
function processes(): Array<{ pid: number; ppid: number; argv: string[] }> {
  const found: Array<{ pid: number; ppid: number; argv: string[] }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // comm may hold spaces and parentheses: the fields after the last ')' are fixed.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue; // a zombie has no argv and holds nothing
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      found.push({ pid: Number(entry), ppid: Number(fields[1]), argv });
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

/**
 * A stand-in for a compose tool, first on the server's PATH: it sleeps for what `delay` last
 * set, then execs the real tool. Each delay carries random decimals, so the `sleep` it starts is
 * recognisable in /proc among every other process on the machine.
 */
class SlowTool {
  readonly dir: string;
  private readonly delayFile: string;
  private marker = '0';

  constructor(
    root: string,
    private readonly name: string,
    real: string,
  ) {
    this.dir = path.join(root, 'bin');
    mkdirSync(this.dir, { recursive: true });
    this.delayFile = path.join(root, `${name}.delay`);
    writeFileSync(this.delayFile, '0');
    writeFileSync(
      path.join(this.dir, name),
      [
        '#!/bin/sh',
        `# Stand-in for ${name} (faults-lifecycle e2e): waits, then runs the real tool.`,
        `delay=$(cat '${this.delayFile}' 2>/dev/null)`,
        'if [ -n "$delay" ] && [ "$delay" != 0 ]; then sleep "$delay"; fi',
        `exec ${real} "$@"`,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
  }

  /** The next calls sleep about `seconds` first (0: none). */
  delay(seconds: number): void {
    this.marker = seconds === 0 ? '0' : `${seconds}.${String(randomInt(100_000, 999_999))}`;
    writeFileSync(this.delayFile, this.marker);
  }

  /** The live `sleep` processes of the current delay. */
  sleepers(): Array<{ pid: number; ppid: number; argv: string[] }> {
    return this.marker === '0' ? [] : processes().filter((p) => path.basename(p.argv[0] ?? '') === 'sleep' && p.argv[1] === this.marker);
  }

  /** Every live process of the stand-in: its shell still waiting, and the sleeps of the current delay. */
  leftovers(): Array<{ pid: number; ppid: number; argv: string[] }> {
    const script = path.join(this.dir, this.name);
    return [...processes().filter((p) => p.argv[1] === script), ...this.sleepers()];
  }
}

function killAll(list: Array<{ pid: number }>): void {
  for (const p of list) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !SCRUBBED.includes(key)) env[key] = value;
  return { ...env, ...extra };
}

/** `node --import tsx src/cli/main.ts serve` as a real child process on a free port, with a signing client. */
class ServeProcess {
  private out = '';
  private err = '';
  private all = '';
  exit: Exit | undefined;
  readonly exited: Promise<Exit>;

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => void ((this.out += chunk), (this.all += chunk)));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => void ((this.err += chunk), (this.all += chunk)));
    this.exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve((this.exit = { code, signal }))));
  }

  static async start(options: { dataDir: string; checkout: string; tool: SlowTool; env?: Record<string, string> }): Promise<ServeProcess> {
    const port = await freePort();
    const env = childEnv({
      DATA_DIR: options.dataDir,
      ENV_REPO_PATH: options.checkout,
      WEBHOOK_SECRET: SECRET,
      API_TOKEN: E2E_API_TOKEN,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      STOP_TIMEOUT_SECONDS: '1',
      PATH: `${options.tool.dir}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
      ...options.env,
    });
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new ServeProcess(child, `http://127.0.0.1:${port}`);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (server.exit) throw new Error(`the server exited (${JSON.stringify(server.exit)}) before answering /health\n${server.output()}`);
      try {
        const response = await fetch(`${server.url}/health`);
        const body = (await response.json()) as { status?: string; name?: string };
        if (response.ok && body.status === 'ok' && body.name === 'gitops-deploy-server' && !server.exit) return server;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`the server did not answer /health within 60 s\n${server.output()}`);
      }
      await sleep(200);
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  stdout(): string {
    return this.out;
  }

  /** Everything written so far on both streams, in arrival order. */
  logText(): string {
    return this.all;
  }

  /** Both streams' tails, request logs left out, for failure messages. */
  output(): string {
    const lines = this.out.split('\n').filter((l) => !/"msg":"(incoming request|request completed)"/.test(l));
    return `--- stdout ---\n${lines.join('\n').slice(-6_000)}\n--- stderr ---\n${this.err.slice(-3_000)}`;
  }

  /** stdout lines that are not JSON (pino writes one JSON object per line). */
  nonJsonLines(): string[] {
    return this.out.split('\n').filter((line) => {
      if (line.trim() === '') return false;
      try {
        return typeof JSON.parse(line) !== 'object';
      } catch {
        return true;
      }
    });
  }

  /** A POST signed with the webhook secret. */
  async webhook(route = '/deploy-all-changed', body = ''): Promise<{ status: number; json: any }> {
    const bytes = Buffer.from(body);
    const response = await this.fetch('POST', route, { method: 'POST', headers: { 'x-hub-signature-256': signBody(SECRET, bytes) }, body: bytes.length > 0 ? bytes : undefined });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : null };
  }

  /** A management API call with the token; the status is the caller's to check. */
  async api(method: 'GET' | 'POST', route: string): Promise<{ status: number; headers: Headers; json: any }> {
    const response = await this.fetch(method, route, { method, headers: { authorization: `Bearer ${E2E_API_TOKEN}` } });
    const text = await response.text();
    return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : null };
  }

  /** fetch, failing with what the server was doing when a request got no answer at all. */
  private async fetch(method: string, route: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.url}${route}`, init);
    } catch (error) {
      await sleep(500); // a dying process: let its exit and last lines arrive
      const state = this.exit ? `the server exited ${JSON.stringify(this.exit)}` : 'the server is still running';
      const cause = (error as Error & { cause?: Error }).cause?.message ?? String(error);
      throw new Error(`${method} ${route} got no answer (${cause}); ${state}\n${this.output()}`);
    }
  }

  async get(route: string): Promise<any> {
    const response = await this.api('GET', route);
    assert.equal(response.status, 200, `GET ${route} answered ${response.status}: ${JSON.stringify(response.json)}`);
    return response.json;
  }

  async run(runId: string): Promise<LifeRun> {
    return (await this.get(`/api/runs/${runId}`)) as LifeRun;
  }

  async trigger(): Promise<string> {
    const response = await this.webhook();
    assert.equal(response.status, 202, `deploy-all-changed answered ${response.status}: ${JSON.stringify(response.json)}`);
    return response.json.runId as string;
  }

  /** Polls until `check` returns a value (bounded). */
  async poll<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.output()}`);
      await sleep(150);
    }
  }

  waitForRun(runId: string, timeoutMs = 60_000): Promise<LifeRun> {
    return this.poll(`run ${runId} to finish`, async () => {
      const run = await this.run(runId);
      return run.status === 'succeeded' || run.status === 'failed' ? run : undefined;
    }, timeoutMs);
  }

  async service(name: string): Promise<any> {
    const { services } = (await this.get('/api/services')) as { services: Array<{ name: string }> };
    const found = services.find((s) => s.name === name);
    assert.ok(found, `GET /api/services does not list ${name}`);
    return found;
  }

  /** The child's exit, or undefined when it is still running after `ms`. */
  async exitWithin(ms: number): Promise<Exit | undefined> {
    const giveUp = new AbortController();
    const exit = await Promise.race([this.exited, sleep(ms, undefined, { signal: giveUp.signal }).catch(() => undefined)]);
    giveUp.abort(); // a pending timer would keep the test process alive
    return exit;
  }

  /** Clean-up: SIGKILL if still running. */
  async kill(): Promise<void> {
    if (this.exit) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/**
 * An open SSE stream of a run's events. `ended` resolves with the time the server ended it
 * (a clean end or a cut connection alike).
 */
async function openEventStream(server: ServeProcess, runId: string): Promise<{ ended: Promise<number>; text: () => string; abort: () => void }> {
  const controller = new AbortController();
  const response = await fetch(`${server.url}/api/runs/${runId}/events`, { headers: { authorization: `Bearer ${E2E_API_TOKEN}` }, signal: controller.signal });
  assert.equal(response.status, 200, `GET /api/runs/${runId}/events answered ${response.status}`);
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
  let text = '';
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const ended = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    } catch {
      // a connection the server destroyed ends the stream too
    }
    return Date.now();
  })();
  return { ended, text: () => text, abort: () => controller.abort() };
}

/** What the stopped instance left in its SQLite file, read before any other instance starts. */
function recorded(dataDir: string, runId: string) {
  const store = openSqliteStore({ file: path.join(dataDir, 'state.db'), clock: systemClock });
  try {
    return { run: store.getRun(runId), deployments: store.listDeployments(runId) };
  } finally {
    store.close();
  }
}

function podmanCompose(): string {
  return ['services:', '  app:', `    image: ${IMAGE}`, '    init: true', '    command: ["sleep", "3600"]', '    env_file: .env', ''].join('\n');
}

/** The one container of the compose service `app`, running. */
function appContainer(engine: 'podman' | 'docker', project: string, env: Record<string, string> = {}) {
  const containers = projectContainers(engine, project, env).filter((c) => c.service === 'app');
  assert.equal(containers.length, 1, `${project}: exactly one app container expected: ${JSON.stringify(containers)}`);
  assert.equal(containers[0]!.state, 'running', `${project}: ${JSON.stringify(containers[0])}`);
  return containers[0]!;
}

/** The server still answers: /health and the management API. */
async function assertAnswers(server: ServeProcess): Promise<void> {
  const health = await fetch(`${server.url}/health`);
  assert.equal(health.status, 200, `/health answered ${health.status}\n${server.output()}`);
  const services = await server.api('GET', '/api/services');
  assert.equal(services.status, 200, `GET /api/services answered ${services.status}: ${JSON.stringify(services.json)}\n${server.output()}`);
}

/**
 * What one scenario owns and cleans up whatever happens: a repository, a data directory, a
 * stand-in tool, the servers it started, its compose project, mounts and other closers.
 */
function scenario(t: TestContext, prefix: string, tool: { name: string; real: string }) {
  const root = mkdtempSync(path.join(tmpdir(), 'gds-e2e-life-'));
  const s = {
    service: `${prefix}-${uid()}`,
    root,
    dataDir: path.join(root, 'data'),
    repo: new EnvRepo(),
    tool: new SlowTool(root, tool.name, tool.real),
    servers: [] as ServeProcess[],
    cleanups: [] as Array<() => void | Promise<void>>,
    start: async (env: Record<string, string> = {}) => {
      const server = await ServeProcess.start({ dataDir: s.dataDir, checkout: s.repo.checkout, tool: s.tool, env });
      s.servers.push(server);
      return server;
    },
  };
  mkdirSync(s.dataDir);
  t.after(async () => {
    for (const server of s.servers) await server.kill();
    // Sleeps a server failed to stop must not outlive the test either.
    killAll(s.tool.leftovers());
    for (const cleanup of s.cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        t.diagnostic(`clean-up failed: ${String(error)}`);
      }
    }
    s.repo.dispose();
    rmSync(root, { recursive: true, force: true });
  });
  return s;
}

const PODMAN_COMPOSE = { name: 'podman-compose', real: '/usr/bin/podman-compose' };
const DOCKER_COMPOSE = { name: 'docker-compose', real: '/usr/bin/docker-compose' };

test('SIGTERM during a deployment: it finishes within the grace, new webhooks are queued for the next instance', { timeout: 150_000 }, async (t) => {
  if (!requireEngines(t)) return;
  const s = scenario(t, 'grace', PODMAN_COMPOSE);
  s.cleanups.push(() => removeProject('podman', s.service));
  s.repo.write(`services/${s.service}/podman-compose.yml`, podmanCompose());
  s.repo.write(`services/${s.service}/.env`, 'FOO=one\n');
  s.repo.push(`add ${s.service}`);

  const first = await s.start({ SHUTDOWN_GRACE_SECONDS: '30' });
  const initial = await first.waitForRun(await first.trigger());
  assert.equal(initial.status, 'succeeded', summary(initial));
  const project = (await first.service(s.service)).projectName as string;
  assert.equal(containerEnv('podman', appContainer('podman', project).id, 'FOO'), 'one');

  // FOO=two, deployed slowly: `up` sleeps 8 s first.
  s.repo.write(`services/${s.service}/.env`, 'FOO=two\n');
  const commitTwo = s.repo.push('FOO=two');
  s.tool.delay(8);
  const runningId = await first.trigger();
  await first.poll('the slow compose tool to run', () => (s.tool.sleepers().length > 0 ? true : undefined));
  const running = await first.run(runningId);
  assert.equal(running.status, 'running', summary(running));
  assert.equal(running.deployments.find((d) => d.service === s.service)?.status, 'running', summary(running));
  const stream = await openEventStream(first, runningId);
  t.after(() => stream.abort());
  // The next change, for the next instance to deploy.
  s.repo.write(`services/${s.service}/.env`, 'FOO=three\n');
  const commitThree = s.repo.push('FOO=three');

  const logged = first.logText().length;
  const termAt = Date.now();
  first.child.kill('SIGTERM');
  // The handler has run once the server says so (bounded: a silent server is asserted on below).
  await first.poll('the server to log the SIGTERM', () => (/SIGTERM|stopping|shutdown|draining/i.test(first.logText().slice(logged)) ? true : undefined), 3_000).catch(() => undefined);

  // (1) Still listening: a webhook is accepted as a queued run, an API action is refused.
  const late = await first.webhook();
  assert.equal(late.status, 202, `a webhook to a draining server: ${late.status} ${JSON.stringify(late.json)}`);
  assert.equal(late.json.status, 'queued');
  const queuedId = late.json.runId as string;
  assert.ok(typeof queuedId === 'string' && queuedId !== runningId, `a new run id: ${JSON.stringify(late.json)}`);
  const refused = await first.api('POST', '/api/deploy');
  assert.equal(refused.status, 503, `POST /api/deploy to a draining server: ${refused.status} ${JSON.stringify(refused.json)}`);
  assert.equal(refused.json?.error?.code, 'SERVER_STOPPING');
  assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/, 'Retry-After is set');
  for (const action of ['deploy', 'update']) {
    const perService = await first.api('POST', `/api/services/${s.service}/${action}`);
    assert.equal(perService.status, 503, `POST /api/services/${s.service}/${action} to a draining server: ${perService.status} ${JSON.stringify(perService.json)}`);
    assert.equal(perService.json?.error?.code, 'SERVER_STOPPING');
    assert.match(perService.headers.get('retry-after') ?? '', /^\d+$/);
  }

  // (3) The open event stream is ended, long before the 8 s deployment could have ended it.
  const streamEndedAt = await Promise.race([stream.ended, sleep(6_000, undefined)]);
  assert.ok(streamEndedAt !== undefined, `the event stream of the running run was not ended within 6 s of SIGTERM; it got:\n${stream.text().slice(-1_000)}`);
  assert.ok(s.tool.sleepers().length > 0, 'the deployment was still running when its stream ended');
  t.diagnostic(`event stream ended ${streamEndedAt - termAt} ms after SIGTERM`);

  // (4)+(5) The deployment finishes within the grace, then the process exits 0.
  const exit = await first.exitWithin(40_000);
  assert.deepEqual(exit, { code: 0, signal: null }, `exit after SIGTERM\n${first.output()}`);
  assert.deepEqual(first.nonJsonLines(), [], 'every stdout line is JSON');
  const stopped = recorded(s.dataDir, runningId);
  assert.equal(stopped.run?.status, 'succeeded', JSON.stringify(stopped));
  assert.equal(stopped.run?.commit, commitTwo);
  assert.equal(stopped.deployments.find((d) => d.service === s.service)?.status, 'succeeded', JSON.stringify(stopped.deployments));
  const left = recorded(s.dataDir, queuedId);
  assert.equal(left.run?.status, 'queued', `the stopping instance does not start the late run: ${JSON.stringify(left.run)}`);
  const afterGrace = appContainer('podman', project);
  assert.equal(containerEnv('podman', afterGrace.id, 'FOO'), 'two');

  // The next instance carries the queued run out under its own id.
  s.tool.delay(0);
  const second = await s.start({ SHUTDOWN_GRACE_SECONDS: '30' });
  const carried = await second.waitForRun(queuedId);
  assert.equal(carried.status, 'succeeded', summary(carried));
  assert.equal(carried.commit, commitThree);
  assert.equal(carried.deployments.find((d) => d.service === s.service)?.status, 'succeeded', summary(carried));
  assert.equal((await second.run(runningId)).status, 'succeeded', 'the finished run is left alone by the restart');
  const now = appContainer('podman', project);
  assert.notEqual(now.id, afterGrace.id);
  assert.equal(containerEnv('podman', now.id, 'FOO'), 'three');
  const view = await second.service(s.service);
  assert.equal(view.deployedCommit, commitThree);
  await assertAnswers(second);
});

test('SIGTERM with a grace shorter than the deployment: it is interrupted, its children killed, and retried by the next instance', { timeout: 120_000 }, async (t) => {
  if (!requireEngines(t)) return;
  const s = scenario(t, 'abort', PODMAN_COMPOSE);
  s.cleanups.push(() => removeProject('podman', s.service));
  s.repo.write(`services/${s.service}/podman-compose.yml`, podmanCompose());
  s.repo.write(`services/${s.service}/.env`, 'FOO=one\n');
  s.repo.push(`add ${s.service}`);

  const first = await s.start({ SHUTDOWN_GRACE_SECONDS: '1' });
  const initial = await first.waitForRun(await first.trigger());
  assert.equal(initial.status, 'succeeded', summary(initial));
  const project = (await first.service(s.service)).projectName as string;

  s.repo.write(`services/${s.service}/.env`, 'FOO=two\n');
  const commitTwo = s.repo.push('FOO=two');
  s.tool.delay(20);
  const abortedId = await first.trigger();
  const [sleeper] = await first.poll('the slow compose tool to run', () => {
    const found = s.tool.sleepers();
    return found.length > 0 ? found : undefined;
  });
  assert.equal((await first.run(abortedId)).status, 'running');

  const termAt = Date.now();
  first.child.kill('SIGTERM');
  const exit = await first.exitWithin(15_000);
  const tookMs = Date.now() - termAt;
  assert.deepEqual(exit, { code: 0, signal: null }, `exit after SIGTERM (${tookMs} ms)\n${first.output()}`);
  assert.ok(tookMs < 10_000, `the server took ${tookMs} ms to stop; its deployment sleeps 20 s`);
  t.diagnostic(`stopped ${tookMs} ms after SIGTERM`);
  assert.deepEqual(first.nonJsonLines(), [], 'every stdout line is JSON');
  // Killed by process group: the tool's own child (the sleep) is gone too. Asserted at the end:
  // a leftover is killed now, so it cannot run a stale `up` beside the next instance, and the
  // recovery below is still checked.
  await sleep(300);
  const leftovers = s.tool.leftovers();
  killAll(leftovers);

  // Recorded by the stopping instance itself, before anything else opened the file.
  const stopped = recorded(s.dataDir, abortedId);
  assert.equal(stopped.run?.status, 'failed', JSON.stringify(stopped.run));
  assert.equal(stopped.run?.errorCode, 'DEPLOYMENT_INTERRUPTED', JSON.stringify(stopped.run));
  const interrupted = stopped.deployments.find((d) => d.service === s.service);
  assert.equal(interrupted?.status, 'interrupted', JSON.stringify(stopped.deployments));
  assert.equal(interrupted?.errorCode, 'DEPLOYMENT_INTERRUPTED');

  // The next instance retries on its own and converges.
  s.tool.delay(0);
  const second = await s.start({ SHUTDOWN_GRACE_SECONDS: '1' });
  const recovered = await second.poll('the interrupted deployment to be retried', async () => {
    const last = (await second.service(s.service)).lastDeployment;
    if (!last || last.runId === abortedId) return undefined;
    return last.status === 'succeeded' || last.status === 'failed' ? last : undefined;
  });
  const retry = await second.run(recovered.runId as string);
  assert.equal(retry.status, 'succeeded', summary(retry));
  assert.equal(retry.origin, 'restart');
  assert.equal(retry.commit, commitTwo);
  assert.equal(containerEnv('podman', appContainer('podman', project).id, 'FOO'), 'two');
  const view = await second.service(s.service);
  assert.equal(view.deployedCommit, commitTwo);
  assert.equal(view.inSync, true);
  await assertAnswers(second);
  assert.deepEqual(leftovers, [], `the stand-in tool (its sleep was pid ${sleeper!.pid}) outlived the server that ran it`);
});

test('disk full while a deployment runs: no crash, STORE_FAILED, the server answers, and converges once space is back', { timeout: 120_000 }, async (t) => {
  if (!requireEngines(t)) return;
  const s = scenario(t, 'full', PODMAN_COMPOSE);
  s.cleanups.push(() => removeProject('podman', s.service));
  // The data directory on a 4 MiB tmpfs of its own.
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', s.dataDir], { encoding: 'utf8' });
  assert.equal(mounted.status, 0, `mount tmpfs: ${mounted.stderr}`);
  const fill = path.join(s.dataDir, 'fill');
  s.cleanups.push(() => void spawnSync('umount', ['-l', s.dataDir]));
  s.repo.write(`services/${s.service}/podman-compose.yml`, podmanCompose());
  s.repo.write(`services/${s.service}/.env`, 'FOO=one\n');
  s.repo.push(`add ${s.service}`);

  const server = await s.start({ SHUTDOWN_GRACE_SECONDS: '5' });
  const initial = await server.waitForRun(await server.trigger());
  assert.equal(initial.status, 'succeeded', summary(initial));
  const project = (await server.service(s.service)).projectName as string;

  // A change whose deployment writes output; the disk fills up while it runs.
  s.repo.write(`services/${s.service}/.env`, 'FOO=two\n');
  const commitTwo = s.repo.push('FOO=two');
  s.tool.delay(3);
  const fullId = await server.trigger();
  await server.poll('the slow compose tool to run', () => (s.tool.sleepers().length > 0 ? true : undefined));
  const dd = spawnSync('dd', ['if=/dev/zero', `of=${fill}`, 'bs=64k'], { encoding: 'utf8' });
  assert.notEqual(dd.status, 0, 'dd stops at a full disk');
  assert.match(dd.stderr, /No space left/, dd.stderr);

  // The run ends: recorded as STORE_FAILED where the store still could, else logged with that code.
  const outcome = await server.poll('the deployment to fail with STORE_FAILED (recorded or logged)', async () => {
    assert.equal(server.exit, undefined, `the server died on a full disk\n${server.output()}`);
    const run = await server.run(fullId);
    const codes = [run.error?.code, ...run.deployments.map((d) => d.error?.code)];
    if (run.status === 'failed' && codes.includes('STORE_FAILED')) return 'recorded';
    if (server.stdout().split('\n').some((l) => l.includes('"STORE_FAILED"'))) return 'logged';
    return undefined;
  }, 40_000);
  t.diagnostic(`STORE_FAILED was ${outcome}`);
  assert.ok(Object.hasOwn(errorCatalog, 'STORE_FAILED'), 'STORE_FAILED is a code of the catalog');
  assert.equal(server.exit, undefined, `the server died on a full disk\n${server.output()}`);
  assert.doesNotMatch(server.output(), /uncaught|unhandled/i, 'no uncaught exception');
  await assertAnswers(server);

  // Space is back: the next run converges.
  unlinkSync(fill);
  s.tool.delay(0);
  const next = await server.waitForRun(await server.trigger());
  assert.equal(next.status, 'succeeded', summary(next));
  const full = await server.run(fullId);
  t.diagnostic(`the run the full disk hit, once space is back: ${full.status} ${JSON.stringify(full.error)}`);
  const view = await server.service(s.service);
  assert.equal(view.deployedCommit, commitTwo);
  assert.equal(view.inSync, true);
  assert.equal(containerEnv('podman', appContainer('podman', project).id, 'FOO'), 'two');
  await assertAnswers(server);

  // Whatever the full disk kept from being recorded, the next start does not leave it running.
  server.child.kill('SIGTERM');
  assert.deepEqual(await server.exitWithin(20_000), { code: 0, signal: null }, server.output());
  const again = await s.start({ SHUTDOWN_GRACE_SECONDS: '5' });
  const after = await again.run(fullId);
  assert.equal(after.status, 'failed', summary(after));
  assert.ok(['STORE_FAILED', 'DEPLOYMENT_INTERRUPTED'].includes(after.error?.code ?? ''), `run error: ${JSON.stringify(after.error)}`);
  await assertAnswers(again);
});

test('the engine socket disappears mid-deployment: a clean catalogued failure, and the next run converges once it is back', { timeout: 120_000 }, async (t) => {
  const engines = requireEngines(t);
  if (!engines) return;
  const s = scenario(t, 'sock', DOCKER_COMPOSE);
  const dockerEnv = { DOCKER_HOST: engines.dockerHost };
  s.cleanups.push(() => removeProject('docker', s.service, dockerEnv));
  const proxy = new SocketProxy(path.join(s.root, 'docker.sock'), engines.dockerSocket);
  s.cleanups.push(() => proxy.close());
  await proxy.open();
  s.repo.write(`services/${s.service}/docker-compose.yml`, podmanCompose());
  s.repo.write(`services/${s.service}/.env`, 'FOO=one\n');
  s.repo.push(`add ${s.service}`);

  const server = await s.start({ DOCKER_HOST: `unix://${proxy.path}`, DOCKER_COMPOSE: 'standalone', SHUTDOWN_GRACE_SECONDS: '5' });
  const initial = await server.waitForRun(await server.trigger());
  assert.equal(initial.status, 'succeeded', summary(initial));
  const view1 = await server.service(s.service);
  assert.equal(view1.runtime, 'docker');
  const project = view1.projectName as string;
  const before = appContainer('docker', project, dockerEnv);
  assert.equal(containerEnv('docker', before.id, 'FOO', dockerEnv), 'one');
  assert.ok(proxy.connections > 0, 'the server reached dockerd through the proxy');

  s.repo.write(`services/${s.service}/.env`, 'FOO=two\n');
  const commitTwo = s.repo.push('FOO=two');
  s.tool.delay(3);
  const lostId = await server.trigger();
  await server.poll('the slow compose tool to run', () => (s.tool.sleepers().length > 0 ? true : undefined));
  await proxy.close();

  const lost = await server.waitForRun(lostId, 60_000);
  assert.equal(lost.status, 'failed', summary(lost));
  const failed = lost.deployments.find((d) => d.service === s.service);
  assert.equal(failed?.status, 'failed', summary(lost));
  const code = failed?.error?.code ?? lost.error?.code ?? '';
  assert.ok(Object.hasOwn(errorCatalog, code) && code !== 'INTERNAL', `a catalogued error code, got ${JSON.stringify(failed?.error ?? lost.error)}`);
  t.diagnostic(`engine loss failed the deployment with ${code}: ${failed?.error?.message ?? lost.error?.message ?? ''}`);
  assert.equal(server.exit, undefined, server.output());
  await assertAnswers(server);

  // The socket is back: the next run converges.
  await proxy.open();
  s.tool.delay(0);
  const next = await server.waitForRun(await server.trigger());
  assert.equal(next.status, 'succeeded', summary(next));
  const view = await server.service(s.service);
  assert.equal(view.deployedCommit, commitTwo);
  assert.equal(view.inSync, true);
  const now = appContainer('docker', project, dockerEnv);
  assert.notEqual(now.id, before.id);
  assert.equal(containerEnv('docker', now.id, 'FOO', dockerEnv), 'two');
  await assertAnswers(server);
});

/** A unix-socket proxy in front of an engine socket, which the test can take away and bring back. */
class SocketProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  connections = 0;

  constructor(
    readonly path: string,
    private readonly target: string,
  ) {}

  open(): Promise<void> {
    const server = net.createServer((client) => {
      this.connections += 1;
      const upstream = net.connect(this.target);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
        socket.once('error', () => (client.destroy(), upstream.destroy()));
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
  }

  /** Stops accepting (the socket file goes away) and cuts every open connection. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.path, { force: true });
  }
}
