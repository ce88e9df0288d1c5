// End to end: the polling backstop (POLL_INTERVAL_SECONDS) with a real bare remote and real
// Podman. No webhook is ever sent: pushes reach the server only through `git ls-remote`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EnvRepo, TestServer, containerEnv, projectContainers, removeProject, requireEngines, sh, stepper, summary, uid, type RunView } from './harness.js';

const id = uid();
const APP = `poll-${id}`;

function compose(): string {
  return `services:
  app:
    image: localhost/busybox:test
    init: true
    command: ["sleep", "3600"]
    environment:
      MESSAGE: \${MESSAGE}
`;
}

interface RunSummary { id: string; origin: string; trigger: string; status: string; commit: string | null }

/** Every run the server has recorded, newest first. */
async function runs(server: TestServer): Promise<RunSummary[]> {
  return ((await server.get('/api/runs?limit=100')) as { runs: RunSummary[] }).runs;
}

/** Waits (bounded) for a finished run of the given commit and returns it in full. */
async function waitForRunOf(server: TestServer, commit: string, timeoutMs = 120_000): Promise<RunView & { origin: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = (await runs(server)).find((r) => r.commit === commit && (r.status === 'succeeded' || r.status === 'failed'));
    if (run) return (await server.get(`/api/runs/${run.id}`)) as RunView & { origin: string };
    if (Date.now() > deadline) throw new Error(`no finished run of ${commit} after ${timeoutMs} ms: ${JSON.stringify(await runs(server))}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function appContainer() {
  const containers = projectContainers('podman', APP);
  assert.equal(containers.length, 1, JSON.stringify(containers));
  assert.equal(containers[0]!.state, 'running');
  return containers[0]!;
}

test('polling backstop: a push no webhook announced is deployed; nothing pushed, no run', { timeout: 400_000 }, async (t) => {
  if (!requireEngines(t)) return;
  const repo = new EnvRepo();
  let server: TestServer | undefined;
  t.after(async () => {
    await server?.close();
    removeProject('podman', APP);
    server?.dispose();
    repo.dispose();
  });
  const step = stepper(t);

  await step('1. a service pushed before the server started is picked up by the poll, origin poll', async () => {
    repo.write(`services/${APP}/podman-compose.yml`, compose());
    repo.write(`services/${APP}/.env`, `MESSAGE=first-${id}\n`);
    const pushed = repo.push('first');
    // The checkout still has the initial commit: only the poll can tell the server.
    assert.notEqual(sh('git', ['-C', repo.checkout, 'rev-parse', 'HEAD']), pushed);
    server = await TestServer.start({ checkout: repo.checkout, env: { POLL_INTERVAL_SECONDS: '1' } });
    const run = await waitForRunOf(server, pushed);
    assert.equal(run.status, 'succeeded', summary(run));
    assert.equal(run.origin, 'poll');
    assert.equal(run.trigger, 'deploy-all-changed');
    assert.equal(containerEnv('podman', appContainer().id, 'MESSAGE'), `first-${id}`);
    assert.equal(sh('git', ['-C', repo.checkout, 'rev-parse', 'HEAD']), pushed);
  });

  await step('2. with nothing pushed, several intervals make no run and leave the container alone', async () => {
    const before = await runs(server!);
    const container = appContainer().id;
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    assert.deepEqual((await runs(server!)).map((r) => r.id), before.map((r) => r.id));
    assert.equal(appContainer().id, container);
  });

  await step('3. a second push is deployed without a webhook: the container runs the new value', async () => {
    repo.write(`services/${APP}/.env`, `MESSAGE=second-${id}\n`);
    const pushed = repo.push('second');
    const run = await waitForRunOf(server!, pushed);
    assert.equal(run.status, 'succeeded', summary(run));
    assert.equal(run.origin, 'poll');
    assert.equal(containerEnv('podman', appContainer().id, 'MESSAGE'), `second-${id}`);
    // One run per push: the poll does not queue the same head twice.
    assert.equal((await runs(server!)).filter((r) => r.commit === pushed).length, 1);
  });
});
