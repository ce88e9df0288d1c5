// End to end, on both compose tool generations: Compose v2 through the `docker compose` plugin
// and docker-compose 1.29 on the private dockerd; podman-compose 1.3.0 and 1.0.3 on Podman. Per
// tool: deploy a project of two compose services, change one, redeploy, and check on the engine
// that only the changed container was recreated, with the new value, while the plan and doctor
// name the tool and version that ran, and the deployment's output reads as a success.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runDoctor } from '../../src/cli/doctor/index.js';
import { E2E_API_TOKEN, EnvRepo, TestServer, containerEnv, deploymentOf, projectContainers, removeProject, requireEngines, requireToolGeneration, stepper, summary, uid, type Container, type ToolGeneration } from './harness.js';

const IMAGE = 'localhost/busybox:test';

interface Case {
  title: string;
  generation: ToolGeneration;
  runtime: 'docker' | 'podman';
  docker?: 'plugin' | 'standalone';
  /** What describeTool says, in the plan and the deployment output. */
  tool: string;
  /** The doctor check and what its detail starts with. */
  doctor: { check: string; detail: string };
  /** The long-syntax env_file (`required: false` with the file missing): only the current tools read it. */
  longEnvFile: boolean;
}

const CASES: Case[] = [
  { title: 'Compose v2 (docker compose plugin) on dockerd', generation: 'current', runtime: 'docker', docker: 'plugin', tool: 'docker compose 2.26.1-4', doctor: { check: 'tool:docker-compose', detail: 'docker compose 2.26.1-4 (plugin)' }, longEnvFile: true },
  { title: 'docker-compose 1.29 on dockerd', generation: 'debian12', runtime: 'docker', tool: 'docker-compose 1.29.2', doctor: { check: 'tool:docker-compose', detail: 'docker-compose 1.29.2 (standalone)' }, longEnvFile: false },
  { title: 'podman-compose 1.3.0 on Podman', generation: 'current', runtime: 'podman', tool: 'podman-compose 1.3.0', doctor: { check: 'tool:podman-compose', detail: 'podman-compose 1.3.0 at ' }, longEnvFile: true },
  { title: 'podman-compose 1.0.3 on Podman', generation: 'debian12', runtime: 'podman', tool: 'podman-compose 1.0.3', doctor: { check: 'tool:podman-compose', detail: 'podman-compose 1.0.3' }, longEnvFile: false },
];

function compose(release: string, longEnvFile: boolean): string {
  const envFile = longEnvFile ? '    env_file:\n      - path: web.env\n        required: true\n      - path: absent.env\n        required: false\n' : '    env_file: web.env\n';
  return `services:
  web:
    image: ${IMAGE}
    init: true
    command: ["sleep", "3600"]
    environment:
      GREETING: \${GREETING}
      RELEASE: "${release}"
${envFile}  sleeper:
    image: ${IMAGE}
    init: true
    command: ["sleep", "3600"]
`;
}

