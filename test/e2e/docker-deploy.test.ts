// End to end: POST /deploy-all-changed with the Docker runtime (docker CLI + docker-compose
// 1.29.2), run twice with the same steps: against the private dockerd and against the Podman
// API socket, both reached through DOCKER_HOST. Per target one server and one environment
// repository are shared by the steps below, which build on each other in order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EnvRepo, TestServer, containerEnv, projectContainers, removeProject, requireEngines, sh, stepper, uid, freePort, deploymentOf, summary, waitForHttp, type Container, type RunView } from './harness.js';
import type { TestEngines } from './engines/engines.js';

const IMAGE = 'localhost/busybox:test';
const MISSING_IMAGE = 'localhost/does-not-exist:1';

interface Target {
  name: string;
  dockerHost: (engines: TestEngines) => string;
  /** Where the containers must NOT show up: the private dockerd shares nothing with Podman's storage. */
  notInPodman: boolean;
}

const TARGETS: Target[] = [
  { name: 'private dockerd', dockerHost: (e) => e.dockerHost, notInPodman: true },
  { name: 'Podman API socket', dockerHost: (e) => e.podmanHost, notInPodman: false },
];

interface ServiceView {
  name: string;
  runtime: string;
  composeFile: string;
  projectName: string;
  desiredFingerprint: string;
  deployedFingerprint: string | null;
  inSync: boolean;
  deployedCommit: string | null;
  lastDeployment: { runId: string; status: string; error: { code: string; message: string } | null } | null;
}


/**
 * Two compose services: an httpd that serves its own GREETING on a published port, and a
 * sleeper nothing in the steps changes. `release` is web's literal environment value.
 */
function appCompose(secret: string, release: string): string {
  return `services:
  web:
    image: ${IMAGE}
    init: true
    command: ["sh", "-c", "mkdir -p /www && printenv GREETING > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports:
      - "127.0.0.1:\${WEB_PORT}:8080"
    environment:
      GREETING: \${GREETING}
      RELEASE: "${release}"
    env_file: ../../${secret}
  sleeper:
    image: ${IMAGE}
    init: true
    command: ["sleep", "3600"]
    environment:
      SLEEPER_MODE: \${SLEEPER_MODE}
`;
}

function singleCompose(image: string, envFile: string | undefined, extra = ''): string {
  return `services:
  main:
    image: ${image}
    init: true
    command: ["sleep", "3600"]
    environment:
      ROLE: "${extra}"
${envFile ? `    env_file: ${envFile}\n` : ''}`;
}


/** Waits until a URL answers 200 with exactly `expected`. */
const waitForBody = (url: string, expected: string) => waitForHttp(url, (body) => body === expected);


