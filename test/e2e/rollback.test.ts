// End to end: automatic rollback after a failed health gate, rollback on demand and pins, on
// Podman (podman-compose) and on the private dockerd (docker-compose). Two images are built from
// the busybox test image and pushed to the open registry: one that keeps running, one that exits
// two seconds after it starts. Assertions read the engine (container ids, image ids, env values
// inside the running container), and the service's state through the API.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { TestEngines } from './engines/engines.js';
import { EnvRepo, E2E_API_TOKEN, TestServer, containerEnv, deploymentOf, projectContainers, removeProject, requireEngines, sh, stepper, summary, uid, type RunView } from './harness.js';

interface Target {
  engine: 'podman' | 'docker';
  composeFile: string;
  env: (engines: TestEngines) => Record<string, string>;
}

const TARGETS: Target[] = [
  { engine: 'podman', composeFile: 'podman-compose.yml', env: () => ({}) },
  { engine: 'docker', composeFile: 'docker-compose.yml', env: (e) => ({ DOCKER_HOST: e.dockerHost }) },
];

const compose = (image: string, version: string) => `services:
  app:
    image: ${image}
    init: true
    environment:
      VERSION: "${version}"
`;

/** Builds an image whose default command is `command` and pushes it as `reference` (podman, plain HTTP). */
function buildAndPush(engines: TestEngines, reference: string, command: string[]): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'gds-e2e-rollback-'));
  try {
    writeFileSync(path.join(dir, 'Containerfile'), `FROM ${engines.busyboxImage}\nCMD ${JSON.stringify(command)}\n`);
    sh('podman', ['build', '--quiet', '--tag', reference, dir]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  sh('podman', ['push', '--quiet', '--tls-verify=false', reference]);
}

interface ServiceView {
  name: string;
  state: string;
  deployedCommit: string | null;
  pinned: { commit: string | null; reason: string } | null;
}

for (const target of TARGETS) {
  test(`rollback and pinning: ${target.engine}`, { timeout: 600_000 }, async (t) => {
    const engines = requireEngines(t);
    if (!engines) return;
    const env = target.env(engines);
    const id = uid();
    const service = `rb-${target.engine}-${id}`;
    const base = `${engines.registryOpen}/gds-e2e-rollback-${target.engine}-${id}`;
    const good = `${base}:good`;
    const crash = `${base}:crash`;
    const live = `${base}:live`;
    buildAndPush(engines, good, ['sleep', '3600']);
    buildAndPush(engines, crash, ['sh', '-c', 'echo starting; sleep 2; echo going-down >&2; exit 3']);
    const repo = new EnvRepo();
    // The settle window outlasts the crash (2 s) with room for a slow machine.
    const server = await TestServer.start({ checkout: repo.checkout, env: { ...env, DEPLOY_SETTLE_SECONDS: '4' } });
    t.after(async () => {
      await server.close();
      removeProject(target.engine, service, env);
      for (const [cli, cliEnv] of [['podman', {}], [target.engine, env]] as const) {
        for (const image of [good, crash, live]) {
          try {
            sh(cli, ['rmi', '--force', image], { env: cliEnv });
          } catch {
            // absent already
          }
        }
      }
      server.dispose();
      repo.dispose();
    });
    const step = stepper(t);
    const file = `services/${service}/${target.composeFile}`;
    const running = () => {
      const containers = projectContainers(target.engine, service, env);
      assert.equal(containers.length, 1, JSON.stringify(containers));
      assert.equal(containers[0]!.state, 'running', JSON.stringify(containers));
      return { ...containers[0]!, version: containerEnv(target.engine, containers[0]!.id, 'VERSION', env) };
    };
    const imageId = (reference: string) => sh(target.engine, ['image', 'inspect', '--format', '{{.Id}}', reference], { env }).replace(/^sha256:/, '');
    const view = async (): Promise<ServiceView> => ((await server.get('/api/services')) as { services: ServiceView[] }).services.find((s) => s.name === service)!;
    const push = (image: string, version: string) => {
      repo.write(file, compose(image, version));
      return repo.push(version);
    };
    const api = async (route: string, body?: unknown) => {
      const response = await fetch(`${server.url}${route}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${E2E_API_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, json: (await response.json()) as any };
    };
    let c1 = '';
    let goodId = '';
    const first = running;

    await step('1. v1 deploys and passes the gate', async () => {
      c1 = push(good, 'v1');
      const run = await server.deployAll();
      assert.equal(deploymentOf(run, service).status, 'succeeded', summary(run));
      goodId = imageId(good);
      const now = running();
      assert.equal(now.version, 'v1');
      assert.equal(now.imageId, goodId);

    });

    let afterRollback = '';
    await step('2. a push whose new image exits after 2 s ends rolled-back; v1 runs again, by env value and image id', async () => {
      const c2 = push(crash, 'v2');
      const run = await server.deployAll();
      const d = deploymentOf(run, service);
      assert.equal(d.status, 'rolled-back', summary(run));
      assert.equal(run.status, 'failed');
      assert.match(d.error?.code ?? '', /^CONTAINER_(EXITED|RESTARTING)$/, summary(run));
      assert.match(d.output, /going-down/, 'the failure (the container\'s last log lines) is in the output');
      assert.match(d.output, new RegExp(`rolling back to the last good deployment \\(commit ${c1.slice(0, 12)}\\)`));
      assert.match(d.output, /rolled back: /);
      const now = first();
      assert.equal(now.version, 'v1');
      assert.equal(now.imageId, goodId);
      afterRollback = now.id;
      const s = await view();
      assert.equal(s.state, 'rolled-back');
      assert.equal(s.pinned?.commit, c1);
      assert.equal(s.deployedCommit, c1);
      assert.equal(run.commit, c2, 'the run names the commit that failed');
    });

    await step('3. the next no-op webhook does nothing', async () => {
      const run = await server.deployAll();
      assert.equal(run.status, 'succeeded', summary(run));
      assert.deepEqual(run.deployments, []);
      assert.equal(running().id, afterRollback, 'the container was left alone');
    });

    let c3 = '';
    await step('4. two good pushes, then a rollback on demand to v1, two versions back: pinned, and left alone', async () => {
      c3 = push(good, 'v3');
      assert.equal(deploymentOf(await server.deployAll(), service).status, 'succeeded');
      assert.equal((await view()).pinned, null, 'a change in git ended the pin');
      push(good, 'v4');
      assert.equal(deploymentOf(await server.deployAll(), service).status, 'succeeded');
      assert.equal(running().version, 'v4');
      const answer = await api(`/api/services/${service}/rollback`, { to: c1.slice(0, 10) });
      assert.equal(answer.status, 202, JSON.stringify(answer.json));
      assert.equal(answer.json.target.commit, c1);
      const run = (await server.waitForRun(answer.json.runId)) as RunView;
      assert.equal(run.status, 'succeeded', summary(run));
      assert.equal(running().version, 'v1');
      const s = await view();
      assert.equal(s.state, 'pinned');
      assert.equal(s.pinned?.commit, c1);
      assert.equal(s.pinned?.reason, 'manual');
      const pinnedId = running().id;
      const noop = await server.deployAll();
      assert.deepEqual(noop.deployments, [], summary(noop));
      assert.equal(running().id, pinnedId);
      // The default target of a second rollback: the success before the current one.
      assert.notEqual(c3, c1);
    });

    await step('5. a push that changes the service: it follows git again', async () => {
      buildAndPush(engines, live, ['sleep', '3600']);
      push(live, 'v5');
      const run = await server.deployAll();
      assert.equal(deploymentOf(run, service).status, 'succeeded', summary(run));
      const now = running();
      assert.equal(now.version, 'v5');
      const s = await view();
      assert.equal(s.state, 'in-sync');
      assert.equal(s.pinned, null);
    });

    await step('6. a failed image update (a broken image pushed under the same tag) rolls back to the previous image id', async () => {
      const liveId = imageId(live);
      const before = running();
      assert.equal(before.imageId, liveId);
      buildAndPush(engines, live, ['sh', '-c', 'sleep 2; echo broken-update >&2; exit 4']);
      const response = await server.post(`/redeploy-and-update/${service}`);
      assert.equal(response.status, 202, JSON.stringify(response.json));
      const run = await server.waitForRun(response.json.runId);
      const d = deploymentOf(run, service);
      assert.equal(d.action, 'update');
      assert.equal(d.status, 'rolled-back', summary(run));
      assert.match(d.output, /broken-update/);
      assert.match(d.output, new RegExp(`tagging ${liveId.slice(0, 12)} as ${live.replace(/[.]/g, '\\.')} again`));
      const now = running();
      assert.equal(now.imageId, liveId, 'the container runs the previous image id');
      assert.equal(now.version, 'v5');
      assert.equal(imageId(live), liveId, 'the tag points at the previous image again');
    });
  });
}
