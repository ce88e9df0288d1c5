// End to end: the health gate on real engines, once with Podman + podman-compose (no systemd, so
// the gate runs the healthchecks itself) and once with the private dockerd + docker-compose.
// Every failing service is new, so there is no earlier deployment to go back to: the deployment
// fails with the gate's code and the containers stay as the tool left them. Assertions read the
// engine (container ids, states, State.Health), not the server's word alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TestEngines } from './engines/engines.js';
import { EnvRepo, TestServer, deploymentOf, projectContainers, removeProject, requireEngines, sh, stepper, summary, uid } from './harness.js';

const IMAGE = 'localhost/busybox:test';

interface Target {
  name: string;
  engine: 'podman' | 'docker';
  composeFile: string;
  env: (engines: TestEngines) => Record<string, string>;
}

const TARGETS: Target[] = [
  { name: 'podman', engine: 'podman', composeFile: 'podman-compose.yml', env: () => ({}) },
  { name: 'dockerd', engine: 'docker', composeFile: 'docker-compose.yml', env: (e) => ({ DOCKER_HOST: e.dockerHost }) },
  // docker-compose against the Podman API socket: Podman runs no healthchecks there either, and
  // the docker CLI cannot run them; the gate does, with `podman --remote`.
  { name: 'docker CLI on the Podman socket', engine: 'docker', composeFile: 'docker-compose.yml', env: (e) => ({ DOCKER_HOST: e.podmanHost }) },
];

/** Exits with code 3 two seconds after it started, saying why on stderr; the settle window (4 s, its own) outlasts that. */
const crashing = (restart: string, id: string) => `x-gitops:
  settle: 4
services:
  app:
    image: ${IMAGE}
    restart: "${restart}"
    command: ["sh", "-c", "echo starting-${id}; sleep 2; echo crash-${id} >&2; exit 3"]
`;

/** Two healthchecks that never pass: the bare `false`, and one that says something first. */
// One container carries both the log line and the failing probe's output: with two unhealthy
// containers the gate reports whichever fails first, and the test would race on that.
const sick = (id: string) => `services:
  app:
    image: ${IMAGE}
    command: ["sh", "-c", "echo sick-log-${id}; exec sleep 3600"]
    healthcheck:
      test: ["CMD-SHELL", "echo probe-said-no-${id}; false"]
      interval: 1s
      timeout: 2s
      retries: 2
  talker:
    image: ${IMAGE}
    command: ["sleep", "3600"]
`;

/** Healthy three seconds after start; a dependent that waits for that (where the tool honours the condition). */
const slow = `services:
  db:
    image: ${IMAGE}
    command: ["sh", "-c", "sleep 3; touch /tmp/ready; exec sleep 3600"]
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready"]
      interval: 1s
      timeout: 2s
      retries: 10
  app:
    image: ${IMAGE}
    command: ["sleep", "3600"]
    depends_on:
      db:
        condition: service_healthy
`;

/** A one-shot job next to a long-running service. */
const oneShot = `services:
  migrate:
    image: ${IMAGE}
    restart: "no"
    command: ["sh", "-c", "echo migrated; exit 0"]
  web:
    image: ${IMAGE}
    command: ["sleep", "3600"]
`;

const pair = (bMode: string) => `services:
  a:
    image: ${IMAGE}
    command: ["sleep", "3600"]
  b:
    image: ${IMAGE}
    command: ["sleep", "3600"]
    environment:
      MODE: "${bMode}"
`;

/** `State.Health.Status` and the number of probe results the engine holds. */
function health(engine: 'podman' | 'docker', containerId: string, env: Record<string, string>): { status: string; probes: number } {
  const state = JSON.parse(sh(engine, ['container', 'inspect', '--format', '{{json .State.Health}}', containerId], { env })) as { Status: string; Log: unknown[] | null };
  return { status: state.Status, probes: state.Log?.length ?? 0 };
}

