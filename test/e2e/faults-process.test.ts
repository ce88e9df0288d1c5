// End to end: child processes that hang. A git remote that accepts the connection and never
// answers (over HTTP and over ssh), and a compose tool whose grandchild keeps its output pipe
// open. Real git, real Podman, the real server in this process: each scenario checks what the
// run recorded, that no process of the hung command is left, that the server still answers,
// and that the next run deploys. Plus: image references given to the engines are never options.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { EngineCli } from '../../src/adapters/engine-cli.js';
import { createProcessRunner } from '../../src/adapters/process-runner.js';
import { isAppError } from '../../src/errors.js';
import { containerEnv, deploymentOf, E2E_API_TOKEN, EnvRepo, projectContainers, removeProject, requireEngines, sh, stepper, summary, TestServer, uid, type RunView } from './harness.js';

const id = uid();

function composeFile(): string {
  return `services:
  app:
    image: localhost/busybox:test
    init: true
    command: ["sleep", "3600"]
    environment:
      VALUE: \${VALUE}
`;
}

/** Command lines (NUL as space) of live processes other than this one that contain a needle. */
function processesMatching(needles: string[]): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue; // exited, waiting for its reaper
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (needles.some((n) => cmdline.includes(n))) found.push(`${pid}: ${cmdline}`);
    } catch {
      // The process ended while being read.
    }
  }
  return found;
}

