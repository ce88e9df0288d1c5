// End to end: every forge can trigger the server. Real git remotes, real Podman, the real server:
// a GitLab-style and a Gitea-style push each deploy; a push to another branch deploys nothing; a
// replayed delivery id is refused after a restart on the same data directory (and ?redeliver=1
// runs it); a Standard Webhooks request 6 minutes old is refused; a registry-style payload naming
// an image updates every service that uses it, and only those. The steps build on each other.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { signStandardWebhook } from '../../src/webhook/providers/standard-webhooks/index.js';
import { EnvRepo, TestServer, containerEnv, projectContainers, removeProject, requireEngines, sh, stepper, summary, uid, type Container, type RunView } from './harness.js';

const id = uid();
const WEB = `forge-web-${id}`;
const APP_A = `forge-a-${id}`;
const APP_B = `forge-b-${id}`;
const OTHER = `forge-other-${id}`;
const PROJECTS = [WEB, APP_A, APP_B, OTHER];
const SECRET = 'e2e-forges-webhook-secret-0123456789';

const fixture = (file: string) => readFileSync(new URL(`../../src/webhook/providers/${file}`, import.meta.url), 'utf8');
const hex = (body: Buffer) => createHmac('sha256', SECRET).update(body).digest('hex');

const compose = (image: string) => `services:
  main:
    image: ${image}
    init: true
    command: ["sleep", "3600"]
    environment:
      GREETING: \${GREETING:-none}
`;

/** The forges' own sample payloads, pointed at a branch. */
const gitlabPush = (branch: string) => Buffer.from(fixture('gitlab/fixtures/push.json').replace('"refs/heads/master"', JSON.stringify(`refs/heads/${branch}`)));
const giteaPush = (branch: string) => Buffer.from(fixture('gitea/fixtures/push.json').replace('"refs/heads/develop"', JSON.stringify(`refs/heads/${branch}`)));

/** A request as the forge sends it: its headers and the exact bytes. */
interface Delivery {
  route: string;
  headers: Record<string, string>;
  body: Buffer;
}

