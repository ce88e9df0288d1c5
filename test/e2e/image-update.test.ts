// End to end: POST /redeploy-and-update/:service, a registry's "package published" event.
// Two different images are pushed under the same tag to the htpasswd registry; the real server
// pulls them with the credentials it is given and recreates only the container whose image
// changed, on Podman (podman-compose) and on the private dockerd (docker-compose).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { loadTestEngines, type TestEngines } from './engines/engines.js';
import { EnvRepo, projectContainers, removeProject, requireEngines, sh, TestServer, uid, type Container, type RunView } from './harness.js';

type Engine = 'podman' | 'docker';

const RUNTIMES: ReadonlyArray<{ engine: Engine; composeFile: string }> = [
  { engine: 'podman', composeFile: 'podman-compose.yml' },
  { engine: 'docker', composeFile: 'docker-compose.yml' },
];

/** Environment that points a CLI at the engine a runtime uses (podman: local storage). */
function engineEnv(engines: TestEngines, engine: Engine): Record<string, string> {
  return engine === 'docker' ? { DOCKER_HOST: engines.dockerHost } : {};
}

/** A standard auth file for the htpasswd registry. */
function authFile(engines: TestEngines, password = engines.registryAuthPassword): string {
  const auth = Buffer.from(`${engines.registryAuthUser}:${password}`).toString('base64');
  return JSON.stringify({ auths: { [engines.registryAuth]: { auth } } });
}

/**
 * Builds a small image from the busybox test image whose /version says `version`, and pushes it
 * to `reference` in the auth registry. Returns the image id the registry now serves for the tag
 * (the manifest's config digest), read from the registry itself.
 */
