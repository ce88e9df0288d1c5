// End to end: a Docker Swarm stack (services/<name>/docker-stack.yml) on the private dockerd,
// which scripts/start-test-engines.sh makes a single-node Swarm manager. The real server deploys
// it with `docker stack deploy`; every assertion reads Swarm itself (services, tasks, configs,
// the containers of running tasks). The ingress routing mesh does not answer on these machines,
// so state is checked through tasks, never through a published port.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { TestEngines } from './engines/engines.js';
import { EnvRepo, TestServer, deploymentOf, requireEngines, sh, stepper, summary, uid } from './harness.js';

const id = uid();
const SERVICE = `stack-${id}`;
/** The stack name: the service directory's compose project name. */
const STACK = SERVICE;
const LOCAL = `localhost/gds-e2e-swarm-${id}`;

interface Task {
  id: string;
  containerId: string;
}

function docker(engines: TestEngines, args: string[]): string {
  return sh('docker', args, { env: { DOCKER_HOST: engines.dockerHost } });
}

/** The tasks Swarm wants running for a stack service, and the containers they run (all running). */
function runningTasks(engines: TestEngines, name: string): Task[] {
  const ids = docker(engines, ['service', 'ps', '--quiet', '--no-trunc', '--filter', 'desired-state=running', `${STACK}_${name}`]).split('\n').filter(Boolean);
  const tasks = JSON.parse(docker(engines, ['inspect', '--type', 'task', ...ids])) as Array<{ ID: string; Status: { State: string; ContainerStatus?: { ContainerID?: string } } }>;
  for (const task of tasks) assert.equal(task.Status.State, 'running', `${name}: task ${task.ID} is ${task.Status.State}`);
  return tasks.map((task) => ({ id: task.ID, containerId: task.Status.ContainerStatus?.ContainerID ?? '' }));
}

/** The image a stack service's spec runs (`ref@sha256:…`). */
function specImage(engines: TestEngines, name: string): string {
  return docker(engines, ['service', 'inspect', '--format', '{{.Spec.TaskTemplate.ContainerSpec.Image}}', `${STACK}_${name}`]);
}

function stackConfigs(engines: TestEngines): string[] {
  return docker(engines, ['config', 'ls', '--filter', `label=com.docker.stack.namespace=${STACK}`, '--format', '{{.Name}}']).split('\n').filter(Boolean).sort();
}

const sha12 = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);

