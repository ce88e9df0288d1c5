// End to end: POST /deploy-all-changed with Podman + podman-compose 1.0.3 against the local
// Podman storage (CONTAINER_HOST unset, as the server itself runs it). One server and one
// environment repository are shared by the steps below, which build on each other in order.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { signBody } from '../../src/webhook/signature.js';
import { EnvRepo, TestServer, containerEnv, projectContainers, removeProject, requireEngines, sh, stepper, uid, freePort, deploymentOf, summary, waitForHttp, type Container } from './harness.js';

const id = uid();
const WEB = `web-${id}`;
const WORKER = `worker-${id}`;
const BAD = `bad-${id}`;
const TAGGED = `tagged-${id}`;
/** Directory names are lowercase hex and dashes, so compose project names equal them. */
const PROJECTS = [WEB, WORKER, BAD, TAGGED];
const WEB_SECRET = `secrets/${WEB}.env`;
const WORKER_SECRET = `secrets/${WORKER}.env`;


function webCompose(image: string, extraEnv = ''): string {
  return `services:
  httpd:
    image: ${image}
    init: true
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports:
      - "127.0.0.1:\${WEB_PORT}:8080"
    volumes:
      - ./www:/www:ro
    environment:
      GREETING: \${GREETING}${extraEnv}
    env_file: ../../${WEB_SECRET}
  sleeper:
    image: ${image}
    init: true
    command: ["sleep", "3600"]
    environment:
      GREETING: \${GREETING}
`;
}

function workerCompose(image: string, envFile = `../../${WORKER_SECRET}`): string {
  return `services:
  worker:
    image: ${image}
    init: true
    command: ["sleep", "3600"]
    environment:
      WORKER_MODE: \${WORKER_MODE}
    env_file:
      - ${envFile}
`;
}

/** Running containers of a project by compose service, asserting each compose service has exactly one. */
function byService(project: string, services: string[]): Record<string, Container> {
  const containers = projectContainers('podman', project);
  assert.deepEqual(containers.map((c) => c.service).sort(), [...services].sort(), `${project}: containers ${JSON.stringify(containers)}`);
  const result: Record<string, Container> = {};
  for (const c of containers) {
    assert.equal(c.state, 'running', `${project}/${c.service} is ${c.state}`);
    result[c.service] = c;
  }
  return result;
}

const ids = (containers: Record<string, Container>) => Object.fromEntries(Object.entries(containers).map(([k, c]) => [k, c.id]));

/** The body of a URL once it answers 200. */
const httpBody = (url: string) => waitForHttp(url);


