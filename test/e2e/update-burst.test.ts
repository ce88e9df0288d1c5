// End to end: registry bursts. A registry publishes in bursts (tags, architectures), one webhook
// each: five package webhooks within UPDATE_DEBOUNCE_SECONDS are one run that pulls once and
// recreates the container once. A webhook while the tag has not moved asks the registry for the
// digest, finds the running image's, and touches nothing (no pull, same container). On Podman
// (podman-compose) and on the private dockerd (docker compose / docker-compose): RepoDigests are
// recorded by each engine itself.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { TestEngines } from './engines/engines.js';
import { EnvRepo, TestServer, deploymentOf, projectContainers, removeProject, requireEngines, sh, stepper, summary, uid } from './harness.js';

type Engine = 'podman' | 'docker';
const ENGINES: ReadonlyArray<{ engine: Engine; composeFile: string }> = [
  { engine: 'podman', composeFile: 'podman-compose.yml' },
  { engine: 'docker', composeFile: 'docker-compose.yml' },
];
const WINDOW_SECONDS = 3;

const LOCAL = `localhost/gds-e2e-burst-${uid()}`;
const built = new Set<string>();

/** Pushes an image whose /version says `version` to `reference` in the open registry (built in Podman once for both engines). */
function push(engines: TestEngines, reference: string, version: string): void {
  if (!built.has(version)) {
    const dir = mkdtempSync(path.join(tmpdir(), 'gds-e2e-burst-'));
    try {
      writeFileSync(path.join(dir, 'Containerfile'), `FROM ${engines.busyboxImage}\nRUN echo ${version} > /version\n`);
      sh('podman', ['build', '--quiet', '--tag', `${LOCAL}:${version}`, dir]);
      built.add(version);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  sh('podman', ['push', '--quiet', '--tls-verify=false', `${LOCAL}:${version}`, `docker://${reference}`]);
}

after(() => {
  for (const version of built) {
    try {
      sh('podman', ['rmi', '--force', `${LOCAL}:${version}`]);
    } catch {
      // already gone
    }
  }
});

const pulls = (output: string, reference: string) => output.split('\n').filter((line) => line.trim() === `pulling ${reference}`).length;

for (const { engine, composeFile } of ENGINES) {
  test(`registry bursts on ${engine}: five webhooks, one run, one pull; an unmoved tag touches nothing`, { timeout: 120_000 }, async (t) => {
    const engines = requireEngines(t);
    if (!engines) return;
    const id = uid();
    const service = `burst-${engine}-${id}`;
    const reference = `${engines.registryOpen}/gds-e2e-burst-${engine}-${id}:latest`;
    const env: Record<string, string> = engine === 'docker' ? { DOCKER_HOST: engines.dockerHost } : {};
    const repo = new EnvRepo();
    let server: TestServer | undefined;
    t.after(async () => {
      await server?.close();
      removeProject(engine, service, env);
      try {
        sh(engine, ['rmi', '--force', reference], { env });
      } catch {
        // already gone
      }
      server?.dispose();
      repo.dispose();
    });
    const step = stepper(t);
    const container = () => {
      const containers = projectContainers(engine, service, env);
      assert.equal(containers.length, 1, JSON.stringify(containers));
      return containers[0]!;
    };
    const version = () => sh(engine, ['exec', container().id, 'cat', '/version'], { env });
    const publish = () => server!.post(`/redeploy-and-update/${service}`, JSON.stringify({ action: 'published' }), { contentType: 'application/json' });
    const updateRuns = async () =>
      ((await server!.get('/api/runs?limit=100')) as { runs: Array<{ id: string; trigger: string; service: string | null }> }).runs.filter((r) => r.trigger === 'redeploy-and-update' && r.service === service);

    await step('1. the service deploys v1', async () => {
      push(engines, reference, 'v1');
      repo.write(`services/${service}/${composeFile}`, `services:\n  app:\n    image: ${reference}\n    init: true\n    command: ["sleep", "3600"]\n`);
      repo.push('a service on a registry tag');
      server = await TestServer.start({ checkout: repo.checkout, env: { ...env, UPDATE_DEBOUNCE_SECONDS: String(WINDOW_SECONDS) } });
      const run = await server.deployAll();
      assert.equal(run.status, 'succeeded', summary(run));
      assert.equal(version(), 'v1');
    });

    await step('2. v2 is published with a burst of five webhooks: one run, one pull, one recreate', async () => {
      push(engines, reference, 'v2');
      const before = container();
      const sent = Date.now();
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push(await publish());
      assert.ok(Date.now() - sent < WINDOW_SECONDS * 1000, 'the burst fits in the window');
      for (const answer of answers) assert.equal(answer.status, 202, JSON.stringify(answer.json));
      const runIds = new Set(answers.map((a) => a.json.runId as string));
      assert.equal(runIds.size, 1, `every delivery joined one run: ${JSON.stringify(answers.map((a) => a.json))}`);
      const run = await server!.waitForRun([...runIds][0]!);
      assert.equal(run.status, 'succeeded', summary(run));
      assert.ok(Date.now() - sent >= WINDOW_SECONDS * 1000, 'the run began after the window');
      const deployment = deploymentOf(run, service);
      assert.equal(pulls(deployment.output, reference), 1, `one pull: ${deployment.output}`);
      assert.match(deployment.reason, /recreated: app$/);
      assert.equal((await updateRuns()).length, 1, 'one update run in all');
      const now = container();
      assert.notEqual(now.id, before.id, 'the container was recreated');
      assert.notEqual(now.imageId, before.imageId);
      assert.equal(version(), 'v2');
    });

    await step('3. a webhook with the tag unchanged: the registry digest is the running one, nothing pulled or recreated', async () => {
      const before = container();
      const answer = await publish();
      assert.equal(answer.status, 202, JSON.stringify(answer.json));
      const run = await server!.waitForRun(answer.json.runId);
      assert.equal(run.status, 'succeeded', summary(run));
      const deployment = deploymentOf(run, service);
      assert.match(deployment.output, /image unchanged \(digest sha256:[0-9a-f]{64}\); nothing recreated/, deployment.output);
      assert.equal(pulls(deployment.output, reference), 0, deployment.output);
      assert.equal(deployment.reason, 'image published; no image changed');
      assert.deepEqual(container(), before, 'same container, same state, same image');
    });
  });
}
