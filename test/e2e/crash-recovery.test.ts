// End to end: the server process dies (SIGKILL) in the middle of a deployment and recovers on
// restart. The server runs as a child process (`serve` from the CLI), so it can really be killed.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { openSqliteStore } from '../../src/adapters/sqlite-store.js';
import { systemClock } from '../../src/ports/clock.js';
import { signBody } from '../../src/webhook/signature.js';
import { containerEnv, E2E_API_TOKEN, EnvRepo, freePort, projectContainers, removeProject, requireEngines, uid, type RunView } from './harness.js';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SECRET = 'e2e-crash-webhook-secret-0123456789';
/** Variables the child must not inherit from the test's environment: the test sets what it means. */
const SCRUBBED = ['WEBHOOK_SECRET', 'WEBHOOK_SECRET_FILE', 'API_TOKEN', 'API_TOKEN_FILE', 'CONTAINER_HOST', 'DOCKER_HOST', 'ENV_REPO_URL', 'PORT', 'DATA_DIR'];

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));


/** Whether something accepts TCP connections on 127.0.0.1:port. */
function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.setTimeout(2_000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !SCRUBBED.includes(key)) env[key] = value;
  return { ...env, ...extra };
}

/** `node --import tsx src/cli/main.ts serve` as a real child process, its output kept for failure messages. */
interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Spawned {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Both streams' tails, for failure messages. */
  output: () => string;
  exited: Promise<Exit>;
}

function spawnServe(env: Record<string, string>): Spawned {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => void (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => void (stderr += chunk));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    // Request logs are noise in a failure message; the pipeline's own lines tell the story.
    output: () => `--- stdout ---\n${stdout.split('\n').filter((l) => !/"msg":"(incoming request|request completed)"/.test(l)).join('\n').slice(-6_000)}\n--- stderr ---\n${stderr.slice(-4_000)}`,
    exited,
  };
}

/** The child's exit, or undefined (and the child killed) when it is still running after `ms`. */
async function exitWithin(spawned: Spawned, ms: number): Promise<Exit | undefined> {
  const giveUp = new AbortController();
  const exit = await Promise.race([spawned.exited, sleep(ms, undefined, { signal: giveUp.signal }).catch(() => undefined)]);
  giveUp.abort(); // a pending timer would keep the test process alive
  if (!exit) spawned.child.kill('SIGKILL');
  return exit;
}