const gitlab = (branch: string, uuid: string): Delivery => ({
  route: '/deploy-all-changed',
  headers: { 'content-type': 'application/json', 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': uuid, 'x-gitlab-token': SECRET },
  body: gitlabPush(branch),
});

const gitea = (branch: string, delivery: string): Delivery => {
  const body = giteaPush(branch);
  const headers = { ...(JSON.parse(fixture('gitea/fixtures/push.headers.json')) as Record<string, string>), 'x-gitea-delivery': delivery, 'x-gitea-signature': hex(body), 'x-hub-signature-256': `sha256=${hex(body)}` };
  return { route: '/deploy-all-changed', headers, body };
};

const standard = (route: string, body: string, msgId: string, ageSeconds = 0): Delivery => {
  const bytes = Buffer.from(body);
  return { route, headers: { 'content-type': 'application/json', ...signStandardWebhook(SECRET, msgId, Math.floor(Date.now() / 1000) - ageSeconds, bytes) }, body: bytes };
};

async function send(server: TestServer, delivery: Delivery, query = ''): Promise<{ status: number; json: any }> {
  const response = await fetch(`${server.url}${delivery.route}${query}`, { method: 'POST', headers: delivery.headers, body: new Uint8Array(delivery.body) });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

const runCount = async (server: TestServer) => ((await server.get('/api/runs?limit=100')) as { runs: unknown[] }).runs.length;

/** The one running container of a single-service project. */
function theContainer(project: string): Container {
  const containers = projectContainers('podman', project);
  assert.equal(containers.length, 1, `${project}: ${JSON.stringify(containers)}`);
  assert.equal(containers[0]!.state, 'running');
  return containers[0]!;
}

/** Builds an image from busybox whose /version is `version` and pushes it to the open registry. */
function buildAndPush(base: string, reference: string, version: string): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'gds-e2e-forge-image-'));
  try {
    writeFileSync(path.join(dir, 'Containerfile'), `FROM ${base}\nRUN echo ${version} > /version\n`);
    sh('podman', ['build', '--quiet', '--tag', `localhost/forge-build-${id}:${version}`, dir]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  sh('podman', ['push', '--quiet', '--tls-verify=false', `localhost/forge-build-${id}:${version}`, `docker://${reference}`]);
}

test('every forge triggers the server: pushes, branch filter, replays across a restart, stale timestamps, image payloads', { timeout: 600_000 }, async (t) => {
  const engines = requireEngines(t);
  if (!engines) return;
  const repo = new EnvRepo();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gds-e2e-forges-data-'));
  const env = { WEBHOOK_SECRET: SECRET };
  let server = await TestServer.start({ checkout: repo.checkout, dataDir, env });
  const image = `${engines.registryOpen}/gds/forge-${id}:latest`;
  t.after(async () => {
    await server.close();
    for (const project of PROJECTS) removeProject('podman', project);
    for (const version of ['v1', 'v2']) {
      try {
        sh('podman', ['rmi', '-f', `localhost/forge-build-${id}:${version}`, image]);
      } catch {
        // best effort
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
    repo.dispose();
  });
  const step = stepper(t);

  const accepted = async (delivery: Delivery, query = ''): Promise<RunView> => {
    const response = await send(server, delivery, query);
    assert.equal(response.status, 202, JSON.stringify(response.json));
    const run = await server.waitForRun(response.json.runId);
    assert.equal(run.status, 'succeeded', summary(run));
    return run;
  };

  await step('1. a GitLab-style push (X-Gitlab-Token, its sample payload) deploys the pushed env value', async () => {
    repo.write(`services/${WEB}/podman-compose.yml`, compose(engines.busyboxImage));
    repo.write(`services/${WEB}/.env`, `GREETING=gitlab-${id}\n`);
    repo.push('web from GitLab');
    await accepted(gitlab('main', `gitlab-${id}-1`));
    assert.equal(containerEnv('podman', theContainer(WEB).id, 'GREETING'), `gitlab-${id}`);
  });

  let giteaDelivery: Delivery;
  await step('2. a Gitea-style push (X-Gitea-Signature over its sample payload) deploys the pushed env value', async () => {
    repo.write(`services/${WEB}/.env`, `GREETING=gitea-${id}\n`);
    repo.push('web from Gitea');
    giteaDelivery = gitea('main', `gitea-${id}-1`);
    await accepted(giteaDelivery);
    assert.equal(containerEnv('podman', theContainer(WEB).id, 'GREETING'), `gitea-${id}`);
  });

  await step('3. a push to another branch deploys nothing: 200 ignored, no run, the container as it was', async () => {
    const before = await runCount(server);
    const container = theContainer(WEB);
    repo.write(`services/${WEB}/.env`, `GREETING=feature-${id}\n`);
    sh('git', ['-c', 'user.name=e2e', '-c', 'user.email=e2e@localhost', '-C', repo.work, 'add', '--all']);
    sh('git', ['-c', 'user.name=e2e', '-c', 'user.email=e2e@localhost', '-C', repo.work, 'commit', '-q', '-m', 'feature work']);
    sh('git', ['-C', repo.work, 'push', '-q', 'origin', 'HEAD:feature']);
    const response = await send(server, gitea('feature', `gitea-${id}-feature`));
    assert.equal(response.status, 200, JSON.stringify(response.json));
    assert.deepEqual([response.json.status, response.json.reason], ['ignored', 'branch']);
    assert.equal(await runCount(server), before);
    assert.equal(theContainer(WEB).id, container.id);
    assert.equal(containerEnv('podman', container.id, 'GREETING'), `gitea-${id}`);
    // Put main back where the feature branch left the operator's clone.
    sh('git', ['-C', repo.work, 'reset', '-q', '--hard', 'origin/main']);
  });

  await step('4. a replayed delivery id is refused after a restart on the same data directory; ?redeliver=1 runs it', async () => {
    await server.close();
    server = await TestServer.start({ checkout: repo.checkout, dataDir, env });
    const before = await runCount(server);
    const replay = await send(server, giteaDelivery);
    assert.equal(replay.status, 200, JSON.stringify(replay.json));
    assert.equal(replay.json.status, 'duplicate');
    assert.equal(await runCount(server), before);
    const run = await accepted(giteaDelivery, '?redeliver=1');
    assert.equal(await runCount(server), before + 1, summary(run));
  });

  await step('5. a Standard Webhooks request signed 6 minutes ago is refused and starts nothing; a fresh one deploys', async () => {
    const before = await runCount(server);
    const stale = await send(server, standard('/deploy-all-changed', '{}', `msg_stale_${id}`, 6 * 60));
    assert.equal(stale.status, 401, JSON.stringify(stale.json));
    assert.equal(stale.json.error.code, 'SIGNATURE_STALE');
    assert.equal(await runCount(server), before);
    await accepted(standard('/deploy-all-changed', '{}', `msg_fresh_${id}`));
  });

  await step('5b. `sign --scheme standard --curl` prints a command this server accepts, once', async () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const run = promisify(execFile);
    // The CLI from source (no build needed); the server answering it lives in this process, so asynchronously.
    const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), 'sign', '--scheme', 'standard', '--body', '{}', '--curl', server.url], {
      cwd: root,
      env: { ...process.env, WEBHOOK_SECRET: SECRET },
    });
    assert.match(stdout, /-H 'webhook-id: msg_[0-9a-f]+' -H 'webhook-timestamp: \d+' -H 'webhook-signature: v1,[A-Za-z0-9+/=]+'/);
    const curl = stdout.trim().replace(/^curl -i /, 'curl -s ');
    const first = JSON.parse((await run('bash', ['-c', curl])).stdout) as { runId: string };
    assert.equal((await server.waitForRun(first.runId)).status, 'succeeded');
    const again = JSON.parse((await run('bash', ['-c', curl])).stdout) as { status: string };
    assert.equal(again.status, 'duplicate');
  });

  await step('6. a registry payload naming an image updates every service that uses it, and only those', async () => {
    buildAndPush(engines.busyboxImage, image, 'v1');
    // Two services name the image (one through its .env), one runs another image.
    repo.write(`services/${APP_A}/podman-compose.yml`, compose(image));
    repo.write(`services/${APP_B}/podman-compose.yml`, compose('${REGISTRY}/gds/forge-' + id));
    repo.write(`services/${APP_B}/.env`, `REGISTRY=${engines.registryOpen}\n`);
    repo.write(`services/${OTHER}/podman-compose.yml`, compose(engines.busyboxImage));
    repo.push('three services, two on the registry image');
    await accepted(standard('/deploy-all-changed', '{}', `msg_apps_${id}`));
    const before = { a: theContainer(APP_A), b: theContainer(APP_B), other: theContainer(OTHER), web: theContainer(WEB) };
    assert.equal(sh('podman', ['exec', before.a.id, 'cat', '/version']), 'v1');

    buildAndPush(engines.busyboxImage, image, 'v2');
    const runsBefore = await runCount(server);
    const response = await send(server, standard('/redeploy-and-update', JSON.stringify({ image: `${engines.registryOpen}/gds/forge-${id}` }), `msg_image_${id}`));
    assert.equal(response.status, 202, JSON.stringify(response.json));
    assert.deepEqual(response.json.services, [APP_A, APP_B].sort());
    assert.equal(response.json.runIds.length, 2);
    const runs = await Promise.all((response.json.runIds as string[]).map((runId) => server.waitForRun(runId)));
    for (const run of runs) assert.equal(run.status, 'succeeded', summary(run));
    assert.deepEqual(runs.flatMap((run) => run.deployments.map((d) => d.service)).sort(), [APP_A, APP_B].sort());
    assert.equal(await runCount(server), runsBefore + 2);

    const after = { a: theContainer(APP_A), b: theContainer(APP_B), other: theContainer(OTHER), web: theContainer(WEB) };
    assert.notEqual(after.a.id, before.a.id, 'A was recreated');
    assert.notEqual(after.b.id, before.b.id, 'B was recreated');
    assert.equal(sh('podman', ['exec', after.a.id, 'cat', '/version']), 'v2');
    assert.equal(sh('podman', ['exec', after.b.id, 'cat', '/version']), 'v2');
    assert.equal(after.other.id, before.other.id, 'the service on another image was left alone');
    assert.equal(after.web.id, before.web.id);
  });
});
