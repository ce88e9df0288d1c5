// End to end: compose files as people write them, per compose tool (podman-compose 1.0.3 and 1.3
// on Podman, docker-compose 1.29 and Compose v2 on the private dockerd). Each construct either
// deploys, asserted on what runs, or fails with COMPOSE_UNSUPPORTED naming the construct and the
// tool version before anything is touched; and a HOST_PORT changed in podman-compose.env moves
// the published port with every tool.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import type { TestEngines } from './engines/engines.js';
import { EnvRepo, TestServer, containerEnv, deploymentOf, freePort, projectContainers, removeProject, requireEngines, sh, uid, waitForHttp } from './harness.js';

const IMAGE = 'localhost/busybox:test';
/** Compose v2, extracted side by side by scripts/install-system-deps.sh (the system's docker-compose stays 1.29). */
const COMPOSE_V2 = process.env['GDS_COMPOSE_V2'] ?? '/opt/gds-tools/compose-v2/usr/libexec/docker/cli-plugins/docker-compose';
/** podman-compose 1.3, a wrapper installed side by side by the same script. */
const PODMAN_COMPOSE_13 = process.env['GDS_PODMAN_COMPOSE_13'] ?? '/opt/gds-tools/podman-compose-1.3/bin/podman-compose';

type Construct = 'longenv' | 'included' | 'named' | 'profiled' | 'extended';

interface ToolCase {
  label: string;
  engine: 'podman' | 'docker';
  /** What the problem names. */
  says: string;
  refused: Construct[];
  serverEnv: (engines: TestEngines) => Record<string, string>;
  engineEnv: (engines: TestEngines) => Record<string, string>;
}

const TOOLS: ToolCase[] = [
  {
    label: 'podman-compose 1.0.3 on Podman',
    engine: 'podman',
    says: 'podman-compose 1.0.3',
    refused: ['longenv', 'included', 'profiled', 'extended'],
    serverEnv: () => ({ DEFAULT_RUNTIME: 'podman' }),
    engineEnv: () => ({}),
  },
  {
    label: 'docker-compose 1.29 on dockerd',
    engine: 'docker',
    says: 'docker-compose 1.29.2',
    refused: ['longenv', 'included', 'named'],
    serverEnv: (e) => ({ DEFAULT_RUNTIME: 'docker', DOCKER_COMPOSE: 'standalone', DOCKER_HOST: e.dockerHost }),
    engineEnv: (e) => ({ DOCKER_HOST: e.dockerHost }),
  },
  {
    label: 'Compose v2 on dockerd',
    engine: 'docker',
    says: 'docker-compose 2.',
    // The tool runs it; the server does not follow included files yet.
    refused: ['included'],
    serverEnv: (e) => ({ DEFAULT_RUNTIME: 'docker', DOCKER_COMPOSE: 'standalone', DOCKER_COMPOSE_COMMAND: COMPOSE_V2, DOCKER_HOST: e.dockerHost }),
    engineEnv: (e) => ({ DOCKER_HOST: e.dockerHost }),
  },
  {
    label: 'podman-compose 1.3 on Podman',
    engine: 'podman',
    says: 'podman-compose 1.3.',
    refused: ['included'],
    serverEnv: () => ({ DEFAULT_RUNTIME: 'podman', PODMAN_COMPOSE_COMMAND: PODMAN_COMPOSE_13 }),
    engineEnv: () => ({}),
  },
];

const sleeper = `    image: ${IMAGE}\n    init: true\n    command: ["sleep", "3600"]\n`;

/** The service directories: one per construct a tool may refuse, one with the constructs every tool runs, one whose port moves. */
type Dirs = Record<Construct | 'port' | 'common' | 'pinned', string>;