/** The real server as a child process on a free port, with a signing client. */
class ChildServer {
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    readonly output: () => string,
    readonly exited: Promise<Exit>,
  ) {}

  static async start(options: { dataDir: string; checkout: string; stopTimeoutSeconds: number }): Promise<ChildServer> {
    const port = await freePort();
    const spawned = spawnServe(
      childEnv({
        DATA_DIR: options.dataDir,
        ENV_REPO_PATH: options.checkout,
        WEBHOOK_SECRET: SECRET,
        API_TOKEN: E2E_API_TOKEN,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        STOP_TIMEOUT_SECONDS: String(options.stopTimeoutSeconds),
      }),
    );
    const server = new ChildServer(spawned.child, `http://127.0.0.1:${port}`, spawned.output, spawned.exited);
    let exit: Exit | undefined;
    void spawned.exited.then((e) => (exit = e));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exit) throw new Error(`the server exited (${JSON.stringify(exit)}) before answering /health\n${server.output()}`);
      try {
        const response = await fetch(`${server.url}/health`);
        const body = (await response.json()) as { status?: string; name?: string };
        // The child is alive and answers as the deploy server: the port is really ours.
        if (response.ok && body.status === 'ok' && body.name === 'gitops-deploy-server' && exit === undefined) return server;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        server.child.kill('SIGKILL');
        throw new Error(`the server did not answer /health within 60 s\n${server.output()}`);
      }
      await delay(200);
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  async post(route: string, body = ''): Promise<{ status: number; json: any }> {
    const bytes = Buffer.from(body);
    const response = await fetch(`${this.url}${route}`, {
      method: 'POST',
      headers: { 'x-hub-signature-256': signBody(SECRET, bytes) },
      body: bytes.length > 0 ? bytes : undefined,
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : null };
  }

  async get(route: string): Promise<any> {
    const response = await fetch(`${this.url}${route}`, { headers: { authorization: `Bearer ${E2E_API_TOKEN}` } });
    assert.equal(response.status, 200, `GET ${route} answered ${response.status}`);
    return response.json();
  }

  async triggerDeployAll(): Promise<string> {
    const response = await this.post('/deploy-all-changed');
    assert.equal(response.status, 202, `deploy-all-changed answered ${response.status}: ${JSON.stringify(response.json)}`);
    return response.json.runId as string;
  }

  /** Polls until `check` returns a value (bounded). */
  async poll<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.output()}`);
      await delay(200);
    }
  }

  waitForRun(runId: string): Promise<RunView> {
    return this.poll(`run ${runId} to finish`, async () => {
      const run = (await this.get(`/api/runs/${runId}`)) as RunView;
      return run.status === 'succeeded' || run.status === 'failed' ? run : undefined;
    });
  }

  async service(name: string): Promise<any> {
    const { services } = (await this.get('/api/services')) as { services: Array<{ name: string }> };
    const found = services.find((s) => s.name === name);
    assert.ok(found, `GET /api/services does not list ${name}`);
    return found;
  }

  /** SIGKILL: no handler runs, nothing is flushed or closed. Resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** pids of every live process descending from `pid`, with their argv (read from /proc). */
function descendants(pid: number): Array<{ pid: number; argv: string[] }> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // comm may hold spaces and parentheses: the fields after the last ')' are fixed.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // the process ended while we looked
    }
  }
  const found: Array<{ pid: number; argv: string[] }> = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of parents) {
      if (ppid !== parent) continue;
      try {
        found.push({ pid: child, argv: readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').filter(Boolean) });
      } catch {
        continue;
      }
      walk(child);
    }
  };
  walk(pid);
  return found;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let repo: EnvRepo | undefined;
const dataDirs: string[] = [];

before(() => {
  repo = new EnvRepo();
});

after(() => {
  repo?.dispose();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * What a crash scenario owns and must clean up whatever happens: its data directory, the
 * server processes it started, orphaned children of a killed server, its compose project.
 */
function crashScenario(t: TestContext, prefix: string) {
  const scenario = {
    service: `${prefix}-${uid()}`,
    dataDir: mkdtempSync(path.join(tmpdir(), 'gds-e2e-crash-data-')),
    servers: [] as ChildServer[],
    orphans: [] as number[],
    project: '',
  };
  scenario.project = scenario.service;
  dataDirs.push(scenario.dataDir);
  t.after(async () => {
    for (const server of scenario.servers) await server.kill();
    for (const pid of scenario.orphans) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    removeProject('podman', scenario.project);
  });
  return scenario;
}

test('a server killed (SIGKILL) while replacing a container marks the deployment interrupted and redeploys on restart', { timeout: 300_000 }, async (t) => {
  if (!requireEngines(t)) return;
  const scenario = crashScenario(t, 'slow');
  const { service, dataDir, servers, orphans } = scenario;

  // 1. A service whose container ignores SIGTERM (busybox sleep as PID 1, no init): replacing it
  //    waits the whole stop timeout, which leaves time to kill the server in the middle.
  repo!.write(
    `services/${service}/podman-compose.yml`,
    ['services:', '  app:', '    image: localhost/busybox:test', '    command: ["sleep", "3600"]', '    env_file: .env', ''].join('\n'),
  );
  repo!.write(`services/${service}/.env`, 'FOO=one\n');
  repo!.push(`add ${service}`);

  const first = await ChildServer.start({ dataDir, checkout: repo!.checkout, stopTimeoutSeconds: 60 });
  servers.push(first);
  const firstRun = await first.waitForRun(await first.triggerDeployAll());
  const firstDeployment = firstRun.deployments.find((d) => d.service === service);
  assert.equal(firstRun.status, 'succeeded', `first deploy failed: ${JSON.stringify(firstRun.deployments, null, 2)}`);
  assert.equal(firstDeployment?.status, 'succeeded');
  const deployedOne = await first.service(service);
  scenario.project = deployedOne.projectName as string;
  assert.equal(deployedOne.deployedFingerprint, deployedOne.desiredFingerprint);
  const [oldContainer, ...extraOld] = projectContainers('podman', scenario.project).filter((c) => c.service === 'app');
  assert.ok(oldContainer, 'the first deploy left no container');
  assert.equal(extraOld.length, 0);
  assert.equal(oldContainer.state, 'running');
  assert.equal(containerEnv('podman', oldContainer.id, 'FOO'), 'one');

  // 2. FOO=two: the deployment must replace the container, and the stop hangs for up to 60 s.
  repo!.write(`services/${service}/.env`, 'FOO=two\n');
  const commitTwo = repo!.push('FOO=two');
  const killedRunId = await first.triggerDeployAll();
  await first.poll('the deployment to be running', async () => {
    const run = (await first.get(`/api/runs/${killedRunId}`)) as RunView;
    const deployment = run.deployments.find((d) => d.service === service);
    assert.ok(!deployment || ['queued', 'running'].includes(deployment.status), `deployment ended before the kill: ${JSON.stringify(deployment)}`);
    return deployment?.status === 'running' ? deployment : undefined;
  });
  // Kill while the server is really inside `podman stop --time 60`, not before or after it.
  const stopper = await first.poll('the server to run `podman stop --time 60`', async () =>
    descendants(first.pid).find((p) => p.argv.includes('stop') && p.argv.includes('--time') && p.argv.includes('60')),
  );
  // The engine shows the same moment: the old container exists and is being stopped.
  await first.poll('the old container to be stopping', async () => {
    const state = projectContainers('podman', scenario.project).find((c) => c.id === oldContainer.id)?.state;
    t.diagnostic(`old container state: ${state}`);
    return state === 'stopping' ? state : undefined;
  }, 20_000);
  const childrenAtKill = descendants(first.pid).map((p) => p.pid);
  await first.kill();
  assert.equal(first.child.signalCode, 'SIGKILL');
  assert.equal(isAlive(first.pid), false, 'the killed server process is gone');
  // The tools the dead server had started live on as orphans (as they would with a plain kill on a host).
  for (const pid of childrenAtKill) if (isAlive(pid)) orphans.push(pid);
  t.diagnostic(`killed the server in: ${stopper.argv.join(' ')}; orphans left: ${orphans.length}`);

  // 4 (first half). The crash left the deployed state alone: it still describes FOO=one.
  const store = openSqliteStore({ file: path.join(dataDir, 'state.db'), clock: systemClock });
  try {
    const state = store.getDeployedState(service);
    assert.ok(state, 'the first deployment recorded a deployed state');
    assert.equal(state.fingerprint, deployedOne.deployedFingerprint, 'the interrupted deployment must not write the deployed state');
    assert.notEqual(state.commit, commitTwo);
    assert.equal(store.getRun(killedRunId)?.status, 'running', 'the killed run is still recorded as running before the restart');
  } finally {
    store.close();
  }

  // 3. Restart on the same data directory, with quick stops this time.
  const second = await ChildServer.start({ dataDir, checkout: repo!.checkout, stopTimeoutSeconds: 1 });
  servers.push(second);
  const killedRun = (await second.get(`/api/runs/${killedRunId}`)) as RunView;
  const interrupted = killedRun.deployments.find((d) => d.service === service);
  assert.equal(killedRun.status, 'failed');
  assert.equal(killedRun.error?.code, 'DEPLOYMENT_INTERRUPTED');
  assert.equal(interrupted?.status, 'interrupted');
  assert.equal(interrupted?.error?.code, 'DEPLOYMENT_INTERRUPTED');
  assert.equal(interrupted?.reason, 'changed: .env');

  // Nobody triggers anything: the server retries on its own because something was interrupted.
  const recovered = await second.poll('the recovery run to succeed', async () => {
    const current = await second.service(service);
    const last = current.lastDeployment;
    if (!last || last.runId === killedRunId) return undefined;
    assert.ok(['queued', 'running', 'succeeded'].includes(last.status), `recovery deployment ${last.status}: ${JSON.stringify(last)}\n${second.output()}`);
    return last.status === 'succeeded' ? current : undefined;
  }, 60_000);
  const recoveryRun = (await second.get(`/api/runs/${recovered.lastDeployment.runId}`)) as RunView;
  assert.equal(recoveryRun.trigger, 'deploy-all-changed');
  assert.equal(recoveryRun.status, 'succeeded');
  assert.equal(recoveryRun.commit, commitTwo);
  // 4 (second half). The recovery run still saw .env as changed: the deployed state was FOO=one's.
  const recoveryDeployment = recoveryRun.deployments.find((d) => d.service === service);
  assert.equal(recoveryDeployment?.status, 'succeeded');
  assert.equal(recoveryDeployment?.reason, 'changed: .env');

  // The engine agrees: one container for the compose service, a new one, running FOO=two.
  const containers = projectContainers('podman', scenario.project).filter((c) => c.service === 'app');
  assert.equal(containers.length, 1, `exactly one container for the service: ${JSON.stringify(containers)}`);
  const [current] = containers;
  assert.notEqual(current!.id, oldContainer.id, 'the old container was replaced');
  assert.equal(current!.state, 'running');
  assert.equal(containerEnv('podman', current!.id, 'FOO'), 'two');
  assert.equal(recovered.deployedFingerprint, recovered.desiredFingerprint);
  assert.notEqual(recovered.deployedFingerprint, deployedOne.deployedFingerprint);
  assert.equal(recovered.deployedCommit, commitTwo);
  assert.equal(recovered.inSync, true);

  await second.kill();
});

test('a server killed (SIGKILL) while syncing the repository retries the run on restart', { timeout: 240_000 }, async (t) => {
  if (!requireEngines(t)) return;
  // A repository of its own: a fresh data directory would otherwise deploy the other test's service.
  const syncRepo = new EnvRepo();
  t.after(() => syncRepo.dispose());
  const scenario = crashScenario(t, 'syncdie');
  const { service, dataDir, servers, orphans } = scenario;

  syncRepo.write(
    `services/${service}/podman-compose.yml`,
    ['services:', '  app:', '    image: localhost/busybox:test', '    command: ["sleep", "3600"]', '    init: true', '    env_file: .env', ''].join('\n'),
  );
  syncRepo.write(`services/${service}/.env`, 'FOO=one\n');
  syncRepo.push(`add ${service}`);
  const first = await ChildServer.start({ dataDir, checkout: syncRepo.checkout, stopTimeoutSeconds: 1 });
  servers.push(first);
  const firstRun = await first.waitForRun(await first.triggerDeployAll());
  assert.equal(firstRun.status, 'succeeded', JSON.stringify(firstRun.deployments, null, 2));
  scenario.project = (await first.service(service)).projectName as string;

  // The remote becomes slow: git runs this upload-pack for `git fetch origin` of a path remote.
  syncRepo.write(`services/${service}/.env`, 'FOO=two\n');
  const commitTwo = syncRepo.push('FOO=two');
  const slowUploadPack = path.join(syncRepo.root, 'slow-upload-pack.sh');
  writeFileSync(slowUploadPack, '#!/bin/sh\nsleep 120\nexec git-upload-pack "$@"\n', { mode: 0o755 });
  execFileSync('git', ['-C', syncRepo.checkout, 'config', 'remote.origin.uploadpack', slowUploadPack]);
  const killedRunId = await first.triggerDeployAll();
  await first.poll('the server to be fetching', async () => descendants(first.pid).find((p) => p.argv.some((a) => a.endsWith('slow-upload-pack.sh'))));
  const killedBefore = (await first.get(`/api/runs/${killedRunId}`)) as RunView;
  assert.equal(killedBefore.status, 'running');
  assert.deepEqual(killedBefore.deployments, [], 'killed before the plan: no deployment recorded yet');
  const childrenAtKill = descendants(first.pid).map((p) => p.pid);
  await first.kill();
  for (const pid of childrenAtKill) if (isAlive(pid)) orphans.push(pid);
  // Like a container that died with everything in it: the fetch dies with the server.
  for (const pid of orphans) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  execFileSync('git', ['-C', syncRepo.checkout, 'config', '--unset', 'remote.origin.uploadpack']);

  const second = await ChildServer.start({ dataDir, checkout: syncRepo.checkout, stopTimeoutSeconds: 1 });
  servers.push(second);
  const killedRun = (await second.get(`/api/runs/${killedRunId}`)) as RunView;
  assert.equal(killedRun.status, 'failed');
  assert.equal(killedRun.error?.code, 'DEPLOYMENT_INTERRUPTED');
  // The webhook was answered 202: the change it announced must still be deployed, without another push.
  const recovered = await second.poll('the interrupted run to be retried and FOO=two deployed', async () => {
    const current = await second.service(service);
    return current.lastDeployment?.status === 'succeeded' && current.deployedCommit === commitTwo ? current : undefined;
  }, 60_000);
  assert.equal(recovered.deployedFingerprint, recovered.desiredFingerprint);
  assert.equal(recovered.lastDeployment.reason, 'changed: .env');
  const containers = projectContainers('podman', scenario.project).filter((c) => c.service === 'app');
  assert.equal(containers.length, 1, JSON.stringify(containers));
  assert.equal(containerEnv('podman', containers[0]!.id, 'FOO'), 'two');
  await second.kill();
});

test('a bad configuration stops start-up with every problem on its own line, exit code 2, before anything listens', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gds-e2e-badconfig-'));
  dataDirs.push(dir);
  const dataDir = path.join(dir, 'data');
  const envRepo = path.join(dir, 'env-repo');

  // As briefed: the port itself is unreadable.
  const bad = spawnServe(childEnv({ PORT: 'abc', DEPLOY_PARALLELISM: '0', ENV_REPO_PATH: envRepo, DATA_DIR: dataDir, LOG_LEVEL: 'info' }));
  const exit = await exitWithin(bad, 30_000);
  assert.ok(exit, `serve did not exit within 30 s\n${bad.output()}`);
  assert.deepEqual(exit, { code: 2, signal: null }, bad.output());
  const stderr = bad.stderr();
  const lines = stderr.split('\n');
  for (const problem of ['PORT must be a whole number', 'DEPLOY_PARALLELISM must be between 1 and 64', 'WEBHOOK_SECRET or WEBHOOK_SECRET_FILE is required']) {
    assert.equal(lines.filter((l) => l.includes(problem)).length, 1, `"${problem}" on one line of its own:\n${stderr}`);
  }
  assert.equal(new Set(lines.filter((l) => /must|required/.test(l))).size, 3, `one line per problem:\n${stderr}`);
  // Nothing started: no log line at all, no data directory created.
  assert.equal(bad.stdout(), '', 'no log output from a server that never started');
  assert.equal(existsSync(dataDir), false, 'the data directory is not created');

  // The same with a readable, free port: it is never listened on.
  const port = await freePort();
  const alsoBad = spawnServe(childEnv({ PORT: String(port), HOST: '127.0.0.1', DEPLOY_PARALLELISM: '0', ENV_REPO_PATH: envRepo, DATA_DIR: dataDir }));
  let listened = false;
  let exited: Exit | undefined;
  void alsoBad.exited.then((e) => (exited = e));
  const deadline = Date.now() + 30_000;
  while (!exited && Date.now() < deadline) {
    if (await isListening(port)) listened = true;
    await delay(50);
  }
  if (!exited) alsoBad.child.kill('SIGKILL');
  assert.deepEqual(exited, { code: 2, signal: null }, alsoBad.output());
  assert.equal(listened, false, `port ${port} was listened on`);
  assert.equal(await isListening(port), false);
  assert.match(alsoBad.stderr(), /^ {2}- DEPLOY_PARALLELISM must be between 1 and 64$/m);
  assert.match(alsoBad.stderr(), /^ {2}- WEBHOOK_SECRET or WEBHOOK_SECRET_FILE is required$/m);
  assert.equal(existsSync(dataDir), false);
});
