// The whole server sends one notification per run to a real HTTP receiver: a failed deployment,
// then its recovery, named with services, commit and error. Compose actions are faked (the
// engines are covered by the deploy suites); git, SQLite, HTTP and the notifier are real.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FakeRuntime, fakeRuntimes } from '../fakes/runtime.js';
import { E2E_API_TOKEN, EnvRepo, TestServer } from './harness.js';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const HOOK_SECRET = 'notify-hook-secret-0123456789';

describe('notifications from a running server', () => {
  const received: Received[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200).end('ok');
    });
  });
  let repo: EnvRepo;
  let server: TestServer;
  const runtime = new FakeRuntime();

  before(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    repo = new EnvRepo();
    for (const name of ['app', 'db']) repo.write(`services/${name}/podman-compose.yml`, `services:\n  ${name}:\n    image: localhost/busybox:test\n`);
    repo.push('two services');
    server = await TestServer.start({
      checkout: repo.checkout,
      runtimes: fakeRuntimes(runtime),
      env: {
        NOTIFY_WEBHOOK_URL: `${url}/hook`,
        NOTIFY_WEBHOOK_SECRET: HOOK_SECRET,
        NOTIFY_NTFY_URL: `${url}/ntfy/deploys`,
        PUBLIC_URL: 'https://deploy.example.test',
      },
    });
  });
  after(async () => {
    await server?.close();
    server?.dispose();
    repo?.dispose();
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  });

  /** Waits until `count` requests for `path` arrived (the notifier sends after the run ends). */
  const arrived = async (path: string, count: number) => {
    for (const until = Date.now() + 15_000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
      const hits = received.filter((r) => r.path === path);
      if (hits.length >= count) return hits;
    }
    throw new Error(`only ${received.filter((r) => r.path === path).length} of ${count} requests reached ${path}`);
  };

  it('says once which service failed, on which commit and why; then that it recovered', async () => {
    runtime.failNext('db');
    const commit = repo.push('empty: deploy both');
    const failedRun = await server.deployAll();
    assert.equal(failedRun.status, 'failed');

    const [hook] = await arrived('/hook', 1);
    const expected = `sha256=${createHmac('sha256', HOOK_SECRET).update(hook!.body).digest('hex')}`;
    assert.equal(hook!.headers['x-gitops-signature-256'], expected, 'the body is signed with NOTIFY_WEBHOOK_SECRET');
    assert.equal(hook!.headers['x-gitops-delivery'], failedRun.id);
    const payload = JSON.parse(hook!.body.toString('utf8'));
    assert.equal(payload.event, 'deployment.failure');
    assert.deepEqual(payload.services.failed, ['db']);
    assert.deepEqual(payload.services.succeeded, ['app']);
    assert.match(payload.text, /COMPOSE_FAILED/);
    assert.match(payload.text, new RegExp(commit.slice(0, 7)));
    assert.match(payload.text, new RegExp(`https://deploy.example.test/#/runs/${failedRun.id}`));

    const [ntfy] = await arrived('/ntfy/deploys', 1);
    assert.match(String(ntfy!.headers['title']), /db/);
    assert.match(ntfy!.body.toString('utf8'), /db/);

    // The next push leaves db's inputs as they failed: it is not tried again, and nothing is said.
    repo.push('empty: unrelated');
    const held = await server.deployAll();
    assert.equal(held.status, 'succeeded', JSON.stringify(held));
    assert.deepEqual(held.deployments, [], 'db failed with these inputs: not retried by an unrelated push');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(received.filter((r) => r.path === '/hook').length, 1, 'no second failure message');

    // An explicit redeploy tries again and succeeds. One recovery message, not one per service.
    const redeploy = await fetch(`${server.url}/api/services/db/deploy`, { method: 'POST', headers: { authorization: `Bearer ${E2E_API_TOKEN}` } });
    assert.equal(redeploy.status, 202);
    const recovered = await server.waitForRun(((await redeploy.json()) as { runId: string }).runId);
    assert.equal(recovered.status, 'succeeded', JSON.stringify(recovered));
    const hooks = await arrived('/hook', 2);
    const second = JSON.parse(hooks[1]!.body.toString('utf8'));
    assert.equal(second.event, 'deployment.recovery');
    assert.deepEqual(second.services.recovered, ['db']);

    // A run that changes nothing says nothing (NOTIFY_ON_SUCCESS is off).
    repo.push('empty: nothing changed');
    await server.deployAll();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(received.filter((r) => r.path === '/hook').length, 2);

    // The same runs, as Prometheus sees them (open route, no token).
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^gds_runs_total\{trigger="deploy-all-changed",status="failed"\} 1$/m);
    assert.match(metrics, /^gds_runs_total\{trigger="deploy-all-changed",status="succeeded"\} 2$/m);
    assert.match(metrics, /^gds_webhooks_total\{route="\/deploy-all-changed",outcome="accepted"\} 3$/m);
    assert.match(metrics, /^gds_deployments_total\{service="db",runtime="podman",action="deploy",status="failed"\} 1$/m);
    assert.match(metrics, /^gds_services\{state="in-sync"\} 2$/m);
  });
});