function writeServices(repo: EnvRepo, id: string, port: number, pinned: string): Dirs {
  const dirs: Dirs = { extended: `extended-${id}`, pinned: `pinned-${id}`, port: `port-${id}`, common: `common-${id}`, longenv: `longenv-${id}`, included: `included-${id}`, named: `named-${id}`, profiled: `profiled-${id}` };
  repo.write(`services/${dirs.port}/compose.yaml`, `services:
  web:
    image: ${IMAGE}
    init: true
    command: ["sh", "-c", "mkdir -p /www && echo port-\${HOST_PORT} > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: ["127.0.0.1:\${HOST_PORT}:8080"]
`);
  repo.write(`services/${dirs.port}/podman-compose.env`, `HOST_PORT=${port}\n`);
  repo.write(`services/${dirs.port}/.env`, `UNRELATED=1\n`);
  repo.write(`services/${dirs.extended}/compose.yaml`, `services:
  base:
${sleeper}    environment: { FROM_BASE: "base" }
  app:
    extends: base
    environment: { MINE: "app" }
`);
  repo.write(`services/${dirs.common}/base.yaml`, `services:\n  base:\n${sleeper}    environment: { FROM_BASE: "base" }\n`);
  repo.write(`services/${dirs.common}/compose.yaml`, `version: "3.8"
services:
  base:
${sleeper}    networks: [back]
  app:
    extends: { file: base.yaml, service: base }
    container_name: app-${dirs.common}
    env_file: ../../shared/outside.env
    environment: { FROM_DOTENV: "\${DOTVAR}" }
    volumes: ["data:/data"]
    networks: [front, back]
    depends_on:
      base: { condition: service_started }
volumes: { data: {} }
networks: { front: {}, back: {} }
`);
  repo.write(`services/${dirs.common}/.env`, 'DOTVAR=from-dotenv\n');
  repo.write('shared/outside.env', 'OUTSIDE=from-outside\n');
  repo.write(`services/${dirs.pinned}/compose.yaml`, `services:\n  app:\n    image: ${pinned}\n    init: true\n    command: ["sleep", "3600"]\n`);
  repo.write(`services/${dirs.longenv}/compose.yaml`, `services:
  app:
${sleeper}    env_file:
      - path: ./app.env
        required: true
      - path: ./missing.env
        required: false
`);
  repo.write(`services/${dirs.longenv}/app.env`, 'LONG=yes\n');
  repo.write(`services/${dirs.included}/compose.yaml`, `include: [more.yaml]\nservices:\n  app:\n${sleeper}`);
  repo.write(`services/${dirs.included}/more.yaml`, `services:\n  extra:\n${sleeper}`);
  repo.write(`services/${dirs.named}/compose.yaml`, `name: ignored-${id}\nservices:\n  app:\n${sleeper}`);
  repo.write(`services/${dirs.profiled}/compose.yaml`, `services:\n  app:\n${sleeper}  debug:\n${sleeper}    profiles: [debug]\n`);
  return dirs;
}

/** Pushes the test image to the open registry under a name of its own; returns `repo:tag@sha256:...` as people pin it. */
async function pushPinned(engines: TestEngines, id: string): Promise<string> {
  const reference = `${engines.registryOpen}/constructs-${id}/busybox:test`;
  sh('podman', ['push', '--tls-verify=false', IMAGE, reference]);
  const response = await fetch(`http://${engines.registryOpen}/v2/constructs-${id}/busybox/manifests/test`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
  });
  const digest = response.headers.get('docker-content-digest');
  assert.ok(digest?.startsWith('sha256:'), `registry digest of ${reference}`);
  return `${reference}@${digest}`;
}

const PROBLEM_NAMES: Record<Construct, string> = { extended: 'extends of a service in the same file', longenv: 'long-syntax env_file', included: 'include', named: 'top-level name', profiled: 'profiles' };

/** Whether something answers on the port (connection refused: nothing). */
async function answers(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
    return true;
  } catch {
    return false;
  }
}

