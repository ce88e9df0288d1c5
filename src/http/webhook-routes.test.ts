import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, afterEach, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { FakeServiceCatalog, fakeServiceSource } from '../../test/fakes/service-catalog.js';
import { openSqliteStore } from '../adapters/sqlite-store.js';
import { RunEventBus } from '../deploy/run-events.js';
import type { Store } from '../ports/store.js';
import { signStandardWebhook } from '../webhook/providers/standard-webhooks/index.js';
import { createReplayGuard } from '../webhook/replay-guard.js';
import { signBody } from '../webhook/signature.js';
import { createAuthFailureLimiter } from './auth-failure-limiter.js';
import { buildServer, type ServerDeps } from './server.js';

const SECRET = 'test-webhook-secret-0123456789';
const PREVIOUS = 'the-previous-secret-9876543210';
const DOCKERHUB_TOKEN = 'dockerhub-path-token-0123456789abcdef';
const NOW = new Date('2026-01-01T12:00:00Z');
const fixture = (path: string) => readFileSync(new URL(`../webhook/${path}`, import.meta.url));
const hex = (secret: string, body: Uint8Array) => createHmac('sha256', secret).update(body).digest('hex');

function recordingTriggers() {
  const calls: Array<{ trigger: string; service?: string }> = [];
  let n = 0;
  const run = (trigger: string, service?: string) => {
    calls.push(service === undefined ? { trigger } : { trigger, service });
    return { runId: `r_${++n}`, coalesced: false };
  };
  return {
    calls,
    deployAllChanged: () => run('deploy-all-changed'),
    redeployAndUpdate: (service: string) => run('redeploy-and-update', service),
    deployService: (service: string) => run('deploy-service', service),
  };
}

