// End to end on real Podman: a file a container writes through a read-write bind mount (Traefik's
// `acme.json`, an SQLite file), untracked in git, is data, not configuration. The container
// writes it; a push that changes another service does not redeploy this one (the plan says
// `unchanged`, the container id stays), and a redeploy on demand keeps the container (the
// configuration hash ignores the file too). A read-only mount of an untracked file still counts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { E2E_API_TOKEN, EnvRepo, TestServer, deploymentOf, projectContainers, removeProject, requireEngines, stepper, summary, uid, type RunView } from './harness.js';

const id = uid();
const PROXY = `proxy-${id}`;
const OTHER = `other-${id}`;

/** The file digests of a service's deployed state, read from the server's SQLite file. */
function deployedFiles(server: TestServer, service: string): Record<string, string> {
  const db = new Database(path.join(server.dataDir, 'state.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT files FROM deployed_state WHERE service = ?').get(service) as { files: string } | undefined;
    assert.ok(row, `${service} has a deployed state`);
    return JSON.parse(row.files) as Record<string, string>;
  } finally {
    db.close();
  }
}

function proxyCompose(image: string): string {
  return `services:
  proxy:
    image: ${image}
    init: true
    command: ["sh", "-c", "while true; do date >> /acme.json; sleep 1; done"]
    volumes:
      - ./acme.json:/acme.json
      - ./host.toml:/etc/host.toml:ro
`;
}

function otherCompose(image: string, greeting: string): string {
  return `services:
  other:
    image: ${image}
    init: true
    command: ["sleep", "3600"]
    environment:
      GREETING: ${greeting}
`;
}

test('data files: an rw-mounted untracked acme.json the container writes never redeploys its service', { timeout: 120_000 }, async (t) => {
  const engines = requireEngines(t);
  if (!engines) return;
  const repo = new EnvRepo();
  let server: TestServer | undefined;
  t.after(async () => {
    await server?.close();
    for (const project of [PROXY, OTHER]) removeProject('podman', project);
    server?.dispose();
    repo.dispose();
  });
  const step = stepper(t);
  const acme = path.join(repo.checkout, 'services', PROXY, 'acme.json');
  const proxyContainer = () => {
    const containers = projectContainers('podman', PROXY);
    assert.equal(containers.length, 1, JSON.stringify(containers));
    return containers[0]!;
  };
  const plan = async (): Promise<Array<{ service: string; decision: string; reason: string }>> => {
    const response = await fetch(`${server!.url}/api/plan`, { method: 'POST', headers: { authorization: `Bearer ${E2E_API_TOKEN}` } });
    assert.equal(response.status, 200);
    return ((await response.json()) as { services: Array<{ service: string; decision: string; reason: string }> }).services;
  };
  let firstId = '';

  await step('1. both services deploy; the proxy container writes into acme.json', async () => {
    repo.write(`services/${PROXY}/podman-compose.yml`, proxyCompose(engines.busyboxImage));
    repo.write(`services/${OTHER}/podman-compose.yml`, otherCompose(engines.busyboxImage, 'one'));
    repo.push('a proxy with its certificate store, and another service');
    // Placed on the host by the operator, never committed (like Traefik's acme.json).
    repo.writeSecret(`services/${PROXY}/acme.json`, '');
    repo.writeSecret(`services/${PROXY}/host.toml`, 'host = "a"\n');
    server = await TestServer.start({ checkout: repo.checkout });
    const run = await server.deployAll();
    assert.equal(run.status, 'succeeded', summary(run));
    firstId = proxyContainer().id;
    const deadline = Date.now() + 10_000;
    while (readFileSync(acme, 'utf8').split('\n').filter(Boolean).length < 2) {
      assert.ok(Date.now() < deadline, 'the container writes acme.json');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // What the server recorded as the proxy's inputs: host.toml (read-only) is one, acme.json is not.
    assert.deepEqual(Object.keys(deployedFiles(server, PROXY)).sort(), ['host.toml', 'podman-compose.yml']);
  });

  await step('2. a push changing only the other service: the plan says unchanged, the proxy is not touched', async () => {
    repo.write(`services/${OTHER}/podman-compose.yml`, otherCompose(engines.busyboxImage, 'two'));
    repo.push('the other service changes');
    const decisions = await plan();
    assert.equal(decisions.find((d) => d.service === PROXY)?.decision, 'unchanged', JSON.stringify(decisions));
    assert.equal(decisions.find((d) => d.service === OTHER)?.decision, 'deploy', JSON.stringify(decisions));
    const run: RunView = await server!.deployAll();
    assert.equal(run.status, 'succeeded', summary(run));
    assert.deepEqual(run.deployments.map((d) => d.service), [OTHER], summary(run));
    assert.equal(proxyContainer().id, firstId, 'the proxy container was neither recreated nor replaced');
    assert.equal(proxyContainer().state, 'running');
  });

  await step('3. a redeploy on demand keeps the container: the configuration hash ignores acme.json too', async () => {
    const response = await fetch(`${server!.url}/api/services/${PROXY}/deploy`, { method: 'POST', headers: { authorization: `Bearer ${E2E_API_TOKEN}` } });
    assert.equal(response.status, 202);
    const run = await server!.waitForRun(((await response.json()) as { runId: string }).runId);
    assert.equal(run.status, 'succeeded', summary(run));
    assert.equal(deploymentOf(run, PROXY).status, 'succeeded');
    assert.equal(proxyContainer().id, firstId, 'same container after the redeploy');
  });

  await step('4. a read-only mounted untracked file still counts: changing it redeploys', async () => {
    repo.writeSecret(`services/${PROXY}/host.toml`, 'host = "b"\n');
    const run = await server!.deployAll();
    assert.equal(run.status, 'succeeded', summary(run));
    const deployment = deploymentOf(run, PROXY);
    assert.match(deployment.reason, /changed: host\.toml$/, summary(run));
    assert.notEqual(proxyContainer().id, firstId, 'the container that mounts the changed file was recreated');
  });
});