test('podman-compose: deploy-all-changed against real Podman', { timeout: 600_000 }, async (t) => {
  if (!requireEngines(t)) return;
  const repo = new EnvRepo();
  const port = await freePort();
  // Also set in TAGGED's .env: podman-compose 1.0.3 lets `.env` win over the environment (step 8);
  // passed on explicitly, as only allow-listed variables reach the compose tools.
  const server = await TestServer.start({ checkout: repo.checkout, env: { GDS_E2E_BUSYBOX_TAG: 'does-not-exist', CHILD_ENV_PASS: 'GDS_E2E_BUSYBOX_TAG' } });
  t.after(async () => {
    await server.close();
    for (const project of PROJECTS) removeProject('podman', project);
    server.dispose();
    repo.dispose();
  });

  const step = stepper(t);

  const webUrl = `http://127.0.0.1:${port}/index.html`;
  let webIds: Record<string, string> = {};
  let workerIds: Record<string, string> = {};

  await step('1. two new services deploy in one run with interpolated, env_file and mounted inputs', async () => {
    repo.write(`services/${WEB}/podman-compose.yml`, webCompose('localhost/busybox:test'));
    repo.write(`services/${WEB}/.env`, `WEB_PORT=${port}\nGREETING=hello-${id}\n`);
    repo.write(`services/${WEB}/www/index.html`, `page-v1-${id}\n`);
    repo.write(`services/${WORKER}/podman-compose.yml`, workerCompose('localhost/busybox:test'));
    repo.write(`services/${WORKER}/.env`, `WORKER_MODE=batch-${id}\n`);
    repo.push('web and worker');
    repo.writeSecret(WEB_SECRET, `API_TOKEN=token-1-${id}\n`);
    repo.writeSecret(WORKER_SECRET, `WORKER_SECRET=worker-secret-1-${id}\n`);

    const run = await server.deployAll();
    assert.equal(run.status, 'succeeded', summary(run));
    for (const service of [WEB, WORKER]) {
      const d = deploymentOf(run, service);
      assert.deepEqual([d.action, d.status, d.reason], ['deploy', 'succeeded', 'new service'], summary(run));
    }
    assert.equal(run.deployments.length, 2, summary(run));

    const web = byService(WEB, ['httpd', 'sleeper']);
    const worker = byService(WORKER, ['worker']);
    assert.equal(web['httpd']!.name, `${WEB}_httpd_1`);
    // (a) `environment:` interpolated from the service's .env
    assert.equal(containerEnv('podman', web['httpd']!.id, 'GREETING'), `hello-${id}`);
    assert.equal(containerEnv('podman', web['sleeper']!.id, 'GREETING'), `hello-${id}`);
    assert.equal(containerEnv('podman', worker['worker']!.id, 'WORKER_MODE'), `batch-${id}`);
    // (b) env_file outside the service directory, an ignored secret present only in the checkout
    assert.equal(containerEnv('podman', web['httpd']!.id, 'API_TOKEN'), `token-1-${id}`);
    assert.equal(containerEnv('podman', worker['worker']!.id, 'WORKER_SECRET'), `worker-secret-1-${id}`);
    assert.equal(sh('git', ['-C', repo.checkout, 'status', '--porcelain', '--', 'secrets']), '', 'the secret is ignored by git');
    // (c) podman-compose.env: podman-compose 1.0.3 reads only `.env` (no podman-compose.env), so not tested here.
    // The published port answers with the bind-mounted file.
    assert.equal(await httpBody(webUrl), `page-v1-${id}\n`);
    assert.throws(() => sh('podman', ['exec', web['httpd']!.id, 'sh', '-c', 'echo x > /www/written']), /Read-only file system/, 'the config mount is read-only');

    const services = (await server.get('/api/services')).services as Array<{ name: string; inSync: boolean; deployedCommit: string }>;
    const head = sh('git', ['-C', repo.work, 'rev-parse', 'HEAD']);
    for (const name of [WEB, WORKER]) {
      const s = services.find((x) => x.name === name);
      assert.ok(s?.inSync, `${name} in sync: ${JSON.stringify(s)}`);
      assert.equal(s.deployedCommit, head);
    }
    webIds = ids(web);
    workerIds = ids(worker);
  });

  await step('2. a second trigger with no change acts on nothing and touches no container', async () => {
    const run = await server.deployAll();
    assert.equal(run.status, 'succeeded', summary(run));
    assert.deepEqual(run.deployments.filter((d) => d.action === 'deploy'), [], summary(run));
    assert.deepEqual(ids(byService(WEB, ['httpd', 'sleeper'])), webIds);
    assert.deepEqual(ids(byService(WORKER, ['worker'])), workerIds);
  });

  await step('3. changing only an untracked secret env file redeploys exactly that service', async () => {
    repo.writeSecret(WORKER_SECRET, `WORKER_SECRET=worker-secret-2-${id}\n`);
    const run = await server.deployAll();
    assert.equal(run.status, 'succeeded', summary(run));
    assert.deepEqual(run.deployments.map((d) => d.service), [WORKER], summary(run));
    const d = deploymentOf(run, WORKER);
    assert.equal(d.status, 'succeeded');
    assert.equal(d.reason, `changed: ../../${WORKER_SECRET}`);

    const worker = byService(WORKER, ['worker']);
    assert.notEqual(worker['worker']!.id, workerIds['worker'], 'the worker container was recreated');
    assert.equal(containerEnv('podman', worker['worker']!.id, 'WORKER_SECRET'), `worker-secret-2-${id}`);
    assert.deepEqual(ids(byService(WEB, ['httpd', 'sleeper'])), webIds, 'web was not touched');
    workerIds = ids(worker);
  });

  await step('4. a pushed .env and compose change really runs; local edits are reset, untracked files survive', async () => {
    // Operator side: new interpolated value and a new literal variable in the compose file.
    repo.write(`services/${WEB}/.env`, `WEB_PORT=${port}\nGREETING=hello-again-${id}\n`);
    repo.write(`services/${WEB}/podman-compose.yml`, webCompose('localhost/busybox:test', `\n      RELEASE: r2-${id}`));
    const commit = repo.push('web: new greeting and release');
    // Server side: a hand edit to a tracked file and an untracked file beside it.
    const trackedPage = path.join(repo.checkout, 'services', WEB, 'www', 'index.html');
    const untracked = path.join(repo.checkout, 'services', WEB, 'www', 'local-note.html');
    writeFileSync(trackedPage, 'edited on the server\n');
    writeFileSync(untracked, `note-${id}\n`);

    const run = await server.deployAll();
    assert.equal(run.status, 'succeeded', summary(run));
    assert.equal(run.commit, commit);
    assert.deepEqual(run.deployments.map((d) => d.service), [WEB], summary(run));
    const d = deploymentOf(run, WEB);
    assert.equal(d.status, 'succeeded');
    assert.equal(d.reason, 'changed: podman-compose.yml, .env');

    const web = byService(WEB, ['httpd', 'sleeper']);
    // podman-compose 1.0.3 alone would restart the old containers with the old environment.
    assert.notEqual(web['httpd']!.id, webIds['httpd']);
    assert.notEqual(web['sleeper']!.id, webIds['sleeper']);
    assert.equal(containerEnv('podman', web['httpd']!.id, 'GREETING'), `hello-again-${id}`);
    assert.equal(containerEnv('podman', web['sleeper']!.id, 'GREETING'), `hello-again-${id}`);
    assert.equal(containerEnv('podman', web['httpd']!.id, 'RELEASE'), `r2-${id}`);
    assert.equal(containerEnv('podman', web['httpd']!.id, 'API_TOKEN'), `token-1-${id}`);

    assert.equal(readFileSync(trackedPage, 'utf8'), `page-v1-${id}\n`, 'the sync reset the hand edit');
    assert.ok(existsSync(untracked), 'the untracked file survived the sync');
    assert.equal(await httpBody(webUrl), `page-v1-${id}\n`);
    assert.equal(await httpBody(`http://127.0.0.1:${port}/local-note.html`), `note-${id}\n`);
    assert.deepEqual(ids(byService(WORKER, ['worker'])), workerIds, 'worker was not touched');
    webIds = ids(web);
  });

  await step('5. a failing service fails alone, leaves its running container, and is retried after a fix', async () => {
    const servicesBefore = (await server.get('/api/services')).services as Array<{ name: string; deployedCommit: string; deployedFingerprint: string }>;
    const workerBefore = servicesBefore.find((s) => s.name === WORKER)!;

    // 5a: web changes (good), worker needs an env file that does not exist, a new service has invalid YAML.
    repo.write(`services/${WEB}/.env`, `WEB_PORT=${port}\nGREETING=hello-v3-${id}\n`);
    repo.write(`services/${WORKER}/podman-compose.yml`, workerCompose('localhost/busybox:test', `../../secrets/absent-${id}.env`));
    repo.write(`services/${BAD}/podman-compose.yml`, 'services:\n  app:\n    image: [unclosed\n');
    const commitA = repo.push('web v3, worker with a missing env file, bad yaml');
    let run = await server.deployAll();
    assert.equal(run.status, 'failed', summary(run));
    assert.equal(run.commit, commitA);
    assert.deepEqual([deploymentOf(run, WEB).status, deploymentOf(run, WEB).reason], ['succeeded', 'changed: .env'], summary(run));
    const missing = deploymentOf(run, WORKER);
    assert.equal(missing.status, 'failed');
    assert.equal(missing.error?.code, 'ENV_FILE_MISSING', summary(run));
    assert.match(missing.error!.message, new RegExp(`absent-${id}\\.env`));
    const invalid = deploymentOf(run, BAD);
    assert.equal(invalid.status, 'failed');
    assert.equal(invalid.error?.code, 'COMPOSE_FILE_INVALID', summary(run));
    assert.ok(invalid.error!.message.length > 0);

    let web = byService(WEB, ['httpd', 'sleeper']);
    assert.equal(containerEnv('podman', web['httpd']!.id, 'GREETING'), `hello-v3-${id}`);
    assert.deepEqual(ids(byService(WORKER, ['worker'])), workerIds, 'the failed worker kept its running container');
    assert.deepEqual(projectContainers('podman', BAD), [], 'nothing was created for the invalid compose file');
    let services = (await server.get('/api/services')).services as Array<{ name: string; deployedCommit: string | null; deployedFingerprint: string | null; inSync: boolean }>;
    const workerAfter = services.find((s) => s.name === WORKER)!;
    assert.equal(workerAfter.deployedFingerprint, workerBefore.deployedFingerprint, 'no deployed state written on failure');
    assert.equal(workerAfter.deployedCommit, workerBefore.deployedCommit);
    assert.equal(workerAfter.inSync, false);
    assert.equal(services.find((s) => s.name === BAD)!.deployedCommit, null);

    // 5b: fix the YAML; the worker now asks for an image that does not exist.
    repo.write(`services/${WORKER}/podman-compose.yml`, workerCompose('localhost/does-not-exist:1'));
    repo.write(`services/${BAD}/podman-compose.yml`, 'services:\n  app:\n    image: localhost/busybox:test\n    init: true\n    command: ["sleep", "3600"]\n');
    repo.push('fix bad yaml; worker with a missing image');
    run = await server.deployAll();
    assert.equal(run.status, 'failed', summary(run));
    assert.equal(deploymentOf(run, BAD).status, 'succeeded', summary(run));
    assert.equal(deploymentOf(run, BAD).reason, 'new service', 'a failed deployment wrote no state, so it is still new');
    byService(BAD, ['app']);
    const pull = deploymentOf(run, WORKER);
    assert.equal(pull.status, 'failed');
    // The server resolves images before it touches a container, so this is a pull failure, not a state mismatch.
    assert.equal(pull.error?.code, 'PULL_FAILED', summary(run));
    assert.match(pull.error!.message, /does-not-exist/);
    assert.deepEqual(ids(byService(WORKER, ['worker'])), workerIds, 'a missing image left the running container alone');
    assert.equal(run.deployments.some((d) => d.service === WEB), false, 'web unchanged since 5a');

    // 5c: fix the worker in git: the next run deploys it.
    repo.write(`services/${WORKER}/podman-compose.yml`, workerCompose('localhost/busybox:test'));
    repo.write(`services/${WORKER}/.env`, `WORKER_MODE=stream-${id}\n`);
    const commitC = repo.push('fix worker');
    run = await server.deployAll();
    assert.equal(run.status, 'succeeded', summary(run));
    assert.deepEqual(run.deployments.map((d) => d.service), [WORKER], summary(run));
    const worker = byService(WORKER, ['worker']);
    assert.notEqual(worker['worker']!.id, workerIds['worker']);
    assert.equal(containerEnv('podman', worker['worker']!.id, 'WORKER_MODE'), `stream-${id}`);
    assert.equal(containerEnv('podman', worker['worker']!.id, 'WORKER_SECRET'), `worker-secret-2-${id}`);
    services = (await server.get('/api/services')).services;
    assert.equal(services.find((s) => s.name === WORKER)!.deployedCommit, commitC);
    assert.ok(services.every((s) => s.inSync), JSON.stringify(services));
    workerIds = ids(worker);
    web = byService(WEB, ['httpd', 'sleeper']);
    webIds = ids(web);
  });

  await step('6. a burst of 50 signed triggers coalesces into at most two runs that deploy the newest commit', async () => {
    repo.write(`services/${WEB}/www/index.html`, `page-burst-${id}\n`);
    repo.write(`services/${WORKER}/.env`, `WORKER_MODE=burst-${id}\n`);
    const commit = repo.push('burst');
    const answers = await Promise.all(Array.from({ length: 50 }, () => server.post('/deploy-all-changed')));
    assert.deepEqual(answers.map((a) => a.status), Array(50).fill(202), JSON.stringify(answers.find((a) => a.status !== 202)));
    const runIds = [...new Set(answers.map((a) => a.json.runId as string))];
    assert.ok(runIds.length >= 1 && runIds.length <= 2, `distinct runs: ${runIds.length}`);
    const runs = await Promise.all(runIds.map((runId) => server.waitForRun(runId)));
    for (const run of runs) assert.equal(run.status, 'succeeded', summary(run));
    // Across the runs each service was deployed exactly once, at the pushed commit.
    const deploys = runs.flatMap((r) => r.deployments.filter((d) => d.action === 'deploy'));
    assert.deepEqual(deploys.map((d) => d.service).sort(), [WEB, WORKER].sort(), JSON.stringify(runs.map(summary)));

    assert.equal(sh('git', ['-C', repo.checkout, 'rev-parse', 'HEAD']), commit);
    const services = (await server.get('/api/services')).services as Array<{ name: string; deployedCommit: string; inSync: boolean }>;
    for (const name of [WEB, WORKER]) assert.equal(services.find((s) => s.name === name)!.deployedCommit, commit, name);
    assert.equal(await httpBody(webUrl), `page-burst-${id}\n`);
    const worker = byService(WORKER, ['worker']);
    assert.equal(containerEnv('podman', worker['worker']!.id, 'WORKER_MODE'), `burst-${id}`);
    webIds = ids(byService(WEB, ['httpd', 'sleeper']));
    workerIds = ids(worker);
  });

  await step('7. security smoke: unsigned and badly signed triggers create no run; hostile service names are refused', async () => {
    const lastDeployments = async () =>
      ((await server.get('/api/services')).services as Array<{ name: string; lastDeployment: unknown }>).map((s) => [s.name, s.lastDeployment]);
    const before = await lastDeployments();
    // A change is waiting, so a run that slipped through would show as a new deployment.
    repo.writeSecret(WORKER_SECRET, `WORKER_SECRET=worker-secret-3-${id}\n`);

    const unsigned = await server.post('/deploy-all-changed', '', { signature: null });
    assert.equal(unsigned.status, 401);
    assert.equal(unsigned.json?.error?.code, 'SIGNATURE_MISSING');
    const forged = await server.post('/deploy-all-changed', '', { signature: `sha256=${'0'.repeat(64)}` });
    assert.equal(forged.status, 401);
    assert.equal(forged.json?.error?.code, 'SIGNATURE_INVALID');

    for (const route of ['/redeploy-and-update/..%2F..%2Fetc', '/redeploy-and-update/%24(id)']) {
      for (const signature of [undefined, null]) {
        const response = await fetch(`${server.url}${route}`, {
          method: 'POST',
          headers: signature === null ? {} : { 'x-hub-signature-256': signBody(server.server.webhookSecret, Buffer.alloc(0)) },
        });
        assert.ok(response.status >= 400 && response.status < 500, `${route} (signed: ${signature === undefined}) answered ${response.status}`);
        await response.body?.cancel();
      }
    }

    assert.deepEqual(await lastDeployments(), before, 'no run was created');
    assert.deepEqual(ids(byService(WORKER, ['worker'])), workerIds);
    assert.deepEqual(ids(byService(WEB, ['httpd', 'sleeper'])), webIds);
    assert.equal(containerEnv('podman', workerIds['worker']!, 'WORKER_SECRET'), `worker-secret-2-${id}`);
  });

  await step('8. image references resolve as podman-compose 1.0.3 does: .env beats the server environment', async () => {
    repo.write(`services/${TAGGED}/podman-compose.yml`, 'services:\n  app:\n    image: localhost/busybox:${GDS_E2E_BUSYBOX_TAG}\n    init: true\n    command: ["sleep", "3600"]\n');
    repo.write(`services/${TAGGED}/.env`, 'GDS_E2E_BUSYBOX_TAG=test\n');
    repo.push('tagged');
    const run = await server.deployAll();
    const d = deploymentOf(run, TAGGED);
    assert.equal(d.status, 'succeeded', summary(run));
    const app = byService(TAGGED, ['app'])['app']!;
    assert.equal(app.imageId, sh('podman', ['image', 'inspect', '--format', '{{.Id}}', 'localhost/busybox:test']).replace(/^sha256:/, ''));
    assert.deepEqual(d.imagesAfter, { app: app.imageId });
  });

  await step('9. a change to one compose service of a stack recreates only its container (no down + up)', async () => {
    const before = byService(WEB, ['httpd', 'sleeper']);
    const sleeperStarted = sh('podman', ['container', 'inspect', '--format', '{{.State.StartedAt}}', before['sleeper']!.id]);
    repo.write(`services/${WEB}/podman-compose.yml`, webCompose('localhost/busybox:test', `\n      RELEASE: r3-${id}`));
    repo.push('web: only httpd changes');
    const run = await server.deployAll();
    assert.equal(deploymentOf(run, WEB).status, 'succeeded', summary(run));
    const after = byService(WEB, ['httpd', 'sleeper']);
    assert.notEqual(after['httpd']!.id, before['httpd']!.id, 'the changed container was recreated');
    assert.equal(containerEnv('podman', after['httpd']!.id, 'RELEASE'), `r3-${id}`);
    assert.equal(after['sleeper']!.id, before['sleeper']!.id, 'the unchanged container kept running');
    assert.equal(sh('podman', ['container', 'inspect', '--format', '{{.State.StartedAt}}', after['sleeper']!.id]), sleeperStarted, 'and was not restarted');
  });
});