for (const target of TARGETS) {
  test(`health gate: ${target.name}`, { timeout: 300_000 }, async (t) => {
    const engines = requireEngines(t);
    if (!engines) return;
    const env = target.env(engines);
    const id = uid();
    const names = { crash: `crash-${id}`, loop: `loop-${id}`, sick: `sick-${id}`, slow: `slow-${id}`, once: `once-${id}`, pair: `pair-${id}` };
    const repo = new EnvRepo();
    const server = await TestServer.start({ checkout: repo.checkout, env: { ...env, DEPLOY_SETTLE_SECONDS: '1' } });
    t.after(async () => {
      await server.close();
      for (const project of Object.values(names)) removeProject(target.engine, project, env);
      server.dispose();
      repo.dispose();
    });
    const step = stepper(t);
    const containers = (project: string) => projectContainers(target.engine, project, env);
    const file = (service: string) => `services/${service}/${target.composeFile}`;

    await step('a crash after 2 s, a crash loop and a failing healthcheck each fail their deployment with their code', async () => {
      repo.write(file(names.crash), crashing('no', id));
      repo.write(file(names.loop), crashing('always', id));
      repo.write(file(names.sick), sick(id));
      repo.push('three broken services');
      const run = await server.deployAll();
      assert.equal(run.status, 'failed', summary(run));

      const crash = deploymentOf(run, names.crash);
      assert.equal(crash.status, 'failed', summary(run));
      assert.equal(crash.error?.code, 'CONTAINER_EXITED', summary(run));
      assert.match(crash.error!.message, /exited with code 3/);
      assert.match(crash.output, new RegExp(`crash-${id}`), 'the last log lines are in the output');
      const [crashed] = containers(names.crash);
      assert.equal(crashed?.state, 'exited', 'the engine says the container exited');

      const loop = deploymentOf(run, names.loop);
      assert.equal(loop.error?.code, 'CONTAINER_RESTARTING', summary(run));
      assert.match(loop.output, new RegExp(`crash-${id}`));

      const ill = deploymentOf(run, names.sick);
      assert.equal(ill.error?.code, 'CONTAINER_UNHEALTHY', summary(run));
      assert.match(ill.output, new RegExp(`sick-log-${id}`), 'the container\'s log lines are in the output');
      assert.match(ill.output, new RegExp(`probe-said-no-${id}`), 'the failing probe\'s output is in the output');
      const byService = Object.fromEntries(containers(names.sick).map((c) => [c.service, c]));
      assert.equal(byService['app']?.state, 'running');
      assert.equal(health(target.engine, byService['app']!.id, env).status, 'unhealthy', 'the engine itself says unhealthy');
    });

    await step('a healthcheck that passes after 3 s succeeds no sooner; depends_on service_healthy works; a one-shot that exits 0 is fine', async () => {
      repo.write(file(names.slow), slow);
      repo.write(file(names.once), oneShot);
      repo.push('slow and one-shot');
      const run = await server.deployAll();
      const slowDeployment = deploymentOf(run, names.slow) as ReturnType<typeof deploymentOf> & { startedAt: string; finishedAt: string };
      assert.equal(slowDeployment.status, 'succeeded', summary(run));
      const took = Date.parse(slowDeployment.finishedAt) - Date.parse(slowDeployment.startedAt);
      assert.ok(took >= 3_000, `the deployment took ${took} ms, less than the 3 s the healthcheck needs`);
      const db = containers(names.slow).find((c) => c.service === 'db')!;
      const healthNow = health(target.engine, db.id, env);
      assert.equal(healthNow.status, 'healthy', 'the engine says healthy');
      assert.ok(healthNow.probes > 0, 'probes ran (on Podman without systemd: the gate ran them)');
      assert.equal(containers(names.slow).find((c) => c.service === 'app')?.state, 'running');

      assert.equal(deploymentOf(run, names.once).status, 'succeeded', summary(run));
      const once = Object.fromEntries(containers(names.once).map((c) => [c.service, c]));
      assert.equal(once['migrate']?.state, 'exited');
      assert.equal(sh(target.engine, ['container', 'inspect', '--format', '{{.State.ExitCode}}', once['migrate']!.id], { env }), '0');
      assert.equal(once['web']?.state, 'running');
    });

    await step('a two-service stack where one container changes: only that one is recreated and gated', async () => {
      repo.write(file(names.pair), pair('one'));
      repo.push('pair');
      const first = await server.deployAll();
      assert.equal(deploymentOf(first, names.pair).status, 'succeeded', summary(first));
      const before = Object.fromEntries(containers(names.pair).map((c) => [c.service, c.id]));

      repo.write(file(names.pair), pair('two'));
      repo.push('pair: b changes');
      const run = await server.deployAll();
      const d = deploymentOf(run, names.pair);
      assert.equal(d.status, 'succeeded', summary(run));
      const after = Object.fromEntries(containers(names.pair).map((c) => [c.service, c]));
      assert.equal(after['a']?.id, before['a'], 'a was not recreated');
      assert.notEqual(after['b']?.id, before['b'], 'b was recreated');
      const waited = /health gate: waiting for (.*) \(/.exec(d.output)?.[1];
      assert.equal(waited, after['b']!.name, `only b is gated: ${d.output}`);
    });
  });
}