/** Builds an image whose /version says `version` and pushes it to `reference` on the open registry. */
function buildAndPush(engines: TestEngines, reference: string, version: string): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'gds-e2e-swarm-'));
  try {
    writeFileSync(path.join(dir, 'Containerfile'), `FROM ${engines.busyboxImage}\nRUN echo ${version} > /version\n`);
    sh('podman', ['build', '--quiet', '--tag', `${LOCAL}:${version}`, dir]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  sh('podman', ['push', '--quiet', '--tls-verify=false', `${LOCAL}:${version}`, `docker://${reference}`]);
}

/** The digest the registry serves for a tag now. */
async function registryDigest(engines: TestEngines, repository: string, tag: string): Promise<string> {
  const response = await fetch(`http://${engines.registryOpen}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
  });
  assert.equal(response.status, 200);
  return response.headers.get('docker-content-digest') ?? '';
}

/**
 * Two services: `web` reads a config made from a file beside the stack file, `worker` nothing.
 * `update_config` sets a short monitor but no failure_action: the server makes it `rollback`.
 */
function stackFile(webImage: string, workerImage: string, webCommand = 'cat /web.conf; exec sleep 3600'): string {
  return `services:
  web:
    image: ${webImage}
    command: ["sh", "-c", "${webCommand}"]
    init: true
    stop_grace_period: 1s
    configs:
      - source: web_conf
        target: /web.conf
    deploy:
      update_config:
        monitor: 3s
      rollback_config:
        monitor: 2s
  worker:
    image: ${workerImage}
    command: ["sleep", "3600"]
    init: true
    stop_grace_period: 1s
configs:
  web_conf:
    file: ./web.conf
`;
}

test('Swarm stacks on a single-node Swarm: deploy, a config change rolls one service, an image update, a failing update rolled back by Swarm, pruning', { timeout: 240_000 }, async (t) => {
  const engines = requireEngines(t);
  if (!engines) return;
  const repository = `gds-e2e-swarm-${id}`;
  const webRef = `${engines.registryOpen}/${repository}:web`;
  const workerRef = `${engines.registryOpen}/${repository}:worker`;
  const repo = new EnvRepo();
  let server: TestServer | undefined;
  t.after(async () => {
    await server?.close();
    try {
      docker(engines, ['stack', 'rm', STACK]);
      // Configs go once the services that use them are gone.
      for (let i = 0; i < 20 && docker(engines, ['service', 'ls', '--quiet', '--filter', `label=com.docker.stack.namespace=${STACK}`]) !== ''; i++) await new Promise((r) => setTimeout(r, 500));
      for (const name of stackConfigs(engines)) docker(engines, ['config', 'rm', name]);
    } catch {
      // Best effort: names are unique per run.
    }
    for (const image of [`${LOCAL}:v1`, `${LOCAL}:v2`, `${LOCAL}:w1`]) {
      try {
        sh('podman', ['rmi', '--force', image]);
      } catch {
        // not there
      }
    }
    repo.dispose();
    server?.dispose();
  });

  buildAndPush(engines, webRef, 'v1');
  buildAndPush(engines, workerRef, 'w1');
  repo.write(`services/${SERVICE}/docker-stack.yml`, stackFile(webRef, workerRef));
  repo.write(`services/${SERVICE}/web.conf`, 'greeting=one\n');
  // Keeps the services directory when the stack's own is removed (the last step).
  repo.write('services/.keep', '');
  repo.push('a two-service stack');
  server = await TestServer.start({ checkout: repo.checkout, env: { DOCKER_HOST: engines.dockerHost, DEPLOY_HEALTH_TIMEOUT_SECONDS: '90' } });
  const step = stepper(t);
  let tasks: Record<'web' | 'worker', Task[]> = { web: [], worker: [] };

  await step('the stack deploys: both services run their tasks, the config has a content-addressed name', async () => {
    const run = await server!.deployAll();
    assert.equal(run.status, 'succeeded', summary(run));
    const deployment = deploymentOf(run, SERVICE);
    assert.equal(deployment.status, 'succeeded', summary(run));
    const { services } = (await server!.get('/api/services')) as { services: Array<{ name: string; runtime: string }> };
    assert.equal(services.find((s) => s.name === SERVICE)?.runtime, 'swarm');
    tasks = { web: runningTasks(engines, 'web'), worker: runningTasks(engines, 'worker') };
    assert.equal(tasks.web.length, 1);
    assert.equal(tasks.worker.length, 1);
    assert.deepEqual(stackConfigs(engines), [`${STACK}_web_conf_${sha12('greeting=one\n')}`]);
    assert.equal(docker(engines, ['exec', tasks.web[0]!.containerId, 'cat', '/web.conf']), 'greeting=one');
    assert.equal(docker(engines, ['service', 'inspect', '--format', '{{.Spec.UpdateConfig.FailureAction}}', `${STACK}_web`]), 'rollback', 'the server sets failure_action: rollback');
    assert.match(specImage(engines, 'web'), new RegExp(`^${webRef.replace(/[.]/g, '\\.')}@sha256:[0-9a-f]{64}$`));
  });

  await step('a config change rolls only the service that uses it; the old config is removed', async () => {
    repo.write(`services/${SERVICE}/web.conf`, 'greeting=two\n');
    repo.push('new web config');
    const run = await server!.deployAll();
    assert.equal(deploymentOf(run, SERVICE).status, 'succeeded', summary(run));
    const web = runningTasks(engines, 'web');
    const worker = runningTasks(engines, 'worker');
    assert.notEqual(web[0]!.id, tasks.web[0]!.id, 'web got a new task');
    assert.deepEqual(worker.map((t) => t.id), tasks.worker.map((t) => t.id), 'worker kept its task');
    assert.equal(docker(engines, ['exec', web[0]!.containerId, 'cat', '/web.conf']), 'greeting=two');
    assert.deepEqual(stackConfigs(engines), [`${STACK}_web_conf_${sha12('greeting=two\n')}`]);
    tasks = { web, worker };
  });

  await step('an image update moves the service to the new digest; the other service is left alone', async () => {
    const before = specImage(engines, 'web');
    buildAndPush(engines, webRef, 'v2');
    const digest = await registryDigest(engines, repository, 'web');
    assert.ok(!before.endsWith(digest), 'the tag moved');
    const response = await server!.post(`/redeploy-and-update/${SERVICE}`, JSON.stringify({ action: 'published' }), { contentType: 'application/json' });
    assert.equal(response.status, 202, JSON.stringify(response.json));
    const run = await server!.waitForRun(response.json.runId);
    const deployment = deploymentOf(run, SERVICE);
    assert.equal(deployment.status, 'succeeded', summary(run));
    assert.match(deployment.reason, /recreated: web$/);
    assert.equal(specImage(engines, 'web'), `${webRef}@${digest}`);
    assert.equal(deployment.imagesAfter?.['web'], digest);
    const web = runningTasks(engines, 'web');
    assert.equal(docker(engines, ['exec', web[0]!.containerId, 'cat', '/version']), 'v2');
    assert.deepEqual(runningTasks(engines, 'worker').map((t) => t.id), tasks.worker.map((t) => t.id), 'worker kept its task');
    tasks.web = web;
  });

  await step('a failing update is rolled back by Swarm and reported rolled-back, with the task error', async () => {
    const image = specImage(engines, 'web');
    repo.write(`services/${SERVICE}/docker-stack.yml`, stackFile(webRef, workerRef, 'echo broken >&2; exit 1'));
    repo.push('a web that exits 1');
    const run = await server!.deployAll();
    const deployment = deploymentOf(run, SERVICE);
    assert.equal(deployment.status, 'rolled-back', summary(run));
    assert.equal(deployment.error?.code, 'CONTAINER_EXITED', summary(run));
    assert.match(deployment.error?.message ?? '', /Swarm rolled the update back/);
    assert.match(deployment.error?.message ?? '', /non-zero exit \(1\)/);
    // Swarm rolled the service back; then the pipeline's rollback stage deployed the last good
    // commit's stack again (the same spec, so no task changed) and pinned the service.
    assert.match(deployment.output, /rolled back: /);
    const { services } = (await server!.get('/api/services')) as { services: Array<{ name: string; pinned: { reason: string } | null }> };
    assert.equal(services.find((s) => s.name === SERVICE)?.pinned?.reason, 'rolled-back');
    assert.equal(specImage(engines, 'web'), image, 'the digest that ran before runs again');
    const web = runningTasks(engines, 'web');
    assert.equal(docker(engines, ['exec', web[0]!.containerId, 'cat', '/web.conf']), 'greeting=two');
    const args = docker(engines, ['service', 'inspect', '--format', '{{json .Spec.TaskTemplate.ContainerSpec.Args}}', `${STACK}_web`]);
    assert.match(args, /exec sleep 3600/, 'the previous spec runs');
    assert.deepEqual(runningTasks(engines, 'worker').map((t) => t.id), tasks.worker.map((t) => t.id), 'worker kept its task');
  });

  await step('removing the directory in git prunes the stack: docker stack rm, no service, network or config left', async () => {
    repo.remove(`services/${SERVICE}`);
    repo.push('remove the stack');
    const run = await server!.deployAll();
    const prune = deploymentOf(run, SERVICE);
    assert.equal(prune.action, 'prune', summary(run));
    assert.equal(prune.status, 'succeeded', summary(run));
    assert.equal(docker(engines, ['service', 'ls', '--quiet', '--filter', `label=com.docker.stack.namespace=${STACK}`]), '');
    assert.equal(docker(engines, ['network', 'ls', '--quiet', '--filter', `label=com.docker.stack.namespace=${STACK}`]), '');
    assert.deepEqual(stackConfigs(engines), []);
  });
});
