// End to end: per-service image polling (x-gitops: { poll-images: true }) against the open local
// registry and real Podman. A new image is pushed under the same tag and no webhook is sent: the
// opted-in service is updated to it, a second service on the same tag without the opt-in is not.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { TestEngines } from './engines/engines.js';
import { EnvRepo, TestServer, projectContainers, removeProject, requireEngines, sh, stepper, summary, uid, type RunView } from './harness.js';

const id = uid();
const POLLED = `imgpoll-${id}`;
const PLAIN = `imgplain-${id}`;
const LOCAL = `localhost/gds-e2e-imgpoll-${id}`;

/** Builds an image whose /version says `version` and pushes it to `reference` (plain-HTTP registry). */
function buildAndPush(engines: TestEngines, reference: string, version: string): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'gds-e2e-imgpoll-'));
  try {
    writeFileSync(path.join(dir, 'Containerfile'), `FROM ${engines.busyboxImage}\nRUN echo ${version} > /version\n`);
    sh('podman', ['build', '--quiet', '--tag', `${LOCAL}:${version}`, dir]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  sh('podman', ['push', '--quiet', '--tls-verify=false', `${LOCAL}:${version}`, `docker://${reference}`]);
}

function compose(reference: string, optIn: boolean): string {
  return `${optIn ? 'x-gitops:\n  poll-images: true\n' : ''}services:
  app:
    image: ${reference}
    init: true
    command: ["sleep", "3600"]
`;
}

/** The /version inside the one running container of a project. */
function runningVersion(project: string): string {
  const containers = projectContainers('podman', project);
  assert.equal(containers.length, 1, JSON.stringify(containers));
  assert.equal(containers[0]!.state, 'running');
  return sh('podman', ['exec', containers[0]!.id, 'cat', '/version']);
}

interface RunSummary { id: string; origin: string; trigger: string; service: string | null; status: string }

test('image polling: a tag pushed again updates the opted-in service, without a webhook, and only it', { timeout: 400_000 }, async (t) => {
  const engines = requireEngines(t);
  if (!engines) return;
  const reference = `${engines.registryOpen}/gds-e2e-imgpoll-${id}:latest`;
  const repo = new EnvRepo();
  let server: TestServer | undefined;
  t.after(async () => {
    await server?.close();
    for (const project of [POLLED, PLAIN]) removeProject('podman', project);
    for (const image of [`${LOCAL}:v1`, `${LOCAL}:v2`, reference]) {
      try {
        sh('podman', ['rmi', '--force', image]);
      } catch {
        // already gone
      }
    }
    server?.dispose();
    repo.dispose();
  });
  const step = stepper(t);
  const runs = async (): Promise<RunSummary[]> => ((await server!.get('/api/runs?limit=100')) as { runs: RunSummary[] }).runs;

  await step('1. both services deploy v1 (a webhook, as usual)', async () => {
    buildAndPush(engines, reference, 'v1');
    repo.write(`services/${POLLED}/podman-compose.yml`, compose(reference, true));
    repo.write(`services/${PLAIN}/podman-compose.yml`, compose(reference, false));
    repo.push('two services on one tag');
    server = await TestServer.start({ checkout: repo.checkout, env: { IMAGE_POLL_INTERVAL_SECONDS: '1' } });
    const run = await server.deployAll();
    assert.equal(run.status, 'succeeded', summary(run));
    assert.equal(runningVersion(POLLED), 'v1');
    assert.equal(runningVersion(PLAIN), 'v1');
    // A few intervals with nothing pushed: no run.
    const before = (await runs()).length;
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal((await runs()).length, before);
  });

  await step('2. v2 pushed under the same tag: the opted-in service is updated by the poll, the other is not', async () => {
    buildAndPush(engines, reference, 'v2');
    const deadline = Date.now() + 120_000;
    let update: RunSummary | undefined;
    while (!update) {
      update = (await runs()).find((r) => r.origin === 'poll' && (r.status === 'succeeded' || r.status === 'failed'));
      if (Date.now() > deadline) throw new Error(`no poll run after 120 s: ${JSON.stringify(await runs())}`);
      if (!update) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const run = (await server!.get(`/api/runs/${update.id}`)) as RunView;
    assert.equal(run.status, 'succeeded', summary(run));
    assert.equal(update.trigger, 'redeploy-and-update');
    assert.equal(update.service, POLLED);
    assert.equal(runningVersion(POLLED), 'v2');
    // A few more intervals: the other service still runs v1 and no run concerned it.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(runningVersion(PLAIN), 'v1');
    const polls = (await runs()).filter((r) => r.origin === 'poll');
    assert.deepEqual(polls.map((r) => r.service), [POLLED], 'one update, of the opted-in service only');
  });
});