/** Waits (bounded) until no process matches; returns what is still there. */
async function leftovers(needles: string[], withinMs = 8_000): Promise<string[]> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const found = processesMatching(needles);
    if (found.length === 0 || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A TCP server that accepts every connection and never says a word. */
async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    port: address.port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The server still serves its health check and its API (which lists the failed run). */
async function assertAnswers(server: TestServer, runId: string): Promise<void> {
  const health = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(health.status, 200, 'GET /health');
  const runs = (await server.get('/api/runs')) as { runs?: Array<{ id: string }> };
  assert.ok(runs.runs?.some((r) => r.id === runId), `GET /api/runs: ${JSON.stringify(runs)}`);
}

/**
 * deploy-all-changed, waiting a bounded time: a run that hangs (the defect these scenarios are
 * about) fails the step in a minute instead of running into the suite's timeout.
 */
async function deployAllWithin(server: TestServer, ms = 60_000): Promise<RunView> {
  const response = await server.post('/deploy-all-changed');
  assert.equal(response.status, 202, JSON.stringify(response.json));
  return server.waitForRun(response.json.runId, ms);
}

/** A management API POST that starts a run; returns the finished run. */
async function apiRun(server: TestServer, route: string): Promise<RunView> {
  const response = await fetch(`${server.url}${route}`, { method: 'POST', headers: { authorization: `Bearer ${E2E_API_TOKEN}` } });
  const body = (await response.json()) as { runId?: string };
  assert.equal(response.status, 202, `${route}: ${JSON.stringify(body)}`);
  return server.waitForRun(body.runId!, 60_000);
}

/** The one running container of a project's `app` service. */
function appContainer(project: string): string {
  const containers = projectContainers('podman', project);
  assert.equal(containers.length, 1, `${project}: ${JSON.stringify(containers)}`);
  assert.equal(containers[0]!.state, 'running', `${project}: ${JSON.stringify(containers)}`);
  return containers[0]!.id;
}

test('a git remote that never answers fails the sync on time and leaves no git or ssh behind', { timeout: 180_000 }, async (t) => {
  if (!requireEngines(t)) return;
  const SERVICE = `fault-git-${id}`;
  const repo = new EnvRepo();
  const sshDir = mkdtempSync(path.join(tmpdir(), 'gds-e2e-ssh-'));
  const knownHosts = path.join(sshDir, 'known_hosts');
  writeFileSync(knownHosts, '');
  const hang = await silentServer();
  // Host key checking stays on: the hang happens before any key exchange.
  const server = await TestServer.start({
    checkout: repo.checkout,
    env: {
      GIT_TIMEOUT_SECONDS: '3',
      GIT_SSH_COMMAND: `ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${knownHosts} -o GlobalKnownHostsFile=/dev/null`,
    },
  });
  t.after(async () => {
    await server.close();
    await hang.close();
    removeProject('podman', SERVICE);
    server.dispose();
    repo.dispose();
    rmSync(sshDir, { recursive: true, force: true });
  });
  const step = stepper(t);
  repo.write(`services/${SERVICE}/podman-compose.yml`, composeFile());

  const hungSync = async (url: string, value: string) => {
    repo.write(`services/${SERVICE}/.env`, `VALUE=${value}\n`);
    repo.push(`value ${value}`);
    sh('git', ['-C', repo.checkout, 'remote', 'set-url', 'origin', url]);
    const started = Date.now();
    const run = await deployAllWithin(server);
    const elapsed = Date.now() - started;
    assert.equal(run.status, 'failed', summary(run));
    assert.equal(run.error?.code, 'SYNC_FAILED', summary(run));
    assert.match(run.error?.message ?? '', /timed out/, summary(run));
    assert.ok(elapsed < 15_000, `the run took ${elapsed} ms with a 3 s git timeout`);
    // `git -C <checkout> fetch`, git-remote-http and ssh (or the shell git starts it with).
    assert.deepEqual(await leftovers([`hang-${id}.git`, repo.checkout, `-p ${hang.port}`]), [], 'processes left');
    await assertAnswers(server, run.id);

    sh('git', ['-C', repo.checkout, 'remote', 'set-url', 'origin', repo.remote]);
    const next = await deployAllWithin(server);
    assert.equal(next.status, 'succeeded', summary(next));
    assert.equal(deploymentOf(next, SERVICE).status, 'succeeded', summary(next));
    assert.equal(containerEnv('podman', appContainer(SERVICE), 'VALUE'), value, 'the change pushed meanwhile runs');
  };

  await step('1. over HTTP: git-remote-http waits for an answer that never comes', async () => {
    await hungSync(`http://127.0.0.1:${hang.port}/hang-${id}.git`, `http-${id}`);
  });

  await step('2. over ssh: ssh waits for the server banner for ever', async () => {
    await hungSync(`ssh://git@127.0.0.1:${hang.port}/hang-${id}.git`, `ssh-${id}`);
  });
});

test('a compose tool whose grandchild holds the output pipe times out and leaves no orphan', { timeout: 180_000 }, async (t) => {
  if (!requireEngines(t)) return;
  const SERVICE = `fault-compose-${id}`;
  const repo = new EnvRepo();
  const bin = mkdtempSync(path.join(tmpdir(), 'gds-e2e-bin-'));
  const fakeTool = path.join(bin, 'podman-compose');
  // Durations nothing else on the machine uses, to find exactly these sleeps in /proc.
  const mark = `${4_000_000 + Math.floor(Math.random() * 1_000_000)}`;
    // It answers the server's version probe as the real tool does; only `up` hangs.
  writeFileSync(fakeTool, `#!/bin/sh\nif [ "$1" = version ]; then echo "podman-compose version 1.0.3"; exit 0; fi\necho "fake podman-compose $*"\nsleep ${mark}.1 &\nsleep ${mark}.2\n`);
  chmodSync(fakeTool, 0o755);
  const server = await TestServer.start({ checkout: repo.checkout, env: { COMPOSE_TIMEOUT_SECONDS: '3', PATH: `${bin}:${process.env['PATH'] ?? ''}` } });
  t.after(async () => {
    await server.close();
    removeProject('podman', SERVICE);
    server.dispose();
    repo.dispose();
    rmSync(bin, { recursive: true, force: true });
  });
  const step = stepper(t);
  const value = `compose-${id}`;

  await step('1. the hung tool fails the deployment with PROCESS_TIMEOUT and is stopped with its grandchild', async () => {
    repo.write(`services/${SERVICE}/podman-compose.yml`, composeFile());
    repo.write(`services/${SERVICE}/.env`, `VALUE=${value}\n`);
    repo.push('a service');
    const started = Date.now();
    const run = await deployAllWithin(server);
    const elapsed = Date.now() - started;
    assert.equal(run.status, 'failed', summary(run));
    const d = deploymentOf(run, SERVICE);
    assert.equal(d.status, 'failed', summary(run));
    assert.equal(d.error?.code, 'PROCESS_TIMEOUT', summary(run));
    assert.match(d.output, /fake podman-compose/, 'the fake tool ran');
    assert.ok(elapsed < 20_000, `the run took ${elapsed} ms with a 3 s compose timeout`);
    assert.deepEqual(await leftovers([`sleep ${mark}`, fakeTool]), [], 'processes left');
    await assertAnswers(server, run.id);
  });

  await step('2. with the real tool back, the next deployment converges', async () => {
    unlinkSync(fakeTool);
    const run = await apiRun(server, `/api/services/${SERVICE}/deploy`);
    assert.equal(run.status, 'succeeded', summary(run));
    assert.equal(deploymentOf(run, SERVICE).status, 'succeeded', summary(run));
    assert.equal(containerEnv('podman', appContainer(SERVICE), 'VALUE'), value);
  });
});

test('image references are never read as engine options (podman and docker)', { timeout: 180_000 }, async (t) => {
  const engines = requireEngines(t);
  if (!engines) return;
  const pushed = `${engines.registryOpen}/gds-dashdash-${id}:t`;
  sh('podman', ['push', '--quiet', engines.busyboxImage, pushed]);
  for (const cli of ['podman', 'docker'] as const) {
    await t.test(cli, async (st) => {
      const env = cli === 'docker' ? { DOCKER_HOST: engines.dockerHost } : {};
      const engine = new EngineCli(cli, createProcessRunner({ baseEnv: { ...process.env, CONTAINER_HOST: undefined, DOCKER_HOST: undefined, ...env } }), 60_000);
      const tagged = `localhost/gds-dashdash-${id}:${cli}`;
      st.after(() => {
        for (const ref of [tagged, pushed]) {
          try {
            sh(cli, ['rmi', ref], { env });
          } catch {
            // Not there (a failed step); nothing to clean.
          }
        }
      });

      // Without `--`, `inspect --help` and `pull --version` succeed and print help text.
      assert.equal(await engine.imageId('--help'), undefined);
      await assert.rejects(engine.pull('--version', {}, () => undefined), (error) => isAppError(error) && error.code === 'PULL_FAILED');

      const busybox = await engine.imageId(engines.busyboxImage);
      assert.match(busybox ?? '', /^[0-9a-f]{64}$/);
      await engine.tag(busybox!, tagged);
      assert.equal(await engine.imageId(tagged), busybox);

      assert.equal(await engine.imageId(pushed), undefined, 'not pulled yet');
      let output = '';
      await engine.pull(pushed, {}, (chunk) => (output += chunk));
      assert.match(await engine.imageId(pushed) ?? '', /^[0-9a-f]{64}$/, output);
    });
  }
});
