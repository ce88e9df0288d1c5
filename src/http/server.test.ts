import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { FakeServiceCatalog, fakeServiceSource } from '../../test/fakes/service-catalog.js';
import { openSqliteStore } from '../adapters/sqlite-store.js';
import { RunEventBus } from '../deploy/run-events.js';
import type { Store } from '../ports/store.js';
import { signBody } from '../webhook/signature.js';
import { buildServer, type ServerDeps } from './server.js';

const SECRET = 'test-webhook-secret-0123456789';

/** Triggers that record their calls and hand out run ids. */
function recordingTriggers() {
  const calls: Array<{ trigger: string; service?: string }> = [];
  let n = 0;
  return {
    calls,
    deployAllChanged() {
      calls.push({ trigger: 'deploy-all-changed' });
      return { runId: `r_test${++n}`, coalesced: false };
    },
    redeployAndUpdate(service: string) {
      calls.push({ trigger: 'redeploy-and-update', service });
      return { runId: `r_test${++n}`, coalesced: false };
    },
    deployService(service: string) {
      calls.push({ trigger: 'deploy-service', service });
      return { runId: `r_test${++n}`, coalesced: false };
    },
  };
}

/** Metrics that only count webhooks, for asserting the route hook. */
export function countingMetrics() {
  const webhooks: Array<{ route: string; outcome: string }> = [];
  return {
    webhooks,
    contentType: 'text/plain; version=0.0.4',
    webhook(route: string, outcome: string) {
      webhooks.push({ route, outcome });
    },
    render: async () => '',
  };
}

