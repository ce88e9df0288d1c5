// End to end on real engines: `deploy <service> --force` (API `force: true`) recreates every
// container of a service whose inputs did not change, with podman-compose on Podman and with
// the docker runtime on the private dockerd; and the server's own service, whose compose file is
// in the repository, is not deployed by a server that runs on the host (SELF_DEPLOY unset).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { E2E_API_TOKEN, EnvRepo, TestServer, deploymentOf, projectContainers, removeProject, requireEngines, stepper, summary, uid } from './harness.js';

const IMAGE = 'localhost/busybox:test';

const compose = (role: string) => `services:
  main:
    image: ${IMAGE}
    init: true
    command: ["sleep", "3600"]
    environment:
      ROLE: "${role}"
  side:
    image: ${IMAGE}
    init: true
    command: ["sleep", "3600"]
`;

test('forced redeploy and the own service on the host', { timeout: 120_000 }, async (t) => {
  const engines = requireEngines(t);
  if (!engines) return;
  const id = uid();
  const POD = `fp-pod-${id}`;
  const DK = `fp-dk-${id}`;
  const SELF = `fp-self-${id}`;
  const dockerEnv = { DOCKER_HOST: engines.dockerHost };
  const repo = new EnvRepo();
  repo.write(`services/${POD}/podman-compose.yml`, compose('pod'));
  repo.write(`services/${DK}/docker-compose.yml`, compose('dk'));
  repo.write(`services/${SELF}/podman-compose.yml`, compose('self'));
  const commit = repo.push('two services and the server itself');
  const server = await TestServer.start({ checkout: repo.checkout, env: { ...dockerEnv, DEPLOY_SERVER_NAME: SELF } });
  t.after(async () => {
    await server.close();
    removeProject('podman', POD);
    removeProject('podman', SELF);
    removeProject('docker', DK, dockerEnv);
    server.dispose();
    repo.dispose();
  });
  const api = async (route: string, body?: unknown) => {
    const response = await fetch(`${server.url}${route}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${E2E_API_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, json: (await response.json()) as any };
  };
  const ids = (engine: 'podman' | 'docker', project: string) => {
    const containers = projectContainers(engine, project, engine === 'docker' ? dockerEnv : {});
    assert.deepEqual(containers.map((c) => c.service).sort(), ['main', 'side'], JSON.stringify(containers));
    for (const c of containers) assert.equal(c.state, 'running', `${project}/${c.service} is ${c.state}`);
    return Object.fromEntries(containers.map((c) => [c.service, c.id]));
  };
  const step = stepper(t);

  await step('a push deploys the services but not the own one, whose plan entry says why', async () => {
    const run = await server.deployAll();
    assert.equal(run.status, 'succeeded', summary(run));
    assert.deepEqual(run.deployments.map((d) => d.service).sort(), [DK, POD].sort(), summary(run));
    ids('podman', POD);
    ids('docker', DK);
    assert.deepEqual(projectContainers('podman', SELF), [], 'no container of the own service was started');
    const plan = await api('/api/plan');
    const self = (plan.json.services as Array<{ service: string; decision: string; reason: string }>).find((e) => e.service === SELF);
    assert.equal(self?.decision, 'unchanged', JSON.stringify(plan.json));
    const why = `not deployed: this server does not run in a container of ${SELF}; SELF_DEPLOY=in-place deploys it in place`;
    assert.equal(self?.reason, why);
    const state = ((await server.get('/api/services')).services as Array<{ name: string; state: string; stateReason: string | null }>).find((s) => s.name === SELF);
    assert.deepEqual([state?.state, state?.stateReason], ['self', why], 'its state says why too');
  });

  for (const [engine, project] of [['podman', POD], ['docker', DK]] as const) {
    await step(`${engine}: a plain redeploy keeps the containers, a forced one recreates every one with nothing changed in git`, async () => {
      const before = ids(engine, project);
      const plain = await api(`/api/services/${project}/deploy`);
      assert.equal(plain.status, 202);
      const plainRun = await server.waitForRun(plain.json.runId);
      assert.equal(plainRun.status, 'succeeded', summary(plainRun));
      assert.deepEqual(ids(engine, project), before, 'nothing changed: nothing recreated');

      const forced = await api(`/api/services/${project}/deploy`, { force: true });
      assert.equal(forced.status, 202);
      assert.equal(forced.json.force, true);
      const run = await server.waitForRun(forced.json.runId);
      assert.equal(run.status, 'succeeded', summary(run));
      assert.equal(run.commit, commit, 'the same commit: nothing changed in git');
      assert.equal(deploymentOf(run, project).reason, 'forced redeploy requested: every container recreated');
      const after = ids(engine, project);
      for (const service of ['main', 'side']) assert.notEqual(after[service], before[service], `${project}/${service} was recreated`);
    });
  }
});