describe('webhook routes', () => {
  let dir: string;
  let store: Store;
  let triggers: ReturnType<typeof recordingTriggers>;
  let app: FastifyInstance;
  let logLines: Array<Record<string, unknown>>;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'webhook-routes-test-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    await app.close();
    store.close();
  });

  const start = async (overrides: Partial<ServerDeps> = {}, storeFile = join(dir, `${Math.random().toString(36).slice(2)}.db`)) => {
    store = openSqliteStore({ file: storeFile, clock: { now: () => NOW } });
    triggers = recordingTriggers();
    logLines = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (logLines.push(JSON.parse(String(chunk))), done()) });
    const catalog = new FakeServiceCatalog([fakeServiceSource('app'), fakeServiceSource('web'), fakeServiceSource('db')]);
    app = buildServer({
      logger: pino({ level: 'debug' }, sink),
      webhookSecret: SECRET,
      webhookSecrets: { current: SECRET, previous: PREVIOUS },
      replayGuard: createReplayGuard({ store, clock: { now: () => NOW } }),
      authFailures: createAuthFailureLimiter({ maxFailures: 3, windowMs: 60_000, maxTrackedAddresses: 100, now: () => NOW.getTime() }),
      trackedBranch: async () => 'main',
      servicesForImage: async (reference) => (reference.includes('testhook') || reference.includes('alpine:3.10') ? ['app', 'web'] : []),
      dockerHubToken: DOCKERHUB_TOKEN,
      now: () => NOW.getTime(),
      maxBodyBytes: 256 * 1024,
      serverName: 'gitops-deploy-server',
      version: '0.1.0-test',
      startedAt: NOW.toISOString(),
      apiToken: undefined,
      store,
      events: new RunEventBus(store),
      catalog,
      metrics: { contentType: 'text/plain', webhook: () => undefined, render: async () => '' },
      services: async () => ({ commit: null, services: await catalog.discover() }),
      previewPlan: async () => {
        throw new Error('not used here');
      },
      triggers,
      ...overrides,
    });
    await app.ready();
  };

  const gitlabPush = (ref: string, uuid: string, token = SECRET, query = '') => {
    const body = fixture('providers/gitlab/fixtures/push.json').toString('utf8').replace('"refs/heads/master"', JSON.stringify(ref));
    return app.inject({ method: 'POST', url: `/deploy-all-changed${query}`, headers: { 'content-type': 'application/json', 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': uuid, 'x-gitlab-token': token }, payload: body });
  };

  it('deploys a push to the tracked branch, and ignores one to another branch', async () => {
    await start();
    const other = await gitlabPush('refs/heads/feature', 'uuid-1');
    assert.equal(other.statusCode, 200);
    assert.deepEqual({ status: other.json().status, reason: other.json().reason }, { status: 'ignored', reason: 'branch' });
    assert.deepEqual(triggers.calls, []);
    const main = await gitlabPush('refs/heads/main', 'uuid-2');
    assert.equal(main.statusCode, 202);
    assert.deepEqual(triggers.calls, [{ trigger: 'deploy-all-changed' }]);
  });

  it('refuses a repeated delivery id, even after a restart, unless ?redeliver=1', async () => {
    const file = join(dir, 'replay.db');
    await start({}, file);
    assert.equal((await gitlabPush('refs/heads/main', 'same-uuid')).statusCode, 202);
    await app.close();
    store.close();
    await start({}, file);
    const again = await gitlabPush('refs/heads/main', 'same-uuid');
    assert.equal(again.statusCode, 200);
    assert.equal(again.json().status, 'duplicate');
    assert.deepEqual(triggers.calls, []);
    assert.equal((await gitlabPush('refs/heads/main', 'same-uuid', SECRET, '?redeliver=1')).statusCode, 202);
    assert.deepEqual(triggers.calls, [{ trigger: 'deploy-all-changed' }]);
  });

  it('accepts the previous secret during a rotation and logs which matched, never the secret', async () => {
    await start();
    assert.equal((await gitlabPush('refs/heads/main', 'u-prev', PREVIOUS)).statusCode, 202);
    const line = logLines.find((l) => l['provider'] === 'gitlab' && l['secret'] === 'previous');
    assert.ok(line, 'the log says the previous secret matched');
    assert.equal((await gitlabPush('refs/heads/main', 'u-cur', SECRET)).statusCode, 202);
    assert.ok(logLines.find((l) => l['provider'] === 'gitlab' && l['secret'] === 'current' && l['level'] === 30), 'and that the current one matched');
    assert.ok(!JSON.stringify(logLines).includes(PREVIOUS));
  });

  it('answers 429 with Retry-After past the failure budget, and other addresses go on', async () => {
    await start();
    const bad = () => app.inject({ method: 'POST', url: '/deploy-all-changed', remoteAddress: '10.0.0.9', headers: { 'x-hub-signature-256': signBody('wrong-secret-0123456789', Buffer.alloc(0)) } });
    for (let i = 0; i < 3; i++) assert.equal((await bad()).statusCode, 401);
    const limited = await bad();
    assert.equal(limited.statusCode, 429);
    assert.equal(limited.json().error.code, 'WEBHOOK_RATE_LIMITED');
    assert.ok(Number(limited.headers['retry-after']) > 0);
    const good = await app.inject({ method: 'POST', url: '/deploy-all-changed', remoteAddress: '10.0.0.10', headers: { 'x-hub-signature-256': signBody(SECRET, Buffer.alloc(0)) } });
    assert.equal(good.statusCode, 202);
  });

  it('strict mode refuses signature-only requests, with a reason about the empty body, and takes Standard Webhooks', async () => {
    await start({ webhookMode: 'strict' });
    const empty = await app.inject({ method: 'POST', url: '/deploy-all-changed', headers: { 'x-hub-signature-256': signBody(SECRET, Buffer.alloc(0)) } });
    assert.equal(empty.statusCode, 401);
    assert.equal(empty.json().error.code, 'WEBHOOK_SCHEME_REFUSED');
    assert.match(empty.json().error.message, /empty body/);
    const body = Buffer.from('{}');
    const standard = await app.inject({ method: 'POST', url: '/deploy-all-changed', headers: { 'content-type': 'application/json', ...signStandardWebhook(SECRET, 'msg_strict', Math.floor(NOW.getTime() / 1000), body) }, payload: body });
    assert.equal(standard.statusCode, 202);
    assert.equal((await gitlabPush('refs/heads/main', 'u-strict')).statusCode, 202);
    assert.equal(triggers.calls.length, 2);
  });

  it('refuses a Standard Webhooks request signed 6 minutes ago', async () => {
    await start();
    const body = Buffer.from('{}');
    const old = await app.inject({ method: 'POST', url: '/deploy-all-changed', headers: signStandardWebhook(SECRET, 'msg_old', Math.floor(NOW.getTime() / 1000) - 360, body), payload: body });
    assert.equal(old.statusCode, 401);
    assert.equal(old.json().error.code, 'SIGNATURE_STALE');
    assert.deepEqual(triggers.calls, []);
  });

  it('answers a Gitea push signed as Gitea signs it, and GitHub\'s ping with pong', async () => {
    await start();
    const body = Buffer.from(fixture('providers/gitea/fixtures/push.json').toString('utf8').replace('refs/heads/develop', 'refs/heads/main'));
    const headers = { ...JSON.parse(fixture('providers/gitea/fixtures/push.headers.json').toString('utf8')), 'x-gitea-signature': hex(SECRET, body), 'x-hub-signature-256': `sha256=${hex(SECRET, body)}` };
    assert.equal((await app.inject({ method: 'POST', url: '/deploy-all-changed', headers, payload: body })).statusCode, 202);
    const ping = fixture('providers/github/fixtures/ping.json');
    const pong = await app.inject({ method: 'POST', url: '/deploy-all-changed', headers: { 'content-type': 'application/json', 'x-github-event': 'ping', 'x-hub-signature-256': signBody(SECRET, ping) }, payload: ping });
    assert.equal(pong.statusCode, 200);
    assert.match(pong.json().note, /^pong/);
    assert.equal(triggers.calls.length, 1);
  });

  it('updates every service that uses a published image: a signed payload, Docker Hub and Harbor', async () => {
    await start();
    const body = Buffer.from('{"image":"docker.io/svendowideit/testhook:latest"}');
    const signed = await app.inject({ method: 'POST', url: '/redeploy-and-update', headers: { 'content-type': 'application/json', ...signStandardWebhook(SECRET, 'msg_img', Math.floor(NOW.getTime() / 1000), body) }, payload: body });
    assert.equal(signed.statusCode, 202);
    assert.deepEqual(signed.json().services, ['app', 'web']);
    assert.equal(signed.json().runIds.length, 2);

    const hub = await app.inject({ method: 'POST', url: `/hooks/dockerhub/${DOCKERHUB_TOKEN}`, headers: { 'content-type': 'application/json' }, payload: fixture('registries/dockerhub/fixtures/callback.json') });
    assert.equal(hub.statusCode, 202);
    assert.deepEqual(hub.json().services, ['app', 'web']);
    const wrong = await app.inject({ method: 'POST', url: `/hooks/dockerhub/${DOCKERHUB_TOKEN.replace(/.$/, 'x')}`, headers: { 'content-type': 'application/json' }, payload: fixture('registries/dockerhub/fixtures/callback.json') });
    assert.equal(wrong.statusCode, 401);

    const harbor = await app.inject({ method: 'POST', url: '/hooks/harbor', headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}` }, payload: fixture('registries/harbor/fixtures/push-artifact.json') });
    assert.equal(harbor.statusCode, 202);
    assert.deepEqual(harbor.json().services, ['app', 'web']);
    assert.equal((await app.inject({ method: 'POST', url: '/hooks/harbor', headers: { authorization: 'nope' }, payload: '{}' })).statusCode, 401);
    assert.deepEqual(triggers.calls.map((c) => c.service), ['app', 'web', 'app', 'web', 'app', 'web']);

    const none = Buffer.from('{"image":"ghcr.io/nobody/uses-this:1"}');
    const unmatched = await app.inject({ method: 'POST', url: '/redeploy-and-update', headers: { 'x-hub-signature-256': signBody(SECRET, none) }, payload: none });
    assert.equal(unmatched.statusCode, 200);
    assert.deepEqual(unmatched.json().services, []);
    assert.ok(unmatched.json().note);
  });

  it('turns the Docker Hub route off without a token', async () => {
    await start({ dockerHubToken: undefined });
    const response = await app.inject({ method: 'POST', url: `/hooks/dockerhub/${DOCKERHUB_TOKEN}`, payload: '{}' });
    assert.equal(response.statusCode, 404);
  });
});