for (const tool of TOOLS) {
  test(`compose constructs and podman-compose.env interpolation: ${tool.label}`, { timeout: 170_000 }, async (t) => {
    const engines = requireEngines(t);
    if (!engines) return;
    const engineEnv = tool.engineEnv(engines);
    const id = uid();
    const repo = new EnvRepo();
    const [firstPort, secondPort] = [await freePort(), await freePort()];
    const pinned = await pushPinned(engines, id);
    const dirs = writeServices(repo, id, firstPort, pinned);
    repo.push('services as people write them');
    sh('git', ['-C', repo.checkout, 'pull', '-q']);
    const server = await TestServer.start({ checkout: repo.checkout, env: tool.serverEnv(engines) });
    t.after(async () => {
      await server.close();
      server.dispose();
      for (const dir of Object.values(dirs)) removeProject(tool.engine, dir, engineEnv);
      removeProject(tool.engine, `ignored-${id}`, engineEnv);
      const cli = tool.engine === 'podman' ? 'podman' : 'docker';
      // podman: -f also removes what still uses the network (a pod's infra container that podman-compose 1.3 may leave).
      for (const net of ['front', 'back']) sh(cli, ['network', 'rm', cli === 'podman' ? '-f' : '--force', `${dirs.common}_${net}`], { env: engineEnv });
      sh(cli, ['volume', 'rm', '-f', `${dirs.common}_data`], { env: engineEnv });
      rmSync(repo.root, { recursive: true, force: true });
    });

    // The services view (what the plan and doctor read) names the problem before any run.
    const views = ((await server.get('/api/services')) as { services: Array<{ name: string; problem: { code: string; message: string } | null }> }).services;
    for (const construct of ['longenv', 'included', 'named', 'profiled', 'extended'] as const) {
      const view = views.find((v) => v.name === dirs[construct]);
      if (tool.refused.includes(construct)) {
        assert.equal(view?.problem?.code, 'COMPOSE_UNSUPPORTED', `${construct}: ${JSON.stringify(view)}`);
        assert.ok(view!.problem!.message.includes(tool.says) && view!.problem!.message.includes(PROBLEM_NAMES[construct]), view!.problem!.message);
      } else {
        assert.equal(view?.problem ?? null, null, `${construct} runs with ${tool.label}: ${JSON.stringify(view?.problem)}`);
      }
    }

    const run = await server.deployAll();
    for (const construct of ['longenv', 'included', 'named', 'profiled', 'extended'] as const) {
      const deployment = deploymentOf(run, dirs[construct]);
      const running = projectContainers(tool.engine, dirs[construct], engineEnv);
      if (tool.refused.includes(construct)) {
        assert.equal(deployment.error?.code, 'COMPOSE_UNSUPPORTED', `${construct}: ${deployment.status} ${deployment.output}`);
        assert.doesNotMatch(deployment.output + (deployment.error?.message ?? ''), /Traceback/);
        assert.deepEqual(running, [], `${construct}: nothing touched`);
      } else {
        assert.equal(deployment.status, 'succeeded', `${construct}: ${deployment.error?.message} ${deployment.output}`);
      }
    }
    const services = (name: string) => projectContainers(tool.engine, name, engineEnv).map((c) => `${c.service}:${c.state}`).sort();
    if (!tool.refused.includes('longenv')) {
      const [app] = projectContainers(tool.engine, dirs.longenv, engineEnv);
      assert.equal(containerEnv(tool.engine, app!.id, 'LONG', engineEnv), 'yes', 'the required env file; the missing optional one skipped');
    }
    if (!tool.refused.includes('named')) assert.deepEqual(services(dirs.named), ['app:running'], 'the server\'s project name (-p) wins over name:');
    if (!tool.refused.includes('extended')) {
      const extended = projectContainers(tool.engine, dirs.extended, engineEnv);
      const base = extended.find((c) => c.service === 'base')!;
      const app = extended.find((c) => c.service === 'app')!;
      assert.equal(containerEnv(tool.engine, app.id, 'FROM_BASE', engineEnv), 'base');
      assert.equal(containerEnv(tool.engine, app.id, 'MINE', engineEnv), 'app');
      assert.throws(() => containerEnv(tool.engine, base.id, 'MINE', engineEnv), 'the extended service keeps its own environment');
    }
    if (!tool.refused.includes('profiled')) assert.deepEqual(services(dirs.profiled), ['app:running'], 'a plain up starts no profiled service');

    // A digest-pinned reference (repo:tag@sha256:...) is pulled and run by that digest.
    assert.equal(deploymentOf(run, dirs.pinned).status, 'succeeded', `${deploymentOf(run, dirs.pinned).error?.message} ${deploymentOf(run, dirs.pinned).output}`);
    assert.deepEqual(services(dirs.pinned), ['app:running']);
    const pinnedImage = projectContainers(tool.engine, dirs.pinned, engineEnv)[0]!.imageId;
    const repoDigests = sh(tool.engine, ['image', 'inspect', '-f', '{{json .RepoDigests}}', pinnedImage], { env: engineEnv });
    assert.ok(repoDigests.includes(pinned.split('@')[1]!), `${repoDigests} holds the pinned digest`);

    // The constructs every tool runs: extends, container_name, env_file outside the directory, .env, volumes, networks.
    assert.equal(deploymentOf(run, dirs.common).status, 'succeeded', deploymentOf(run, dirs.common).output);
    const app = projectContainers(tool.engine, dirs.common, engineEnv).find((c) => c.service === 'app');
    assert.ok(app, 'app runs');
    assert.equal(app.name.replace(/^\//, ''), `app-${dirs.common}`);
    assert.equal(containerEnv(tool.engine, app.id, 'FROM_BASE', engineEnv), 'base');
    assert.equal(containerEnv(tool.engine, app.id, 'OUTSIDE', engineEnv), 'from-outside');
    assert.equal(containerEnv(tool.engine, app.id, 'FROM_DOTENV', engineEnv), 'from-dotenv');
    const cli = tool.engine === 'podman' ? 'podman' : 'docker';
    const networks = sh(cli, ['inspect', '-f', '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}', app.id], { env: engineEnv }).split(/\s+/).filter(Boolean).sort();
    assert.deepEqual(networks, [`${dirs.common}_back`, `${dirs.common}_front`]);
    assert.match(sh(cli, ['inspect', '-f', '{{range .Mounts}}{{.Name}} {{end}}', app.id], { env: engineEnv }), new RegExp(`${dirs.common}_data`));

    // podman-compose.env takes part in interpolation: the published port moves.
    assert.equal(deploymentOf(run, dirs.port).status, 'succeeded', deploymentOf(run, dirs.port).output);
    assert.equal((await waitForHttp(`http://127.0.0.1:${firstPort}/`)).trim(), `port-${firstPort}`);
    const [before] = projectContainers(tool.engine, dirs.port, engineEnv);
    repo.write(`services/${dirs.port}/podman-compose.env`, `HOST_PORT=${secondPort}\n`);
    repo.push('move the port');
    const moved = await server.deployAll();
    const deployment = deploymentOf(moved, dirs.port);
    assert.equal(deployment.status, 'succeeded', `${deployment.error?.message} ${deployment.output}`);
    assert.match(deployment.reason, /podman-compose\.env/);
    const [after] = projectContainers(tool.engine, dirs.port, engineEnv);
    assert.notEqual(after!.id, before!.id, 'recreated');
    assert.equal((await waitForHttp(`http://127.0.0.1:${secondPort}/`)).trim(), `port-${secondPort}`);
    assert.equal(await answers(firstPort), false, 'the old port is closed');
  });
}