for (const target of TARGETS) {
  test(`docker runtime (docker-compose) against the ${target.name}`, { timeout: 300_000 }, async (t) => {
    const engines = requireEngines(t);
    if (!engines) return;
    const env = { DOCKER_HOST: target.dockerHost(engines) };
    const id = uid();
    const APP = `dk-app-${id}`;
    const NEUTRAL = `dk-neutral-${id}`;
    const BAD_IMAGE = `dk-badimage-${id}`;
    const BAD_ENV = `dk-badenv-${id}`;
    // Directory names are lowercase letters, digits and dashes: compose project names equal them.
    const MOUNTED = `dk-mounted-${id}`;
    const PROJECTS = [APP, NEUTRAL, BAD_IMAGE, BAD_ENV, MOUNTED];
    const APP_SECRET = `secrets/${APP}.env`;
    const BAD_ENV_SECRET = `secrets/${BAD_ENV}.env`;

    const repo = new EnvRepo();
    const port = await freePort();
    const server = await TestServer.start({ checkout: repo.checkout, env: { ...env, DEFAULT_RUNTIME: 'docker' } });
    t.after(async () => {
      await server.close();
      for (const project of PROJECTS) {
        removeProject('docker', project, env);
        // Had the wrong runtime (podman-compose) run, its containers would sit in Podman's storage.
        if (target.notInPodman) removeProject('podman', project);
      }
      server.dispose();
      repo.dispose();
    });

    /** Containers of a project by compose service, each running, exactly the services given. */
    const byService = (project: string, services: string[]): Record<string, Container> => {
      const containers = projectContainers('docker', project, env);
      assert.deepEqual(containers.map((c) => c.service).sort(), [...services].sort(), `${project}: ${JSON.stringify(containers)}`);
      const result: Record<string, Container> = {};
      for (const c of containers) {
        assert.equal(c.state, 'running', `${project}/${c.service} is ${c.state}`);
        result[c.service] = c;
      }
      return result;
    };
    const printenv = (c: Container, name: string) => containerEnv('docker', c.id, name, env);
    const inspect = (c: Container) =>
      JSON.parse(sh('docker', ['container', 'inspect', '--format', '{{json .}}', c.id], { env })) as {
        State: { StartedAt: string };
        Config: { Labels: Record<string, string> };
      };
    const services = async (): Promise<Map<string, ServiceView>> => {
      const list = (await server.get('/api/services')).services as ServiceView[];
      return new Map(list.map((s) => [s.name, s] as const));
    };
    /** Scenario 5: the API's view of a service deployed at `commit` with the Docker runtime. */
    const assertDeployed = (all: Map<string, ServiceView>, name: string, commit: string) => {
      const s = all.get(name);
      assert.ok(s, `${name} is listed by /api/services`);
      assert.equal(s.runtime, 'docker', JSON.stringify(s));
      assert.equal(s.deployedFingerprint, s.desiredFingerprint, JSON.stringify(s));
      assert.ok(s.inSync, JSON.stringify(s));
      assert.equal(s.deployedCommit, commit, JSON.stringify(s));
    };

    const step = stepper(t);

    const webUrl = `http://127.0.0.1:${port}/index.html`;
    let appContainers: Record<string, Container> = {};
    let sleeperStartedAt = '';
    let neutralId = '';
    let firstCommit = '';

    await step('1+3. a docker-compose.yml service with two compose services and a compose.yaml service deploy', async () => {
      repo.write(`services/${APP}/docker-compose.yml`, appCompose(APP_SECRET, 'r1'));
      repo.write(`services/${APP}/.env`, `WEB_PORT=${port}\nGREETING=hello-${id}\nSLEEPER_MODE=idle-${id}\n`);
      repo.write(`services/${NEUTRAL}/compose.yaml`, singleCompose(IMAGE, undefined, `neutral-${id}`));
      firstCommit = repo.push('app and neutral');
      repo.writeSecret(APP_SECRET, `API_TOKEN=token-${id}\n`);

      const run = await server.deployAll();
      assert.equal(run.status, 'succeeded', summary(run));
      assert.deepEqual(run.deployments.map((d) => d.service).sort(), [APP, NEUTRAL].sort(), summary(run));
      for (const service of [APP, NEUTRAL]) {
        const d = deploymentOf(run, service);
        assert.deepEqual([d.action, d.status, d.reason], ['deploy', 'succeeded', 'new service'], summary(run));
        // The Docker runtime ran the standalone docker-compose (no `docker compose` v2 here).
        assert.match(d.output, /\$ docker-compose -p /, `${service} output: ${d.output}`);
      }

      const app = byService(APP, ['web', 'sleeper']);
      assert.equal(app['web']!.name, `${APP}_web_1`);
      // `environment:` interpolated from the service's .env, and a literal value
      assert.equal(printenv(app['web']!, 'GREETING'), `hello-${id}`);
      assert.equal(printenv(app['web']!, 'RELEASE'), 'r1');
      assert.equal(printenv(app['sleeper']!, 'SLEEPER_MODE'), `idle-${id}`);
      // env_file outside the service directory: an ignored secret present only in the server's checkout
      assert.equal(printenv(app['web']!, 'API_TOKEN'), `token-${id}`);
      assert.equal(sh('git', ['-C', repo.checkout, 'status', '--porcelain', '--ignored', '--', 'secrets']), '!! secrets/', 'the secret is ignored by git');
      // The published port answers with what the container itself wrote from its environment.
      await waitForBody(webUrl, `hello-${id}\n`);

      // compose.yaml + DEFAULT_RUNTIME=docker: docker-compose created it (its labels), on this engine.
      const neutral = byService(NEUTRAL, ['main']);
      assert.equal(printenv(neutral['main']!, 'ROLE'), `neutral-${id}`);
      const labels = inspect(neutral['main']!).Config.Labels;
      assert.equal(labels['com.docker.compose.version'], '1.29.2', JSON.stringify(labels));
      assert.ok(labels['com.docker.compose.config-hash'], JSON.stringify(labels));
      assert.equal(labels['io.podman.compose.version'], undefined, 'not created by podman-compose');
      if (target.notInPodman) {
        assert.deepEqual(projectContainers('podman', NEUTRAL), [], 'nothing of it in Podman storage');
        assert.deepEqual(projectContainers('podman', APP), [], 'nothing of it in Podman storage');
      }

      const all = await services();
      assertDeployed(all, APP, firstCommit);
      assertDeployed(all, NEUTRAL, firstCommit);
      assert.equal(all.get(APP)!.composeFile, 'docker-compose.yml');
      assert.equal(all.get(NEUTRAL)!.composeFile, 'compose.yaml');

      appContainers = app;
      sleeperStartedAt = inspect(app['sleeper']!).State.StartedAt;
      neutralId = neutral['main']!.id;
    });

    await step("2. changing one compose service's environment recreates only that container", async () => {
      repo.write(`services/${APP}/docker-compose.yml`, appCompose(APP_SECRET, 'r2'));
      const commit = repo.push('app: web release r2');

      const run = await server.deployAll();
      assert.equal(run.status, 'succeeded', summary(run));
      assert.deepEqual(run.deployments.map((d) => d.service), [APP], `only the changed service is acted on: ${summary(run)}`);
      assert.equal(deploymentOf(run, APP).reason, 'changed: docker-compose.yml');

      const app = byService(APP, ['web', 'sleeper']);
      assert.notEqual(app['web']!.id, appContainers['web']!.id, 'web was recreated');
      assert.equal(printenv(app['web']!, 'RELEASE'), 'r2');
      assert.equal(printenv(app['web']!, 'API_TOKEN'), `token-${id}`);
      // The whole point of docker-compose over down+up: the unchanged compose service keeps running untouched.
      assert.equal(app['sleeper']!.id, appContainers['sleeper']!.id, 'sleeper was not recreated');
      assert.equal(inspect(app['sleeper']!).State.StartedAt, sleeperStartedAt, 'sleeper was not restarted');
      assert.equal(byService(NEUTRAL, ['main'])['main']!.id, neutralId, 'the unchanged service was not touched');
      await waitForBody(webUrl, `hello-${id}\n`);

      const all = await services();
      assertDeployed(all, APP, commit);
      assertDeployed(all, NEUTRAL, firstCommit);
      appContainers = app;
    });

    let failingRunId = '';
    await step('4a. failing services fail alone in the same run as a good change', async () => {
      repo.write(`services/${APP}/.env`, `WEB_PORT=${port}\nGREETING=hello-again-${id}\nSLEEPER_MODE=idle-${id}\n`);
      repo.write(`services/${BAD_IMAGE}/docker-compose.yml`, singleCompose(MISSING_IMAGE, undefined, 'bad-image'));
      repo.write(`services/${BAD_ENV}/docker-compose.yml`, singleCompose(IMAGE, `../../${BAD_ENV_SECRET}`, 'bad-env'));
      const commit = repo.push('app greeting, two broken services');

      const run = await server.deployAll();
      failingRunId = run.id;
      assert.equal(run.status, 'failed', summary(run));
      assert.deepEqual(run.deployments.map((d) => d.service).sort(), [APP, BAD_ENV, BAD_IMAGE].sort(), summary(run));
      assert.equal(deploymentOf(run, APP).status, 'succeeded', summary(run));
      const badImage = deploymentOf(run, BAD_IMAGE);
      assert.equal(badImage.status, 'failed');
      assert.equal(badImage.error?.code, 'PULL_FAILED', summary(run));
      assert.match(badImage.error!.message, /localhost\/does-not-exist:1/);
      const badEnv = deploymentOf(run, BAD_ENV);
      assert.equal(badEnv.status, 'failed');
      assert.equal(badEnv.error?.code, 'ENV_FILE_MISSING', summary(run));
      assert.match(badEnv.error!.message, new RegExp(`secrets/${BAD_ENV}\\.env`));

      // The errors are recorded: a fresh read of the run says the same.
      const stored = (await server.get(`/api/runs/${run.id}`)) as RunView;
      assert.equal(stored.status, 'failed');
      assert.equal(deploymentOf(stored, BAD_IMAGE).error?.code, 'PULL_FAILED');
      assert.equal(deploymentOf(stored, BAD_ENV).error?.code, 'ENV_FILE_MISSING');

      // The good change runs; the broken ones left nothing behind.
      const app = byService(APP, ['web', 'sleeper']);
      assert.notEqual(app['web']!.id, appContainers['web']!.id, 'web was recreated for the new greeting');
      assert.equal(printenv(app['web']!, 'GREETING'), `hello-again-${id}`);
      assert.equal(app['sleeper']!.id, appContainers['sleeper']!.id, 'sleeper does not use GREETING: kept');
      await waitForBody(webUrl, `hello-again-${id}\n`);
      assert.deepEqual(projectContainers('docker', BAD_IMAGE, env), []);
      assert.deepEqual(projectContainers('docker', BAD_ENV, env), []);

      const all = await services();
      assertDeployed(all, APP, commit);
      assertDeployed(all, NEUTRAL, firstCommit);
      for (const name of [BAD_IMAGE, BAD_ENV]) {
        const s = all.get(name)!;
        assert.equal(s.runtime, 'docker');
        assert.equal(s.deployedFingerprint, null, JSON.stringify(s));
        assert.equal(s.lastDeployment?.status, 'failed', JSON.stringify(s));
        assert.equal(s.lastDeployment?.runId, run.id);
      }
    });

    await step('4b. after the fix the next run deploys the once-failed services, and only them', async () => {
      repo.write(`services/${BAD_IMAGE}/docker-compose.yml`, singleCompose(IMAGE, undefined, 'bad-image-fixed'));
      const commit = repo.push('fix the image');
      repo.writeSecret(BAD_ENV_SECRET, `LATE_SECRET=late-${id}\n`);

      const run = await server.deployAll();
      assert.notEqual(run.id, failingRunId);
      assert.equal(run.status, 'succeeded', summary(run));
      assert.deepEqual(run.deployments.map((d) => d.service).sort(), [BAD_ENV, BAD_IMAGE].sort(), summary(run));
      for (const d of run.deployments) assert.equal(d.status, 'succeeded', summary(run));

      assert.equal(printenv(byService(BAD_IMAGE, ['main'])['main']!, 'ROLE'), 'bad-image-fixed');
      assert.equal(printenv(byService(BAD_ENV, ['main'])['main']!, 'LATE_SECRET'), `late-${id}`);

      const all = await services();
      assertDeployed(all, BAD_IMAGE, commit);
      assertDeployed(all, BAD_ENV, commit);
      assertDeployed(all, NEUTRAL, firstCommit);
    });

    await step('6. a changed bind-mounted config file recreates the container that mounts it', async () => {
      // Compose never looks at file contents, and a single-file bind mount keeps showing the old
      // file after git replaced it; the configuration hash label makes compose recreate it.
      const compose = `services:\n  main:\n    image: ${IMAGE}\n    init: true\n    command: ["sleep", "3600"]\n    volumes:\n      - ./app.conf:/etc/app.conf:ro\n  other:\n    image: ${IMAGE}\n    init: true\n    command: ["sleep", "3600"]\n`;
      repo.write(`services/${MOUNTED}/docker-compose.yml`, compose);
      repo.write(`services/${MOUNTED}/app.conf`, `setting=one-${id}\n`);
      repo.push('mounted config');
      assert.equal(deploymentOf(await server.deployAll(), MOUNTED).status, 'succeeded');
      const before = byService(MOUNTED, ['main', 'other']);
      assert.equal(sh('docker', ['exec', before['main']!.id, 'cat', '/etc/app.conf'], { env }), `setting=one-${id}`);

      repo.write(`services/${MOUNTED}/app.conf`, `setting=two-${id}\n`);
      repo.push('config file only');
      const run = await server.deployAll();
      const d = deploymentOf(run, MOUNTED);
      assert.equal(d.status, 'succeeded', summary(run));
      assert.equal(d.reason, 'changed: app.conf');
      const after = byService(MOUNTED, ['main', 'other']);
      assert.notEqual(after['main']!.id, before['main']!.id, 'the container mounting the file was recreated');
      assert.equal(sh('docker', ['exec', after['main']!.id, 'cat', '/etc/app.conf'], { env }), `setting=two-${id}`);
      assert.equal(after['other']!.id, before['other']!.id, 'the compose service that mounts nothing kept its container');
    });
  });
}
