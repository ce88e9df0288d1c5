// End to end: pruning services whose directory is removed in git, on real Podman
// (podman-compose) and on the private dockerd (docker compose), through the real server.
// Per target one environment repository and one data directory; the steps build on each other:
// a removal is taken down (containers and networks gone, the named volume kept, a tombstone in
// history), PRUNE=false leaves a removal running as `orphaned`, and removing most services at
// once fails the run with PRUNE_REFUSED and touches nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EnvRepo, TestServer, deploymentOf, projectContainers, removeProject, requireEngines, sh, stepper, summary, uid } from './harness.js';

const IMAGE = 'localhost/busybox:test';

interface Target {
  name: string;
  engine: 'podman' | 'docker';
  env: (engines: { dockerHost: string }) => Record<string, string>;
}

const TARGETS: Target[] = [
  { name: 'Podman (podman-compose)', engine: 'podman', env: () => ({}) },
  { name: 'private dockerd (docker compose)', engine: 'docker', env: (e) => ({ DOCKER_HOST: e.dockerHost }) },
];

/** A sleeper with a named volume and a custom network: what a prune must take down, and keep. */
const composeOf = (marker: string) => `services:
  main:
    image: ${IMAGE}
    init: true
    command: ["sleep", "3600"]
    environment:
      MARKER: "${marker}"
    volumes:
      - data:/data
    networks:
      - back
networks:
  back: {}
volumes:
  data: {}
`;

for (const target of TARGETS) {
  test(`pruning removed services on ${target.name}`, { timeout: 180_000 }, async (t) => {
    const engines = requireEngines(t);
    if (!engines) return;
    const env = target.env(engines);
    const engine = target.engine;
    const id = uid();
    const [A, B, C] = ['a', 'b', 'c'].map((n) => `pr-${n}-${id}`) as [string, string, string];
    const ALL = [A, B, C];
    const repo = new EnvRepo();
    const serverEnv = { ...env, DEFAULT_RUNTIME: engine };
    let server = await TestServer.start({ checkout: repo.checkout, env: serverEnv });
    const dataDir = server.dataDir;
    t.after(async () => {
      await server.close();
      for (const project of ALL) {
        removeProject(engine, project, env);
        for (const args of [['network', 'rm', `${project}_back`], ['volume', 'rm', '-f', `${project}_data`]]) {
          try {
            sh(engine, args, { env });
          } catch {
            // Best effort clean-up.
          }
        }
      }
      server.dispose();
      repo.dispose();
    });
    const restart = async (extra: Record<string, string>) => {
      await server.close();
      server = await TestServer.start({ checkout: repo.checkout, dataDir, env: { ...serverEnv, ...extra } });
    };

    const containerIds = (project: string) => projectContainers(engine, project, env).map((c) => `${c.id}:${c.state}`).sort();
    const networks = (project: string) => sh(engine, ['network', 'ls', '--quiet', '--filter', `label=com.docker.compose.project=${project}`], { env }).split('\n').filter(Boolean);
    const volumeExists = (name: string) => {
      try {
        sh(engine, ['volume', 'inspect', name], { env });
        return true;
      } catch {
        return false;
      }
    };
    const states = async () => new Map(((await server.get('/api/services')).services as Array<{ name: string; state: string }>).map((s) => [s.name, s.state] as const));
    const orphanedMetric = async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return Number(/^gds_services\{state="orphaned"\} (\d+)$/m.exec(text)?.[1] ?? 'NaN');
    };
    const running: Record<string, string[]> = {};
    const step = stepper(t);

    await step('three services with a named volume and a network each are deployed', async () => {
      for (const name of ALL) repo.write(`services/${name}/compose.yaml`, composeOf(name));
      repo.push('three services');
      const run = await server.deployAll();
      assert.equal(run.status, 'succeeded', summary(run));
      for (const name of ALL) {
        running[name] = containerIds(name);
        assert.equal(running[name]!.length, 1, `${name}: ${running[name]}`);
        assert.match(running[name]![0]!, /:running$/);
        assert.equal(networks(name).length, 1, `${name} has its network`);
        assert.ok(volumeExists(`${name}_data`), `${name}_data exists`);
      }
    });

    await step('a directory removed in git: its containers and network are gone, its named volume stays, history shows the tombstone', async () => {
      repo.remove(`services/${B}`);
      const commit = repo.push(`remove ${B}`);
      const run = await server.deployAll();
      assert.equal(run.status, 'succeeded', summary(run));
      const prune = deploymentOf(run, B);
      assert.deepEqual([prune.action, prune.status], ['prune', 'succeeded'], summary(run));
      assert.equal(run.deployments.length, 1, summary(run));
      assert.deepEqual(containerIds(B), [], 'no container of the pruned project');
      assert.deepEqual(networks(B), [], 'no network of the pruned project');
      assert.ok(volumeExists(`${B}_data`), 'the named volume is kept (no -v)');
      for (const name of [A, C]) assert.deepEqual(containerIds(name), running[name], `${name} untouched`);
      // History: the tombstone, newest first; the services list no longer has it.
      const detail = await server.get(`/api/services/${B}`);
      assert.equal(detail.service.state, 'removed');
      assert.deepEqual([detail.history[0].action, detail.history[0].status, detail.history[0].commit], ['prune', 'succeeded', commit]);
      assert.equal(detail.history[1].action, 'deploy');
      assert.equal((await states()).has(B), false);
    });

    await step('PRUNE=false: a removed service is listed orphaned and keeps running', async () => {
      await restart({ PRUNE: 'false' });
      repo.remove(`services/${C}`);
      repo.push(`remove ${C}`);
      const run = await server.deployAll();
      assert.equal(run.status, 'succeeded', summary(run));
      assert.deepEqual(run.deployments, [], summary(run));
      assert.deepEqual(containerIds(C), running[C], `${C} still runs, untouched`);
      assert.equal(networks(C).length, 1);
      assert.equal((await states()).get(C), 'orphaned');
      assert.equal((await server.get(`/api/services/${C}`)).service.state, 'orphaned');
      assert.equal(await orphanedMetric(), 1);
    });

    await step('removing most services at once fails the run with PRUNE_REFUSED and removes nothing', async () => {
      await restart({});
      // The last service goes too: no services directory is left in git.
      repo.remove(`services/${A}`);
      repo.push('remove everything');
      const run = await server.deployAll();
      assert.equal(run.status, 'failed', summary(run));
      assert.equal(run.error?.code, 'PRUNE_REFUSED', summary(run));
      assert.match(run.error?.message ?? '', /2 of 2 deployed services would be pruned at once/);
      assert.deepEqual(run.deployments, [], summary(run));
      for (const name of [A, C]) {
        assert.deepEqual(containerIds(name), running[name], `${name} still runs, untouched`);
        assert.equal(networks(name).length, 1);
      }
      // The services view keeps its last readable snapshot (there is no services directory to read).
      assert.equal((await server.get(`/api/services/${C}`)).service.state, 'orphaned');
    });
  });
}