async function buildAndPush(engines: TestEngines, reference: string, localTag: string, version: string): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gds-e2e-image-'));
  try {
    writeFileSync(path.join(dir, 'Containerfile'), `FROM ${engines.busyboxImage}\nRUN echo ${version} > /version\n`);
    sh('podman', ['build', '--quiet', '--tag', localTag, dir]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  sh('podman', ['push', '--quiet', '--authfile', engines.registryAuthAuthfile, localTag, `docker://${reference}`]);
  return registryImageId(engines, reference);
}

/** The image id (config digest, without `sha256:`) the registry serves for a reference. */
async function registryImageId(engines: TestEngines, reference: string): Promise<string> {
  const rest = reference.slice(engines.registryAuth.length + 1);
  const [repository, tag] = rest.split(':') as [string, string];
  const response = await fetch(`http://${engines.registryAuth}/v2/${repository}/manifests/${tag}`, {
    headers: {
      authorization: `Basic ${Buffer.from(`${engines.registryAuthUser}:${engines.registryAuthPassword}`).toString('base64')}`,
      accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
    },
  });
  assert.equal(response.status, 200, `registry manifest of ${reference}`);
  const manifest = (await response.json()) as { config: { digest: string } };
  return manifest.config.digest.replace(/^sha256:/, '');
}

/** The local image id of a reference in an engine, or undefined when the engine does not have it. */
function localImageId(engine: Engine, reference: string, env: Record<string, string>): string | undefined {
  try {
    return sh(engine, ['image', 'inspect', '--format', '{{.Id}}', reference], { env }).replace(/^sha256:/, '');
  } catch {
    return undefined;
  }
}

function composeFile(appImage: string, sideImage: string): string {
  return [
    'services:',
    '  app:',
    `    image: ${appImage}`,
    '    command: ["sleep", "3600"]',
    '    init: true',
    '  side:',
    `    image: ${sideImage}`,
    '    command: ["sleep", "3600"]',
    '    init: true',
    '',
  ].join('\n');
}

/** When a container's current process started: unchanged means it was neither recreated nor restarted. */
function startedAt(engine: Engine, containerId: string, env: Record<string, string>): string {
  return sh(engine, ['container', 'inspect', '--format', '{{.State.StartedAt}}', containerId], { env });
}

function byService(containers: Container[]): Record<string, Container> {
  const map: Record<string, Container> = {};
  for (const c of containers) {
    assert.equal(map[c.service], undefined, `one container per compose service, got two for ${c.service}`);
    map[c.service] = c;
  }
  return map;
}

/** How many runs the server has recorded, read from its SQLite file (not through its API). */
function countRuns(server: TestServer): number {
  const db = new Database(path.join(server.dataDir, 'state.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM runs').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function onlyDeployment(run: RunView, service: string): RunView['deployments'][number] {
  const mine = run.deployments.filter((d) => d.service === service);
  assert.equal(mine.length, 1, `one deployment of ${service} in run ${run.id}: ${JSON.stringify(run.deployments.map((d) => d.service))}`);
  return mine[0]!;
}

for (const { engine, composeFile: composeFileName } of RUNTIMES) {
  describe(`redeploy-and-update on the ${engine} runtime (${composeFileName}, htpasswd registry)`, () => {
    const id = uid();
    const service = `imgupd-${engine}-${id}`;
    const project = service;
    const built = `localhost/gds-e2e-imgupd-${engine}-${id}`;
    let engines: TestEngines;
    let env: Record<string, string>;
    let reference: string;
    let repo: EnvRepo | undefined;
    let server: TestServer | undefined;
    let v1 = '';
    let v2 = '';
    let v3 = '';
    let busyboxId = '';

    const containers = () => byService(projectContainers(engine, project, env));
    const catVersion = (containerId: string) => sh(engine, ['exec', containerId, 'cat', '/version'], { env });
    const publish = (body: string, contentType?: string) =>
      server!.post(`/redeploy-and-update/${service}`, body, contentType ? { contentType } : {});

    before(async () => {
      const loaded = loadTestEngines();
      if (!loaded) return; // each test then skips (locally) or fails (CI) through requireEngines
      engines = loaded;
      env = engineEnv(engines, engine);
      reference = `${engines.registryAuth}/gds/imgupd-${engine}-${id}:latest`;
      busyboxId = localImageId(engine, engines.busyboxImage, env)!;
      assert.ok(busyboxId, `${engines.busyboxImage} is in the ${engine} engine`);
      v1 = await buildAndPush(engines, reference, `${built}:v1`, 'v1');
      repo = new EnvRepo();
      repo.write(`services/${service}/${composeFileName}`, composeFile(reference, engines.busyboxImage));
      repo.push(`add ${service}`);
      server = await TestServer.start({ checkout: repo.checkout, env });
    });

    after(async () => {
      await server?.close();
      server?.dispose();
      repo?.dispose();
      if (!engines) return;
      removeProject(engine, project, env);
      // The pulled images (the tag moved, so older ones are untagged) and the local builds.
      for (const [cli, image, cliEnv] of [
        [engine, reference, env],
        ...[v1, v2, v3].filter(Boolean).map((imageId) => [engine, imageId, env] as const),
        ['podman', `${built}:v1`, {}],
        ['podman', `${built}:v2`, {}],
        ['podman', `${built}:v3`, {}],
      ] as const) {
        try {
          sh(cli, ['rmi', '--force', image], { env: cliEnv });
        } catch {
          // Absent already.
        }
      }
    });

    test('without registry credentials the first deploy fails with PULL_FAILED and starts nothing', async (t) => {
      if (!requireEngines(t)) return;
      assert.equal(localImageId(engine, reference, env), undefined, 'the image is not in the engine yet, so a deploy must pull it');
      const run = await server!.deployAll();
      assert.equal(run.status, 'failed');
      const deployment = onlyDeployment(run, service);
      assert.equal(deployment.action, 'deploy');
      assert.equal(deployment.status, 'failed');
      assert.equal(deployment.error?.code, 'PULL_FAILED', JSON.stringify(deployment));
      assert.deepEqual(projectContainers(engine, project, env), []);
      assert.equal(localImageId(engine, reference, env), undefined, 'nothing was pulled without credentials');
    });

    test('with secrets/registry-auth.json the deploy pulls v1 from the auth registry and runs it', async (t) => {
      if (!requireEngines(t)) return;
      repo!.writeSecret('secrets/registry-auth.json', authFile(engines));
      const run = await server!.deployAll();
      const deployment = onlyDeployment(run, service);
      assert.equal(deployment.status, 'succeeded', JSON.stringify(deployment));
      assert.equal(deployment.action, 'deploy');
      assert.equal(localImageId(engine, reference, env), v1, 'the engine pulled the registry image');
      const now = containers();
      assert.equal(now['app']?.state, 'running');
      assert.equal(now['app']!.imageId, v1);
      assert.equal(catVersion(now['app']!.id), 'v1');
      assert.equal(now['side']?.state, 'running');
      assert.equal(now['side']!.imageId, busyboxId);
      assert.deepEqual(deployment.imagesAfter, { app: v1, side: busyboxId });
    });

    test('a published event pulls v2 under the same tag and recreates only the app container', async (t) => {
      if (!requireEngines(t)) return;
      v2 = await buildAndPush(engines, reference, `${built}:v2`, 'v2');
      assert.notEqual(v2, v1, 'the two builds are different images');
      const before = containers();
      const sideStarted = startedAt(engine, before['side']!.id, env);

      const response = await publish(JSON.stringify({ action: 'published', package: { name: service } }), 'application/json');
      assert.equal(response.status, 202, JSON.stringify(response.json));
      assert.equal(typeof response.json.runId, 'string');
      const run = await server!.waitForRun(response.json.runId);
      assert.equal(run.trigger, 'redeploy-and-update');
      assert.equal(run.status, 'succeeded', JSON.stringify(run));
      const deployment = onlyDeployment(run, service);
      assert.equal(deployment.action, 'update');
      assert.equal(deployment.status, 'succeeded');
      assert.deepEqual(deployment.imagesBefore, { app: v1, side: busyboxId });
      assert.deepEqual(deployment.imagesAfter, { app: v2, side: busyboxId });
      assert.match(deployment.reason, /recreated: app$/);

      assert.equal(localImageId(engine, reference, env), v2, 'the engine pulled the new image for the tag');
      const now = containers();
      assert.notEqual(now['app']!.id, before['app']!.id, 'the app container was recreated');
      assert.equal(now['app']!.state, 'running');
      assert.equal(now['app']!.imageId, v2);
      assert.equal(catVersion(now['app']!.id), 'v2');
      assert.equal(now['side']!.id, before['side']!.id, 'the container whose image did not change was kept');
      assert.equal(now['side']!.state, 'running');
      assert.equal(startedAt(engine, now['side']!.id, env), sideStarted, 'and was not restarted');
    });

    test('an event with another action is answered 200 with a note and changes nothing', async (t) => {
      if (!requireEngines(t)) return;
      const runsBefore = countRuns(server!);
      const before = containers();
      const response = await publish(JSON.stringify({ action: 'updated' }), 'application/json');
      assert.equal(response.status, 200, JSON.stringify(response.json));
      assert.equal(response.json.status, 'ignored');
      assert.match(response.json.note, /"updated"/);
      assert.equal(response.json.runId, undefined);
      assert.equal(countRuns(server!), runsBefore, 'no run was recorded');
      assert.deepEqual(containers(), before);
    });

    test('an unknown service is answered 404 and records no run', async (t) => {
      if (!requireEngines(t)) return;
      const runsBefore = countRuns(server!);
      const response = await server!.post(`/redeploy-and-update/no-such-${id}`, JSON.stringify({ action: 'published' }), { contentType: 'application/json' });
      assert.equal(response.status, 404, JSON.stringify(response.json));
      assert.equal(response.json.error.code, 'UNKNOWN_SERVICE');
      assert.equal(countRuns(server!), runsBefore);
    });

    test('an empty body triggers an update; with no new image nothing is recreated', async (t) => {
      if (!requireEngines(t)) return;
      const before = containers();
      const started = [startedAt(engine, before['app']!.id, env), startedAt(engine, before['side']!.id, env)];
      const response = await publish('');
      assert.equal(response.status, 202, JSON.stringify(response.json));
      const run = await server!.waitForRun(response.json.runId);
      assert.equal(run.status, 'succeeded', JSON.stringify(run));
      const deployment = onlyDeployment(run, service);
      assert.equal(deployment.action, 'update');
      assert.equal(deployment.status, 'succeeded');
      assert.deepEqual(deployment.imagesBefore, { app: v2, side: busyboxId });
      assert.deepEqual(deployment.imagesAfter, deployment.imagesBefore);
      assert.equal(deployment.reason, 'image published; no image changed');
      const now = containers();
      assert.equal(now['app']!.id, before['app']!.id);
      assert.equal(now['side']!.id, before['side']!.id);
      assert.equal(now['app']!.state, 'running');
      assert.equal(now['side']!.state, 'running');
      assert.deepEqual([startedAt(engine, now['app']!.id, env), startedAt(engine, now['side']!.id, env)], started, 'neither container was restarted');
    });

    test('a failed pull fails the update with PULL_FAILED and leaves the running containers alone', async (t) => {
      if (!requireEngines(t)) return;
      // A newer image is waiting in the registry, so only the wrong credentials stop the update.
      v3 = await buildAndPush(engines, reference, `${built}:v3`, 'v3');
      assert.notEqual(v3, v2);
      repo!.writeSecret('secrets/registry-auth.json', authFile(engines, 'wrong-password'));
      const before = containers();

      const response = await publish(JSON.stringify({ action: 'published' }), 'application/json');
      assert.equal(response.status, 202, JSON.stringify(response.json));
      const run = await server!.waitForRun(response.json.runId);
      assert.equal(run.status, 'failed');
      const deployment = onlyDeployment(run, service);
      assert.equal(deployment.action, 'update');
      assert.equal(deployment.status, 'failed');
      assert.equal(deployment.error?.code, 'PULL_FAILED', JSON.stringify(deployment));

      const now = containers();
      assert.deepEqual(now, before, 'same containers, same state, same images');
      assert.equal(now['app']!.state, 'running');
      assert.equal(catVersion(now['app']!.id), 'v2');
      assert.equal(localImageId(engine, reference, env), v2, 'the tag still points at the image that runs');
    });
  });
}

describe('REGISTRY_AUTH_FILE as the credential source (podman runtime)', () => {
  const id = uid();
  const service = `imgupd-authfile-${id}`;
  const built = `localhost/gds-e2e-imgupd-authfile-${id}`;
  let engines: TestEngines | undefined;
  let reference = '';
  let repo: EnvRepo | undefined;
  let server: TestServer | undefined;

  after(async () => {
    await server?.close();
    server?.dispose();
    repo?.dispose();
    if (!engines) return;
    removeProject('podman', service);
    for (const image of [reference, `${built}:v1`, `${built}:v2`]) {
      try {
        sh('podman', ['rmi', '--force', image]);
      } catch {
        // Absent already.
      }
    }
  });

  test('deploys and updates from the auth registry with no secrets file in the checkout', async (t) => {
    engines = requireEngines(t);
    if (!engines) return;
    reference = `${engines.registryAuth}/gds/imgupd-authfile-${id}:latest`;
    const v1 = await buildAndPush(engines, reference, `${built}:v1`, 'v1');
    repo = new EnvRepo();
    repo.write(`services/${service}/podman-compose.yml`, composeFile(reference, engines.busyboxImage));
    repo.push(`add ${service}`);
    server = await TestServer.start({ checkout: repo.checkout, env: { REGISTRY_AUTH_FILE: engines.registryAuthAuthfile } });

    assert.equal(localImageId('podman', reference, {}), undefined);
    const deployRun = await server.deployAll();
    assert.equal(onlyDeployment(deployRun, service).status, 'succeeded', JSON.stringify(deployRun));
    const first = byService(projectContainers('podman', service));
    assert.equal(first['app']!.imageId, v1);
    assert.equal(sh('podman', ['exec', first['app']!.id, 'cat', '/version']), 'v1');

    const v2 = await buildAndPush(engines, reference, `${built}:v2`, 'v2');
    const response = await server.post(`/redeploy-and-update/${service}`, JSON.stringify({ action: 'published' }), { contentType: 'application/json' });
    assert.equal(response.status, 202);
    const updateRun = await server.waitForRun(response.json.runId);
    const update = onlyDeployment(updateRun, service);
    assert.equal(update.status, 'succeeded', JSON.stringify(update));
    assert.deepEqual(update.imagesAfter?.['app'], v2);
    const second = byService(projectContainers('podman', service));
    assert.equal(second['app']!.imageId, v2);
    assert.equal(sh('podman', ['exec', second['app']!.id, 'cat', '/version']), 'v2');
    assert.equal(second['side']!.id, first['side']!.id);
  });
});