describe('buildServer', () => {
  let dir: string;
  let store: Store;
  let catalog: FakeServiceCatalog;
  let triggers: ReturnType<typeof recordingTriggers>;
  let app: FastifyInstance;

  const build = (overrides: Partial<ServerDeps> = {}) =>
    buildServer({
      logger: pino({ level: 'silent' }),
      webhookSecret: SECRET,
      maxBodyBytes: 64 * 1024,
      serverName: 'gitops-deploy-server',
      version: '0.1.0-test',
      startedAt: '2024-05-01T10:00:00.000Z',
      apiToken: undefined,
      store,
      events: new RunEventBus(store),
      catalog,
      metrics: countingMetrics(),
      services: async () => ({ commit: null, services: await catalog.discover() }),
      previewPlan: async () => {
        throw new Error('not used here');
      },
      triggers,
      ...overrides,
    });

  /** A POST signed over exactly `body`, with optional content type. */
  const signedPost = (url: string, body: string | Buffer, contentType?: string) => {
    const payload = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const headers: Record<string, string> = { 'x-hub-signature-256': signBody(SECRET, payload) };
    if (contentType) headers['content-type'] = contentType;
    return app.inject({ method: 'POST', url, headers, payload });
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'http-server-test-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  beforeEach(async () => {
    store = openSqliteStore({ file: join(dir, `${Math.random().toString(36).slice(2)}.db`), clock: { now: () => new Date('2024-05-01T10:00:00.000Z') } });
    catalog = new FakeServiceCatalog([fakeServiceSource('app'), fakeServiceSource('db', { runtime: 'docker', composeFile: 'docker-compose.yml' })]);
    triggers = recordingTriggers();
    app = build();
    await app.ready();
  });
  afterEach(async () => {
    await app.close();
    store.close();
  });

  it('GET /health answers 200', async () => {
    const response = await app.inject({ method: 'GET', url: '/health' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { status: 'ok', name: 'gitops-deploy-server', version: '0.1.0-test', instance: null, startedAt: '2024-05-01T10:00:00.000Z' });
  });

  describe('POST /deploy-all-changed', () => {
    it('queues a run for a signed EMPTY body with no content type (the old CI)', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/deploy-all-changed',
        headers: { 'x-hub-signature-256': signBody(SECRET, Buffer.alloc(0)) },
      });
      assert.equal(response.statusCode, 202);
      assert.deepEqual(response.json(), { runId: 'r_test1', status: 'queued' });
      assert.deepEqual(triggers.calls, [{ trigger: 'deploy-all-changed' }]);
    });

    it('queues a run for a signed GitHub push with a JSON content type', async () => {
      const push = '{\n  "ref": "refs/heads/main",\n  "after": "4c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d",\n  "repository": {"full_name": "example-org/env"}\n}';
      const response = await signedPost('/deploy-all-changed', push, 'application/json');
      assert.equal(response.statusCode, 202);
      assert.deepEqual(response.json(), { runId: 'r_test1', status: 'queued' });
      assert.equal(triggers.calls.length, 1);
    });

    it("answers GitHub's signed ping without deploying, and refuses an unsigned one", async () => {
      const ping = '{"zen":"Keep it logically awesome.","hook_id":1}';
      const response = await app.inject({
        method: 'POST',
        url: '/deploy-all-changed',
        headers: { 'x-github-event': 'ping', 'content-type': 'application/json', 'x-hub-signature-256': signBody(SECRET, Buffer.from(ping)) },
        payload: ping,
      });
      assert.equal(response.statusCode, 200);
      assert.equal(response.json().status, 'ignored');
      const unsigned = await app.inject({ method: 'POST', url: '/deploy-all-changed', headers: { 'x-github-event': 'ping' }, payload: ping });
      assert.equal(unsigned.statusCode, 401);
      assert.deepEqual(triggers.calls, []);
    });

    it('verifies the raw bytes of a form-encoded body too', async () => {
      const response = await signedPost('/deploy-all-changed', 'payload=%7B%7D', 'application/x-www-form-urlencoded');
      assert.equal(response.statusCode, 202);
    });

    it('refuses a request without signature: 401 SIGNATURE_MISSING, no trigger', async () => {
      const response = await app.inject({ method: 'POST', url: '/deploy-all-changed', headers: { 'content-type': 'application/json' }, payload: '{}' });
      assert.equal(response.statusCode, 401);
      assert.equal(response.json().error.code, 'SIGNATURE_MISSING');
      assert.deepEqual(triggers.calls, []);
    });

    it('refuses a wrong signature: 401 SIGNATURE_INVALID, no trigger', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/deploy-all-changed',
        headers: { 'x-hub-signature-256': signBody('some-other-secret-value', Buffer.from('{}')), 'content-type': 'application/json' },
        payload: '{}',
      });
      assert.equal(response.statusCode, 401);
      assert.equal(response.json().error.code, 'SIGNATURE_INVALID');
      assert.deepEqual(triggers.calls, []);
    });

    it('refuses a malformed signature header as SIGNATURE_INVALID', async () => {
      const response = await app.inject({ method: 'POST', url: '/deploy-all-changed', headers: { 'x-hub-signature-256': 'sha256=nothex' } });
      assert.equal(response.statusCode, 401);
      assert.equal(response.json().error.code, 'SIGNATURE_INVALID');
    });

    it('refuses a signature of the re-serialised body', async () => {
      const body = '{ "ref" : "refs/heads/main" }';
      const response = await app.inject({
        method: 'POST',
        url: '/deploy-all-changed',
        headers: { 'x-hub-signature-256': signBody(SECRET, Buffer.from(JSON.stringify(JSON.parse(body)))), 'content-type': 'application/json' },
        payload: body,
      });
      assert.equal(response.statusCode, 401);
      assert.deepEqual(triggers.calls, []);
    });

    it('refuses a body over maxBodyBytes with 413 PAYLOAD_TOO_LARGE', async () => {
      await app.close();
      app = build({ maxBodyBytes: 16 });
      const response = await signedPost('/deploy-all-changed', JSON.stringify({ padding: 'x'.repeat(100) }), 'application/json');
      assert.equal(response.statusCode, 413);
      assert.equal(response.json().error.code, 'PAYLOAD_TOO_LARGE');
      assert.deepEqual(triggers.calls, []);
    });

    it('does not answer GET', async () => {
      const response = await app.inject({ method: 'GET', url: '/deploy-all-changed' });
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().error.code, 'ROUTE_NOT_FOUND');
    });
  });

  describe('POST /redeploy-and-update/:service', () => {
    it('queues an update for {"action":"published"}', async () => {
      const response = await signedPost('/redeploy-and-update/app', '{"action":"published"}', 'application/json');
      assert.equal(response.statusCode, 202);
      assert.deepEqual(response.json(), { runId: 'r_test1', status: 'queued' });
      assert.deepEqual(triggers.calls, [{ trigger: 'redeploy-and-update', service: 'app' }]);
    });

    it('queues an update for the GitHub registry_package fixture', async () => {
      const { readFileSync } = await import('node:fs');
      const fixture = readFileSync(new URL('../webhook/fixtures/github-registry-package-published.json', import.meta.url));
      const response = await signedPost('/redeploy-and-update/db', fixture, 'application/json');
      assert.equal(response.statusCode, 202);
      assert.deepEqual(triggers.calls, [{ trigger: 'redeploy-and-update', service: 'db' }]);
    });

    it('ignores other actions with 200 and no trigger', async () => {
      const response = await signedPost('/redeploy-and-update/app', '{"action":"created"}', 'application/json');
      assert.equal(response.statusCode, 200);
      const body = response.json();
      assert.equal(body.status, 'ignored');
      assert.match(body.note, /created/);
      assert.deepEqual(triggers.calls, []);
    });

    it('queues an update for a signed empty body with no content type', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/redeploy-and-update/app',
        headers: { 'x-hub-signature-256': signBody(SECRET, Buffer.alloc(0)) },
      });
      assert.equal(response.statusCode, 202);
      assert.deepEqual(triggers.calls, [{ trigger: 'redeploy-and-update', service: 'app' }]);
    });

    it('refuses invalid JSON with 400 INVALID_JSON', async () => {
      const response = await signedPost('/redeploy-and-update/app', '{"action":', 'application/json');
      assert.equal(response.statusCode, 400);
      assert.equal(response.json().error.code, 'INVALID_JSON');
      assert.deepEqual(triggers.calls, []);
    });

    it('answers 404 UNKNOWN_SERVICE for a service the catalog does not know', async () => {
      const response = await signedPost('/redeploy-and-update/nope', '{"action":"published"}', 'application/json');
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().error.code, 'UNKNOWN_SERVICE');
      assert.deepEqual(triggers.calls, []);
    });

    it('checks the signature before anything else', async () => {
      const response = await app.inject({ method: 'POST', url: '/redeploy-and-update/app', payload: '{"action":"published"}', headers: { 'content-type': 'application/json' } });
      assert.equal(response.statusCode, 401);
      assert.equal(response.json().error.code, 'SIGNATURE_MISSING');
      assert.deepEqual(triggers.calls, []);
      assert.deepEqual(catalog.lookups, []);
    });

    it('never triggers for names that are not plain directory names', async () => {
      // A catalog that would answer anything proves the refusal happens before the lookup.
      const looked: string[] = [];
      catalog.has = async (name) => {
        looked.push(name);
        return true;
      };
      const urls = [
        '/redeploy-and-update/..',
        '/redeploy-and-update/.',
        '/redeploy-and-update/.hidden',
        '/redeploy-and-update/-rf',
        '/redeploy-and-update/a%2Fb',
        '/redeploy-and-update/a%2fb',
        '/redeploy-and-update/..%2F..%2Fetc',
        '/redeploy-and-update/%2e%2e',
        '/redeploy-and-update/%2E%2E%2Fetc',
        '/redeploy-and-update/%24%28id%29',
        '/redeploy-and-update/$(id)',
        '/redeploy-and-update/a;b',
        '/redeploy-and-update/a%3Bb',
        '/redeploy-and-update/a%20b',
        '/redeploy-and-update/a%00b',
        '/redeploy-and-update/caf%C3%A9',
        '/redeploy-and-update/a/b',
        '/redeploy-and-update/../../etc',
      ];
      for (const url of urls) {
        const response = await signedPost(url, '{"action":"published"}', 'application/json');
        assert.ok([400, 404].includes(response.statusCode), `${url} -> ${response.statusCode}`);
        assert.ok(['INVALID_SERVICE_NAME', 'ROUTE_NOT_FOUND'].includes(response.json().error.code), `${url} -> ${response.body}`);
      }
      assert.deepEqual(looked, [], 'no refused name reaches the catalog');
      assert.deepEqual(triggers.calls, []);
    });

    it('refuses an over-long name before the handler (414 from the router)', async () => {
      const response = await signedPost(`/redeploy-and-update/${'x'.repeat(129)}`, '{"action":"published"}', 'application/json');
      assert.ok(response.statusCode >= 400 && response.statusCode < 500, String(response.statusCode));
      assert.deepEqual(triggers.calls, []);
    });

    it('refuses an encoded slash with INVALID_SERVICE_NAME', async () => {
      const response = await signedPost('/redeploy-and-update/a%2Fb', '', undefined);
      assert.equal(response.statusCode, 400);
      assert.equal(response.json().error.code, 'INVALID_SERVICE_NAME');
    });
  });

  it('answers unknown routes with 404 ROUTE_NOT_FOUND', async () => {
    for (const [method, url] of [['GET', '/nope'], ['POST', '/deploy-all'], ['GET', '/api/nope'], ['DELETE', '/health']] as const) {
      const response = await app.inject({ method, url });
      assert.equal(response.statusCode, 404, `${method} ${url}`);
      assert.equal(response.json().error.code, 'ROUTE_NOT_FOUND');
    }
  });

  describe('request logging', () => {
    const TOKEN = 'test-api-token-0123456789abcdef';
    /** A server logging at `level` into an array, one parsed JSON object per line. */
    const logged = async (level: string) => {
      const lines: Array<Record<string, unknown>> = [];
      await app.close();
      app = build({ logger: pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }), apiToken: TOKEN });
      await app.ready();
      return lines;
    };

    it('writes no line for 100 polls of a run at LOG_LEVEL=info, and one debug line each at debug', async () => {
      const lines = await logged('info');
      const run = store.createRun({ trigger: 'deploy-all-changed', service: null, origin: 'webhook' });
      for (let i = 0; i < 100; i++) {
        const response = await app.inject({ method: 'GET', url: `/api/runs/${run.id}`, headers: { authorization: `Bearer ${TOKEN}` } });
        assert.equal(response.statusCode, 200);
      }
      for (const url of ['/health', '/metrics', '/api/services']) {
        assert.ok((await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${TOKEN}` } })).statusCode < 400, url);
      }
      assert.deepEqual(lines, []);

      const debug = await logged('debug');
      await app.inject({ method: 'GET', url: `/api/runs/${run.id}`, headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(debug.length, 1, JSON.stringify(debug));
      assert.equal(debug[0]!['level'], 20);
      assert.equal(debug[0]!['route'], '/api/runs/:id');
    });

    it('writes exactly one info line for a webhook, with its status, time and run id', async () => {
      const lines = await logged('info');
      const response = await signedPost('/deploy-all-changed', '');
      assert.equal(response.statusCode, 202);
      assert.equal(lines.length, 1, JSON.stringify(lines));
      const line = lines[0]!;
      assert.equal(line['level'], 30);
      assert.equal(line['method'], 'POST');
      assert.equal(line['route'], '/deploy-all-changed');
      assert.equal(line['status'], 202);
      assert.equal(line['runId'], response.json().runId);
      assert.equal(typeof line['responseTimeMs'], 'number');
      assert.ok(!JSON.stringify(line).includes(signBody(SECRET, Buffer.alloc(0)).slice(7)), 'the signature is not logged');

      const api = await app.inject({ method: 'POST', url: '/api/deploy', headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(api.statusCode, 202);
      assert.equal(lines.length, 2);
      assert.equal(lines[1]!['runId'], api.json().runId);
      assert.equal(lines[1]!['route'], '/api/deploy');
    });

    it('logs a refused action at warn', async () => {
      const lines = await logged('info');
      const response = await signedPost('/redeploy-and-update/nope', '');
      assert.equal(response.statusCode, 404);
      assert.equal(lines.length, 1, JSON.stringify(lines));
      assert.equal(lines[0]!['level'], 40);
      assert.equal(lines[0]!['status'], 404);
    });

    it('writes a bounded number of lines for 1,000 bad signatures, and counts them', async () => {
      const lines = await logged('info');
      for (let i = 0; i < 1_000; i++) {
        const response = await app.inject({ method: 'POST', url: '/deploy-all-changed', headers: { 'x-hub-signature-256': signBody('wrong-secret-0123456789', Buffer.from(String(i))) }, payload: String(i) });
        assert.equal(response.statusCode, 401);
      }
      assert.equal(lines.length, 1, JSON.stringify(lines.slice(0, 3)));
      assert.equal(lines[0]!['level'], 40);
      assert.equal(lines[0]!['reason'], 'mismatch');
      await app.close();
      assert.equal(lines.length, 2, 'closing writes the summary of the window');
      assert.equal(lines[1]!['suppressed'], 999);
      assert.equal(lines[1]!['level'], 40);
    });
  });
});