for (const c of CASES) {
  test(`tool generation: ${c.title}`, { timeout: 120_000 }, async (t) => {
    const engines = requireEngines(t);
    if (!engines) return;
    const tools = requireToolGeneration(t, c.generation, c.docker);
    if (!tools) return;
    const engineEnv: Record<string, string> = c.runtime === 'docker' ? { DOCKER_HOST: engines.dockerHost } : {};
    const id = uid();
    const APP = `tg-${c.runtime}-${c.generation}-${id}`;
    const file = c.runtime === 'docker' ? 'docker-compose.yml' : 'podman-compose.yml';
    const repo = new EnvRepo();
    const server = await TestServer.start({ checkout: repo.checkout, env: { ...tools.env, ...engineEnv } });
    t.after(async () => {
      await server.close();
      removeProject(c.runtime, APP, engineEnv);
      server.dispose();
      repo.dispose();
      tools.dispose();
    });
    const containers = (): Record<string, Container> => {
      const list = projectContainers(c.runtime, APP, engineEnv);
      assert.deepEqual(list.map((x) => x.service).sort(), ['sleeper', 'web'], JSON.stringify(list));
      for (const x of list) assert.equal(x.state, 'running', `${x.name} is ${x.state}`);
      return Object.fromEntries(list.map((x) => [x.service, x]));
    };
    const printenv = (x: Container, name: string) => containerEnv(c.runtime, x.id, name, engineEnv);
    const plan = async () => {
      const response = await fetch(`${server.url}/api/plan`, { method: 'POST', headers: { authorization: `Bearer ${E2E_API_TOKEN}` } });
      assert.equal(response.status, 200);
      return (await response.json()) as { services: Array<{ service: string; decision: string; tool?: string }> };
    };
    const step = stepper(t);
    let first: Record<string, Container> = {};

    await step('doctor names the tool and version the server will run', async () => {
      const checks = await runDoctor({ env: { ...process.env, ...tools.env, ...engineEnv, ENV_REPO_PATH: repo.checkout, WEBHOOK_SECRET: 'e2e-webhook-secret-0123456789', DEFAULT_RUNTIME: c.runtime }, timeoutMs: 30_000, uid: 0 });
      const check = checks.find((x) => x.name === c.doctor.check);
      assert.equal(check?.level, 'pass', JSON.stringify(check));
      assert.ok(check.detail.startsWith(c.doctor.detail), JSON.stringify(check));
    });

    await step('first deploy: both containers run, the env values reached them', async () => {
      repo.write(`services/${APP}/${file}`, compose('r1', c.longEnvFile));
      repo.write(`services/${APP}/.env`, `GREETING=hello-${id}\n`);
      repo.write(`services/${APP}/web.env`, `FROM_FILE=file-${id}\n`);
      repo.push('first');
      const planned = (await plan()).services.find((s) => s.service === APP);
      assert.equal(planned?.decision, 'deploy', JSON.stringify(planned));
      assert.equal(planned.tool, c.tool, JSON.stringify(planned));
      const run = await server.deployAll();
      assert.equal(run.status, 'succeeded', summary(run));
      const deployment = deploymentOf(run, APP);
      assert.ok(deployment.output.includes(`# ${c.tool}\n`), deployment.output);
      first = containers();
      assert.equal(printenv(first['web']!, 'GREETING'), `hello-${id}`);
      assert.equal(printenv(first['web']!, 'FROM_FILE'), `file-${id}`);
    });

    await step('a change to web recreates web only, with the new value; the output reads as a success', async () => {
      repo.write(`services/${APP}/${file}`, compose('r2', c.longEnvFile));
      repo.write(`services/${APP}/.env`, `GREETING=changed-${id}\n`);
      repo.push('change web');
      const run = await server.deployAll();
      assert.equal(run.status, 'succeeded', summary(run));
      const after = containers();
      assert.notEqual(after['web']!.id, first['web']!.id, 'web was recreated');
      assert.equal(after['sleeper']!.id, first['sleeper']!.id, 'sleeper was left running');
      assert.equal(printenv(after['web']!, 'GREETING'), `changed-${id}`);
      assert.equal(printenv(after['web']!, 'RELEASE'), 'r2');
      const output = deploymentOf(run, APP).output;
      // podman-compose's "already in use" / "no such container" lines for what the server kept or removed are folded.
      assert.ok(!/^Error: .*(already in use|no such container)/m.test(output), output);
      if (c.tool === 'podman-compose 1.3.0') assert.match(output, /\(podman-compose 1\.3\.0: 2 "no such container" lines for containers the server had already removed folded: \S*web\S*\)/);
      if (c.tool === 'podman-compose 1.0.3') {
        assert.match(output, /\(podman-compose 1\.0\.3: 1 "already in use" lines for kept containers folded: \S*sleeper\S*\)/);
        assert.ok(!output.includes('exit code: 125'), output);
      }
    });
  });
}
