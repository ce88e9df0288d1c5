// The server as a container that deploys itself, on the real Podman engine and on a real dockerd:
// the image is built on this machine (scripts/build-server-image.sh), pushed to the local
// registry, and run from the environment repository's own service with the host's engine socket
// mounted in. The test then changes that service in git and publishes a broken image for it, and
// checks what really runs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { signBody } from '../../src/webhook/signature.js';
import type { TestEngines } from './engines/engines.js';
import { EnvRepo, freePort, projectContainers, removeProject, requireEngines, sh, stepper, uid, type Container } from './harness.js';

const SECRET = 'self-update-webhook-secret-0123456789';
const TOKEN = 'self-update-api-token-0123456789';
const BUILT_IMAGE = 'localhost/gitops-deploy-server:e2e';

interface RunView {
  id: string;
  status: string;
  origin: string;
  trigger: string;
  deployments: Array<{ id: string; service: string; action: string; status: string; reason: string; error: { code: string; message: string } | null; output: string }>;
}

/** fetch that waits through the swap: no instance listening, or one stopping (503 with Retry-After). */
async function patiently(url: string, init: RequestInit = {}, timeoutMs = 120_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A ref'd timer, unlike AbortSignal.timeout: docker-proxy accepts connections before the
    // container listens, and a fetch waiting on such a socket must not let the event loop end.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 5_000);
    try {
      const response = await fetch(url, { ...init, signal: controller.signal });
      if (response.status !== 503 || Date.now() > deadline) return response;
      await response.text();
      await new Promise((resolve) => setTimeout(resolve, 300));
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${url} unreachable for ${timeoutMs} ms: ${String(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      clearTimeout(timer);
    }
  }
}

/** What differs between the engines: the CLI and its socket, the compose file name and tool. */
interface Engine {
  cli: 'podman' | 'docker';
  /** Environment for the engine CLI on the host (the private dockerd's socket). */
  env: Record<string, string | undefined>;
  composeFile: string;
  composeTool: string;
  /** Socket path on the host, and where the server container sees it, with the variable naming it. */
  socket: string;
  socketInside: string;
  socketVariable: 'CONTAINER_HOST' | 'DOCKER_HOST';
}

async function selfUpdateScenario(t: TestContext, engines: TestEngines, engine: Engine): Promise<void> {
  const id = uid();
  const name = `gds-self-${id}`;
  const reference = `${engines.registryOpen}/gds-server-${id}:e2e`;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const repo = new EnvRepo();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gds-self-data-'));
  const step = stepper(t);

  const cli = (args: string[]) => sh(engine.cli, args, { env: engine.env });
  const compose = (label: string) => `services:
  server:
    image: ${reference}
    ports: ["${port}:8080"]
    env_file: ../../secrets/server.env
    environment:
      ${engine.socketVariable}: unix://${engine.socketInside}
      ENV_REPO_PATH: ${repo.checkout}
      DEPLOY_SERVER_NAME: ${name}
      INSTANCE_LABEL: ${label}
      STOP_TIMEOUT_SECONDS: "5"
      SELF_UPDATE_HEALTH_TIMEOUT_SECONDS: "45"
    volumes:
      - ${engine.socket}:${engine.socketInside}
      - ${repo.root}:${repo.root}
      - ${dataDir}:/data
`;
  const health = async () => (await (await patiently(`${base}/health`)).json()) as { status: string; instance: string | null; startedAt: string };
  const api = async (route: string) => {
    const response = await patiently(`${base}${route}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(response.status, 200, `GET ${route}: ${response.status}`);
    return response.json();
  };
  const webhook = async (route: string, body = '') => {
    const response = await patiently(`${base}${route}`, { method: 'POST', headers: { 'x-hub-signature-256': signBody(SECRET, Buffer.from(body)) }, body: body || undefined });
    assert.equal(response.status, 202, `${route}: ${response.status} ${await response.clone().text()}`);
    return ((await response.json()) as { runId: string }).runId;
  };
  const waitForRun = async (runId: string, timeoutMs = 240_000): Promise<RunView> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = (await api(`/api/runs/${runId}`)) as RunView;
      if (run.status === 'succeeded' || run.status === 'failed') return run;
      if (Date.now() > deadline) throw new Error(`run ${runId} still ${run.status}: ${JSON.stringify(run).slice(0, 2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  };
  const server = (): Container => {
    const all = projectContainers(engine.cli, name, engine.env as Record<string, string>);
    const running = all.filter((c) => c.state === 'running');
    assert.equal(running.length, 1, `one running server container: ${JSON.stringify(all)}`);
    return running[0]!;
  };
  const exists = (containerId: string) => {
    try {
      execFileSync(engine.cli, ['container', 'inspect', containerId], { env: { ...process.env, ...engine.env }, stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  const selfDeployment = (run: RunView) => {
    const found = run.deployments.filter((d) => d.service === name);
    assert.equal(found.length, 1, JSON.stringify(run).slice(0, 2000));
    return found[0]!;
  };

  t.after(() => {
    removeProject(engine.cli, name, engine.env as Record<string, string>);
    removeProject(engine.cli, 'web', engine.env as Record<string, string>);
    try {
      const helpers = cli(['ps', '-aq', '--filter', 'label=io.gitops-deploy-server.self-update']).split('\n').filter(Boolean);
      if (helpers.length > 0) cli(['rm', '-f', ...helpers]);
      cli(['rmi', '-f', reference]);
    } catch {
      // best effort
    }
    repo.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  let first: Container;
  let imageBefore: string;

  // Another suite's service of the same name must not be taken for this one's.
  removeProject(engine.cli, 'web', engine.env as Record<string, string>);

  await step('the image builds on this machine and is published to the registry', async () => {
    execFileSync('bash', ['scripts/build-server-image.sh', engine.cli, BUILT_IMAGE], {
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 20 * 60_000,
      env: { ...process.env, ...engine.env },
    });
    cli(['tag', BUILT_IMAGE, reference]);
    cli(['push', ...(engine.cli === 'podman' ? ['--tls-verify=false'] : []), reference]);
    imageBefore = cli(['image', 'inspect', '--format', '{{.Id}}', reference]);
  });

  await step('an operator starts the server from its own service directory', async () => {
    repo.write(`services/${name}/${engine.composeFile}`, compose('v1'));
    repo.write(`services/web/${engine.composeFile}`, `services:\n  web:\n    image: ${engines.busyboxImage}\n    command: ["sleep", "3600"]\n    init: true\n`);
    repo.push('the server and one service');
    sh('git', ['-C', repo.checkout, 'pull', '-q']);
    // No update window: the scenario below needs the package webhook's update to run beside the deploy-all.
    repo.writeSecret('secrets/server.env', `WEBHOOK_SECRET=${SECRET}\nAPI_TOKEN=${TOKEN}\nUPDATE_DEBOUNCE_SECONDS=0\n`);
    sh(engine.composeTool, ['-p', name, 'up', '-d'], { cwd: path.join(repo.checkout, 'services', name), env: { CONTAINER_HOST: undefined, ...engine.env } });
    assert.equal((await health()).instance, 'v1');
    first = server();
  });

  await step('its first deploy-all deploys the other service, then replaces its own container through a helper', async () => {
    const run = await waitForRun(await webhook('/deploy-all-changed'));
    assert.equal(run.status, 'succeeded', JSON.stringify(run).slice(0, 3000));
    const self = selfDeployment(run);
    assert.equal(self.status, 'succeeded');
    assert.match(self.output, /answers \/health/);
    assert.equal(run.deployments.find((d) => d.service === 'web')?.status, 'succeeded');
    const now = server();
    assert.notEqual(now.id, first.id, 'a new container answers');
    assert.equal(exists(first.id), false, 'the old container is gone');
    // The helper records the end, then exits and is removed (--rm): that takes the engine a moment.
    const helpers = () => cli(['ps', '-aq', '--filter', 'label=io.gitops-deploy-server.self-update']);
    for (const until = Date.now() + 20_000; helpers() !== '' && Date.now() < until; ) await new Promise((r) => setTimeout(r, 250));
    assert.equal(helpers(), '', 'the helper removed itself');
    first = now;
  });

  await step('a change of its own service in git: the new instance answers, the history survived', async () => {
    repo.write(`services/${name}/${engine.composeFile}`, compose('v2'));
    repo.push('server: v2');
    const runId = await webhook('/deploy-all-changed');
    // A webhook that arrives during the swap is not lost: it is recorded, and run once the new instance is up.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const run = (await api(`/api/runs/${runId}`)) as RunView;
      if (run.deployments.some((d) => d.status === 'handed-off') || run.status !== 'running' || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    repo.write(`services/web/${engine.composeFile}`, `services:\n  web:\n    image: ${engines.busyboxImage}\n    command: ["sleep", "7200"]\n    init: true\n`);
    repo.push('web changed during the swap');
    const duringSwap = await webhook('/deploy-all-changed');

    const run = await waitForRun(runId);
    assert.equal(run.status, 'succeeded', JSON.stringify(run).slice(0, 3000));
    assert.equal(selfDeployment(run).status, 'succeeded');
    assert.equal((await health()).instance, 'v2');
    const now = server();
    assert.notEqual(now.id, first.id);
    assert.equal(exists(first.id), false, 'the old container is gone');

    // The new instance shows the whole history, including the deployment that replaced it.
    const history = (await api(`/api/services/${name}`)) as { history: Array<{ id: string; status: string; reason: string }>; service: { state: string } };
    const runs = await api('/api/runs');
    const context = JSON.stringify({ history, runs }, null, 1).slice(0, 6000);
    const mine = history.history.find((d) => d.id === selfDeployment(run).id);
    assert.equal(mine?.status, 'succeeded', context);
    // Every self-update so far ended: none is left handed-off, none was cut off. (The run of the
    // webhook sent during the swap may add one that found the work already done.)
    assert.ok(history.history.length >= 2, context);
    for (const d of history.history) assert.equal(d.status, 'succeeded', context);
    assert.equal(history.service.state, 'in-sync');

    // The webhook sent during the swap was carried out: web runs its new command.
    const webDeployed = async () => {
      const services = (await api('/api/services')) as { services: Array<{ name: string; state: string }> };
      return services.services.find((s) => s.name === 'web')?.state === 'in-sync';
    };
    for (const until = Date.now() + 120_000; !(await webDeployed()); await new Promise((r) => setTimeout(r, 500))) {
      assert.ok(Date.now() < until, `the webhook sent during the swap (${duringSwap}) was never carried out`);
    }
    const web = projectContainers(engine.cli, 'web', engine.env as Record<string, string>).find((c) => c.state === 'running');
    assert.ok(web);
    assert.match(cli(['inspect', '--format', '{{join .Config.Cmd " "}}', web.id]), /sleep 7200/);
    removeProject(engine.cli, 'web', engine.env as Record<string, string>);
    first = now;
  });

  await step('two self-updates at once (a push changing the server and another service, and a package webhook for the server): both end', async () => {
    repo.write(`services/${name}/${engine.composeFile}`, compose('v3'));
    repo.write(`services/web/${engine.composeFile}`, `services:\n  web:\n    image: ${engines.busyboxImage}\n    command: ["sleep", "3601"]\n    init: true\n`);
    repo.push('server v3 and web');
    // The update of the server starts in its own lane while the deploy-all still deploys web;
    // before the fix each paused the queue and waited for the other, for good.
    const all = await webhook('/deploy-all-changed');
    const update = await webhook(`/redeploy-and-update/${name}`, JSON.stringify({ action: 'published' }));
    const [allRun, updateRun] = [await waitForRun(all), await waitForRun(update)];
    assert.equal(updateRun.status, 'succeeded', JSON.stringify(updateRun).slice(0, 3000));
    assert.equal(allRun.status, 'succeeded', JSON.stringify(allRun).slice(0, 3000));
    assert.equal(allRun.deployments.find((d) => d.service === 'web')?.status, 'succeeded');
    assert.equal((await health()).instance, 'v3');
    const now = server();
    assert.notEqual(now.id, first.id, 'the push replaced the server');
    const web = projectContainers(engine.cli, 'web', engine.env as Record<string, string>).find((c) => c.state === 'running');
    assert.ok(web);
    assert.match(cli(['inspect', '--format', '{{join .Config.Cmd " "}}', web.id]), /sleep 3601/);
    removeProject(engine.cli, 'web', engine.env as Record<string, string>);
    first = now;
  });

  await step('a broken image published for its own service is rolled back: the previous instance answers again', async () => {
    // "Publish" an image that cannot run the server under the same reference.
    cli(['tag', engines.busyboxImage, reference]);
    cli(['push', ...(engine.cli === 'podman' ? ['--tls-verify=false'] : []), reference]);
    cli(['tag', imageBefore, reference]);
    const runId = await webhook(`/redeploy-and-update/${name}`, JSON.stringify({ action: 'published' }));
    const run = await waitForRun(runId);
    assert.equal(run.status, 'failed', JSON.stringify(run).slice(0, 3000));
    const self = selfDeployment(run);
    assert.equal(self.status, 'rolled-back', JSON.stringify(self).slice(0, 3000));
    assert.ok(self.error, 'the rolled-back deployment says why');
    assert.match(self.output, /rolling back/);
    const h = await health();
    assert.equal(h.instance, 'v3');
    const now = server();
    assert.equal(now.imageId, imageBefore.replace(/^sha256:/, ''), 'the previous image runs again');
    assert.equal(cli(['image', 'inspect', '--format', '{{.Id}}', reference]), imageBefore, 'the tag points at the previous image again');
  });
}

test('the server in a container updates itself, keeps its history and rolls back a broken image (podman)', async (t) => {
  const engines = requireEngines(t);
  if (!engines) return;
  await selfUpdateScenario(t, engines, {
    cli: 'podman',
    env: { CONTAINER_HOST: undefined, DOCKER_HOST: undefined },
    composeFile: 'podman-compose.yml',
    composeTool: 'podman-compose',
    socket: engines.podmanSocket,
    socketInside: engines.podmanSocket,
    socketVariable: 'CONTAINER_HOST',
  });
});

test('the server in a container updates itself, keeps its history and rolls back a broken image (docker)', async (t) => {
  const engines = requireEngines(t);
  if (!engines) return;
  await selfUpdateScenario(t, engines, {
    cli: 'docker',
    env: { DOCKER_HOST: engines.dockerHost, CONTAINER_HOST: undefined },
    composeFile: 'docker-compose.yml',
    composeTool: 'docker-compose',
    socket: engines.dockerSocket,
    socketInside: '/var/run/docker.sock',
    socketVariable: 'DOCKER_HOST',
  });
});
