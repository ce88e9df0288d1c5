// End to end: input files that are not regular files (a tracked symlink to a FIFO, an env_file
// symlinked to /dev/zero) against real Podman + podman-compose 1.0.3. Before the safe reads the
// first blocked the server's discover step for ever and the second read until memory ran out,
// both under the repository lock; now each is a problem of its own service and the rest deploys.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { EnvRepo, TestServer, containerEnv, deploymentOf, projectContainers, removeProject, requireEngines, summary, uid } from './harness.js';

const id = uid();
const GOOD = `good-${id}`;
const FIFO = `fifo-${id}`;
const ZERO = `zero-${id}`;
const PROJECTS = [GOOD, FIFO, ZERO];

const sleeper = (extra = '') => `services:
  main:
    image: localhost/busybox:test
    init: true
    command: ["sleep", "3600"]
    environment:
      MARK: mark-${id}
${extra}`;

test('input files that are FIFOs or devices fail their own service at once, not the server', { timeout: 120_000 }, async (t) => {
  if (!requireEngines(t)) return;
  const repo = new EnvRepo();
  const server = await TestServer.start({ checkout: repo.checkout });
  t.after(async () => {
    await server.close();
    for (const project of PROJECTS) removeProject('podman', project);
    server.dispose();
    repo.dispose();
  });

  repo.write(`services/${GOOD}/podman-compose.yml`, sleeper());
  repo.write(`services/${FIFO}/podman-compose.yml`, sleeper('    volumes:\n      - ./config:/etc/app:ro\n'));
  // git stores the symlink; its FIFO target is an ignored path that exists only in the checkout.
  mkdirSync(path.join(repo.work, `services/${FIFO}/config`), { recursive: true });
  symlinkSync(`../../../secrets/${id}.fifo`, path.join(repo.work, `services/${FIFO}/config/app.ini`));
  repo.write(`services/${ZERO}/podman-compose.yml`, sleeper(`    env_file: ../../secrets/${ZERO}.env\n`));
  repo.push('three services, two with unreadable inputs');
  repo.writeSecret(`secrets/.keep`, '');
  execFileSync('mkfifo', [path.join(repo.checkout, `secrets/${id}.fifo`)]);
  symlinkSync('/dev/zero', path.join(repo.checkout, `secrets/${ZERO}.env`));

  const started = Date.now();
  const run = await server.deployAll();
  const seconds = (Date.now() - started) / 1000;
  t.diagnostic(`deploy-all run took ${seconds.toFixed(1)} s`);
  assert.ok(seconds < 60, `the run took ${seconds} s`);

  const fifo = deploymentOf(run, FIFO);
  assert.equal(fifo.status, 'failed', summary(run));
  assert.equal(fifo.error?.code, 'INPUT_FILE_INVALID', summary(run));
  assert.match(fifo.error.message, /config\/app\.ini is a FIFO/);
  const zero = deploymentOf(run, ZERO);
  assert.equal(zero.status, 'failed', summary(run));
  assert.equal(zero.error?.code, 'INPUT_FILE_INVALID', summary(run));
  assert.match(zero.error.message, new RegExp(`secrets/${ZERO}\\.env is a character device`));
  // Failed before any command ran: no container of either project exists.
  assert.deepEqual(projectContainers('podman', FIFO), []);
  assert.deepEqual(projectContainers('podman', ZERO), []);

  assert.equal(deploymentOf(run, GOOD).status, 'succeeded', summary(run));
  const good = projectContainers('podman', GOOD);
  assert.equal(good.length, 1);
  assert.equal(good[0]!.state, 'running');
  assert.equal(containerEnv('podman', good[0]!.id, 'MARK'), `mark-${id}`);

  // The server still answers, quickly, and shows both services as problems.
  const asked = Date.now();
  const health = await fetch(`${server.url}/health`);
  assert.equal(health.status, 200);
  const services = (await server.get('/api/services')).services as Array<{ name: string; state: string; problem: { code: string } | null }>;
  assert.ok(Date.now() - asked < 5_000, `answered in ${Date.now() - asked} ms`);
  const byName = new Map(services.map((s) => [s.name, s] as const));
  assert.equal(byName.get(FIFO)?.state, 'problem');
  assert.equal(byName.get(FIFO)?.problem?.code, 'INPUT_FILE_INVALID');
  assert.equal(byName.get(ZERO)?.state, 'problem');
  assert.equal(byName.get(GOOD)?.state, 'in-sync');
});
