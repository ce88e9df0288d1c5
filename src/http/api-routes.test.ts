import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { FakeServiceCatalog, fakeServiceSource } from '../../test/fakes/service-catalog.js';
import { openSqliteStore } from '../adapters/sqlite-store.js';
import type { PlanPreview } from '../deploy/plan-preview.js';
import { RunEventBus } from '../deploy/run-events.js';
import type { Store } from '../ports/store.js';
import { signBody } from '../webhook/signature.js';
import { buildServer, type ServerDeps } from './server.js';
import { countingMetrics } from './server.test.js';

const TOKEN = 'api-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };

/** Triggers that create real queued runs in the store, as the queue does, and record their calls. */
function storeTriggers(store: () => Store) {
  const calls: Array<{ trigger: string; service: string | null; origin: string; force?: true }> = [];
  const make = (trigger: 'deploy-all-changed' | 'redeploy-and-update' | 'deploy-service', service: string | null, origin: 'webhook' | 'api' | 'restart', force?: boolean) => {
    calls.push({ trigger, service, origin, ...(force ? { force: true as const } : {}) });
    return { runId: store().createRun({ trigger, service, origin }).id, coalesced: false };
  };
  return {
    calls,
    deployAllChanged: (origin: 'webhook' | 'api' | 'restart') => make('deploy-all-changed', null, origin),
    redeployAndUpdate: (service: string, origin: 'webhook' | 'api' | 'restart') => make('redeploy-and-update', service, origin),
    deployService: (service: string, origin: 'webhook' | 'api' | 'restart', options?: { force?: boolean }) => make('deploy-service', service, origin, options?.force),
  };
}

/** Parses an SSE body into events. */
function parseSse(text: string): Array<{ id?: string; event?: string; data?: unknown }> {
  return text
    .split('\n\n')
    .filter((block) => block.split('\n').some((line) => line.startsWith('event:')))
    .map((block) => {
      const event: { id?: string; event?: string; data?: unknown } = {};
      for (const line of block.split('\n')) {
        const [field, ...rest] = line.split(': ');
        const value = rest.join(': ');
        if (field === 'id') event.id = value;
        if (field === 'event') event.event = value;
        if (field === 'data') event.data = JSON.parse(value);
      }
      return event;
    });
}

describe('management API', () => {
  let dir: string;
  let store: Store;
  let events: RunEventBus;
  let catalog: FakeServiceCatalog;
  let triggers: ReturnType<typeof storeTriggers>;
  let app: FastifyInstance;
  let plans: number;

  const build = (overrides: Partial<ServerDeps> = {}) =>
    buildServer({
      logger: pino({ level: 'silent' }),
      webhookSecret: 'webhook-secret-0123456789',
      maxBodyBytes: 64 * 1024,
      serverName: 'home-deploy',
      version: '0.1.0-test',
      startedAt: '2024-05-01T10:00:00.000Z',
      apiToken: TOKEN,
      store,
      events,
      catalog,
      metrics: countingMetrics(),
      services: async () => ({ commit: 'c0ffee', services: await catalog.discover() }),
      previewPlan: async (): Promise<PlanPreview> => {
        plans++;
        return { commit: 'abc', currentCommit: 'def', services: [{ service: 'app', decision: 'deploy', reason: 'changed: x', changedFiles: ['x'] }], counts: { deploy: 1, unchanged: 0, self: 0, problem: 0 } };
      },
      triggers,
      heartbeatMs: 50,
      ...overrides,
    });
  const get = (url: string, headers: Record<string, string> = auth) => app.inject({ method: 'GET', url, headers });
  const post = (url: string, headers: Record<string, string> = auth) => app.inject({ method: 'POST', url, headers });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'api-routes-test-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(async () => {
    store = openSqliteStore({ file: join(dir, `${Math.random().toString(36).slice(2)}.db`), clock: { now: () => new Date() } });
    events = new RunEventBus(store);
    catalog = new FakeServiceCatalog([fakeServiceSource('app'), fakeServiceSource('db', { runtime: 'docker', composeFile: 'docker-compose.yml' })]);
    triggers = storeTriggers(() => store);
    plans = 0;
    app = build();
    await app.ready();
  });
  afterEach(async () => {
    await app.close();
    store.close();
  });

  describe('authentication', () => {
    it('is off, never open, without a configured token', async () => {
      await app.close();
      app = build({ apiToken: undefined });
      for (const [method, url] of [['GET', '/api/services'], ['GET', '/api/runs'], ['POST', '/api/deploy'], ['POST', '/api/plan']] as const) {
        const response = await app.inject({ method, url, headers: auth });
        assert.equal(response.statusCode, 403, url);
        assert.equal(response.json().error.code, 'API_DISABLED');
      }
      assert.equal(triggers.calls.length, 0);
      assert.equal(plans, 0);
    });

    it('refuses a request without a bearer token, saying how to authenticate', async () => {
      const response = await get('/api/services', {});
      assert.equal(response.statusCode, 401);
      assert.equal(response.json().error.code, 'API_TOKEN_MISSING');
      assert.match(String(response.headers['www-authenticate']), /^Bearer/);
    });

    it('refuses a wrong token, a token of another scheme, and triggers nothing', async () => {
      for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, 'Bearer']) {
        const response = await post('/api/deploy', { authorization });
        assert.equal(response.statusCode, 401, authorization);
        assert.match(response.json().error.code, /^API_TOKEN_(INVALID|MISSING)$/);
      }
      assert.equal(triggers.calls.length, 0);
    });

    it('does not take the webhook signature or the token on the other kind of route', async () => {
      const response = await app.inject({ method: 'POST', url: '/deploy-all-changed', headers: auth });
      assert.equal(response.statusCode, 401);
      assert.equal(response.json().error.code, 'SIGNATURE_MISSING');
    });

    it('answers with the right token', async () => {
      const response = await get('/api/version');
      assert.equal(response.statusCode, 200);
      assert.equal(response.json().name, 'home-deploy');
      assert.equal(response.json().version, '0.1.0-test');
    });
  });

  describe('services', () => {
    it('lists services with their state, filtered by name', async () => {
      const app1 = catalog.services[0]!;
      store.saveDeployedState({ service: 'app', fingerprint: app1.fingerprint, files: app1.files, commit: 'abc123', deployedAt: '2024-05-01T09:00:00.000Z', images: {} });
      catalog.services.push(fakeServiceSource('broken', { problem: { code: 'COMPOSE_FILE_AMBIGUOUS', message: 'two compose files' } }));
      catalog.services.push(fakeServiceSource('home-deploy'));
      const body = (await get('/api/services')).json();
      assert.equal(body.commit, 'c0ffee');
      assert.deepEqual(
        body.services.map((s: { name: string; state: string }) => [s.name, s.state]),
        [['app', 'in-sync'], ['broken', 'problem'], ['db', 'never-deployed'], ['home-deploy', 'self']],
      );
      const filtered = (await get('/api/services?q=AP')).json();
      assert.deepEqual(filtered.services.map((s: { name: string }) => s.name), ['app']);
    });

    it('lists a deployed service gone from the checkout as orphaned, and answers a pruned one as removed with its tombstone', async () => {
      const compose = { runtime: 'podman' as const, projectName: 'old', composeFile: 'podman-compose.yml', text: 'services: {}\n' };
      store.saveDeployedState({ service: 'old', fingerprint: 'f', files: {}, commit: 'abc', deployedAt: '2024-05-01T09:00:00.000Z', images: {}, compose });
      const listed = (await get('/api/services')).json().services.map((s: { name: string; state: string; runtime: string | null }) => [s.name, s.state, s.runtime]);
      assert.deepEqual(listed, [['app', 'never-deployed', 'podman'], ['db', 'never-deployed', 'docker'], ['old', 'orphaned', 'podman']]);
      assert.equal((await get('/api/services/old')).json().service.state, 'orphaned');

      const run = store.createRun({ trigger: 'deploy-all-changed', service: null });
      const tombstone = store.createDeployment({ runId: run.id, service: 'old', action: 'prune', status: 'running', reason: 'services/old removed in git', commit: 'def' });
      store.recordPrune(tombstone.id, { status: 'succeeded' }, 'old');
      assert.deepEqual((await get('/api/services')).json().services.map((s: { name: string }) => s.name), ['app', 'db']);
      const detail = (await get('/api/services/old')).json();
      assert.equal(detail.service.state, 'removed');
      assert.deepEqual(detail.history.map((d: { action: string; status: string }) => [d.action, d.status]), [['prune', 'succeeded']]);
      assert.equal((await get('/api/services/never-there')).statusCode, 404);
    });

    it('marks a changed service and one whose last deployment failed', async () => {
      const [appSource, dbSource] = catalog.services;
      store.saveDeployedState({ service: 'app', fingerprint: 'old', files: { 'podman-compose.yml': 'old' }, commit: 'a', deployedAt: 'x', images: {} });
      store.saveDeployedState({ service: 'db', fingerprint: dbSource!.fingerprint, files: dbSource!.files, commit: 'a', deployedAt: 'x', images: {} });
      const run = store.createRun({ trigger: 'deploy-all-changed', service: null });
      const d = store.createDeployment({ runId: run.id, service: 'db', action: 'deploy', status: 'queued', reason: 'r', commit: 'a' });
      store.updateDeployment(d.id, { status: 'failed', errorCode: 'COMPOSE_FAILED', error: 'boom' });
      const body = (await get('/api/services')).json();
      const byName = Object.fromEntries(body.services.map((s: { name: string }) => [s.name, s]));
      assert.equal(byName.app.state, 'changed');
      assert.equal(appSource!.name, 'app');
      assert.equal(byName.db.state, 'failed');
      assert.deepEqual(byName.db.lastDeployment.error, { code: 'COMPOSE_FAILED', message: 'boom' });
    });

    it('shows one service with its files, deployed images and paginated history', async () => {
      const source = catalog.services[0]!;
      store.saveDeployedState({
        service: 'app',
        fingerprint: 'old',
        files: { 'podman-compose.yml': 'old-digest', 'gone.conf': 'g' },
        commit: 'abc',
        deployedAt: '2024-05-01T09:00:00.000Z',
        images: { web: 'sha256:11' },
      });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const run = store.createRun({ trigger: 'deploy-all-changed', service: null });
        ids.push(store.createDeployment({ runId: run.id, service: 'app', action: 'deploy', status: 'succeeded', reason: `r${i}`, commit: 'abc' }).id);
      }
      const first = (await get('/api/services/app?limit=2')).json();
      assert.equal(first.service.name, 'app');
      assert.deepEqual(first.deployed, { commit: 'abc', deployedAt: '2024-05-01T09:00:00.000Z', images: { web: 'sha256:11' } });
      assert.deepEqual(first.files, [
        { path: 'gone.conf', digest: null, deployedDigest: 'g', changed: true },
        { path: 'podman-compose.yml', digest: source.files['podman-compose.yml'], deployedDigest: 'old-digest', changed: true },
      ]);
      assert.deepEqual(first.history.map((d: { reason: string }) => d.reason), ['r4', 'r3']);
      const second = (await get(`/api/services/app?limit=2&before=${first.next}`)).json();
      assert.deepEqual(second.history.map((d: { reason: string }) => d.reason), ['r2', 'r1']);
      const last = (await get(`/api/services/app?limit=2&before=${second.next}`)).json();
      assert.deepEqual(last.history.map((d: { reason: string }) => d.reason), ['r0']);
      assert.equal(last.next, null);
      assert.equal(last.history[0].id, ids[0]);
    });

    it('answers 404 for an unknown service and 400 for a bad name or query', async () => {
      assert.equal((await get('/api/services/nope')).json().error.code, 'UNKNOWN_SERVICE');
      const bad = await get('/api/services/a%20b');
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json().error.code, 'INVALID_SERVICE_NAME');
      for (const query of ['limit=0', 'limit=201', 'limit=ten', 'before=a%20b']) {
        const response = await get(`/api/services/app?${query}`);
        assert.equal(response.statusCode, 400, query);
        assert.equal(response.json().error.code, 'INVALID_QUERY');
      }
    });
  });

  describe('runs', () => {
    it('pages through runs newest first with counts', async () => {
      for (let i = 0; i < 25; i++) {
        const run = store.createRun({ trigger: i % 2 ? 'redeploy-and-update' : 'deploy-all-changed', service: i % 2 ? 'app' : null, origin: 'webhook' });
        if (i === 24) {
          store.createDeployment({ runId: run.id, service: 'app', action: 'deploy', status: 'succeeded', reason: 'r', commit: null });
          store.createDeployment({ runId: run.id, service: 'db', action: 'deploy', status: 'failed', reason: 'r', commit: null });
          store.createDeployment({ runId: run.id, service: 'server', action: 'deploy', status: 'rolled-back', reason: 'r', commit: null });
          store.createDeployment({ runId: run.id, service: 'web', action: 'skip', status: 'skipped', reason: 'r', commit: null });
        }
      }
      const seen: string[] = [];
      let url = '/api/runs?limit=10';
      const pages: number[] = [];
      for (;;) {
        const body = (await get(url)).json();
        pages.push(body.runs.length);
        seen.push(...body.runs.map((r: { id: string }) => r.id));
        if (!body.next) break;
        url = `/api/runs?limit=10&before=${body.next}`;
      }
      assert.deepEqual(pages, [10, 10, 5]);
      assert.equal(new Set(seen).size, 25);
      const newest = (await get('/api/runs?limit=1')).json().runs[0];
      assert.equal(newest.id, seen[0]);
      assert.deepEqual(newest.counts, { deployed: 3, succeeded: 1, failed: 2, skipped: 1 });
      assert.deepEqual(newest.services, ['app', 'db', 'server']);
      assert.equal(newest.origin, 'webhook');
    });

    it('shows one run and answers 404 for an unknown one', async () => {
      const run = store.createRun({ trigger: 'deploy-all-changed', service: null, origin: 'api' });
      const d = store.createDeployment({ runId: run.id, service: 'app', action: 'deploy', status: 'queued', reason: 'new service', commit: null });
      store.updateDeployment(d.id, { status: 'succeeded', output: 'Container app Started' });
      const body = (await get(`/api/runs/${run.id}`)).json();
      assert.equal(body.origin, 'api');
      assert.equal(body.deployments[0].output, 'Container app Started');
      assert.equal((await get('/api/runs/r_missing')).json().error.code, 'RUN_NOT_FOUND');
    });
  });

  describe('run events (SSE)', () => {
    it('replays a finished run and ends the stream; resumes after Last-Event-ID', async () => {
      const run = store.createRun({ trigger: 'deploy-all-changed', service: null });
      events.publish(run.id, 'run', { runId: run.id, status: 'running' });
      const out = events.outputSink(run.id, 'd1', 'app');
      out.write('line one\nline t');
      out.write('wo\n');
      store.updateRun(run.id, { status: 'succeeded' });
      events.publish(run.id, 'end', { runId: run.id, status: 'succeeded' });

      const response = await get(`/api/runs/${run.id}/events`);
      assert.equal(response.statusCode, 200);
      assert.match(String(response.headers['content-type']), /^text\/event-stream/);
      const all = parseSse(response.body);
      assert.deepEqual(all.map((e) => e.event), ['run', 'output', 'output', 'end']);
      assert.deepEqual(all.filter((e) => e.event === 'output').map((e) => (e.data as { line: string }).line), ['line one', 'line two']);

      const resumed = parseSse((await get(`/api/runs/${run.id}/events`, { ...auth, 'last-event-id': all[1]!.id! })).body);
      assert.deepEqual(resumed.map((e) => e.event), ['output', 'end']);
      assert.equal((resumed[0]!.data as { line: string }).line, 'line two');
      const byQuery = parseSse((await get(`/api/runs/${run.id}/events?after=${all[2]!.id}`)).body);
      assert.deepEqual(byQuery.map((e) => e.event), ['end']);
    });

    it('ends the stream of a run that finished without an end event', async () => {
      const run = store.createRun({ trigger: 'deploy-all-changed', service: null });
      store.updateRun(run.id, { status: 'failed' });
      const body = parseSse((await get(`/api/runs/${run.id}/events`)).body);
      assert.deepEqual(body.map((e) => [e.event, (e.data as { status: string }).status]), [['end', 'failed']]);
    });

    it('streams live events of a running run to a real HTTP client until end', async () => {
      const address = await app.listen({ port: 0, host: '127.0.0.1' });
      const run = store.createRun({ trigger: 'deploy-all-changed', service: null });
      events.publish(run.id, 'run', { runId: run.id, status: 'running' });
      const response = await fetch(`${address}/api/runs/${run.id}/events`, { headers: auth });
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      const readUntil = async (pattern: RegExp) => {
        while (!pattern.test(text)) {
          const { value, done } = await reader.read();
          if (done) break;
          text += decoder.decode(value, { stream: true });
        }
      };
      await readUntil(/event: run/);
      events.outputSink(run.id, 'd1', 'app').write('pulling image\n');
      await readUntil(/pulling image/);
      await readUntil(/: ping/);
      events.publish(run.id, 'end', { runId: run.id, status: 'succeeded' });
      await readUntil(/event: end/);
      const { done } = await reader.read();
      assert.equal(done, true, 'the server closes the stream after end');
      assert.deepEqual(parseSse(text).map((e) => e.event), ['run', 'output', 'end']);
    });

    it('answers 404 for the events of an unknown run', async () => {
      const response = await get('/api/runs/r_nope/events');
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().error.code, 'RUN_NOT_FOUND');
    });
  });

  describe('while the server stops', () => {
    it('answers a request that arrives during the stop with 503 SERVER_STOPPING and a retry hint', async () => {
      await app.close();
      let release!: () => void;
      const planRunning = new Promise<void>((resolve) => (release = resolve));
      let planStarted!: () => void;
      const started = new Promise<void>((resolve) => (planStarted = resolve));
      app = build({
        previewPlan: async () => {
          planStarted();
          await planRunning;
          return { commit: 'a', currentCommit: 'a', services: [], counts: { deploy: 0, unchanged: 0, self: 0, problem: 0 } };
        },
      });
      const address = new URL(await app.listen({ port: 0, host: '127.0.0.1' }));
      // Two requests pipelined on one connection: the second is read while the first is running.
      const socket = connect(Number(address.port), '127.0.0.1');
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString('utf8')));
      const ended = new Promise((resolve) => socket.on('close', resolve));
      socket.write(`POST /api/plan HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 0\r\n\r\n`);
      await started;
      const closing = app.close();
      const signature = signBody('webhook-secret-0123456789', new Uint8Array());
      socket.write(`POST /deploy-all-changed HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: ${signature}\r\nContent-Length: 0\r\n\r\n`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      release();
      await ended;
      await closing;
      const answers = text.split(/(?=HTTP\/1\.1 )/);
      assert.equal(answers.length, 2, text);
      assert.match(answers[0]!, /^HTTP\/1\.1 200/);
      assert.match(answers[1]!, /^HTTP\/1\.1 503/);
      assert.match(answers[1]!, /retry-after: 5/i);
      assert.match(answers[1]!, /"code":"SERVER_STOPPING"/);
      assert.equal(triggers.calls.length, 0, 'nothing was accepted by the stopping server');
      app = build();
    });
  });

  describe('plan and actions', () => {
    it('previews the plan', async () => {
      const response = await post('/api/plan');
      assert.equal(response.statusCode, 200);
      assert.equal(response.json().services[0].decision, 'deploy');
      assert.equal(plans, 1);
    });

    it('triggers a deploy-all, a service redeploy and an image update, as the API', async () => {
      const all = await post('/api/deploy');
      assert.equal(all.statusCode, 202);
      assert.equal(all.json().status, 'queued');
      assert.ok(store.getRun(all.json().runId));
      assert.equal((await post('/api/services/app/deploy')).statusCode, 202);
      assert.equal((await post('/api/services/db/update')).statusCode, 202);
      assert.deepEqual(triggers.calls, [
        { trigger: 'deploy-all-changed', service: null, origin: 'api' },
        { trigger: 'deploy-service', service: 'app', origin: 'api' },
        { trigger: 'redeploy-and-update', service: 'db', origin: 'api' },
      ]);
    });

    it('queues a forced redeploy from the body or the query, and refuses a force that is not a boolean', async () => {
      triggers.calls.length = 0;
      const postJson = (url: string, body: unknown) => app.inject({ method: 'POST', url, headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      const byBody = await postJson('/api/services/app/deploy', { force: true });
      assert.equal(byBody.statusCode, 202);
      assert.equal(byBody.json().force, true);
      assert.equal((await post('/api/services/app/deploy?force=true')).statusCode, 202);
      assert.equal((await postJson('/api/services/app/deploy', { force: false })).statusCode, 202);
      const bad = await postJson('/api/services/app/deploy', { force: 'yes please' });
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json().error.code, 'INVALID_QUERY');
      assert.deepEqual(triggers.calls, [
        { trigger: 'deploy-service', service: 'app', origin: 'api', force: true },
        { trigger: 'deploy-service', service: 'app', origin: 'api', force: true },
        { trigger: 'deploy-service', service: 'app', origin: 'api' },
      ]);
    });

    describe('rollback and unpin', () => {
      const succeed = (commit: string, fingerprint: string) => {
        const run = store.createRun({ trigger: 'deploy-all-changed', service: null });
        const d = store.createDeployment({ runId: run.id, service: 'app', action: 'deploy', status: 'running', reason: 'changed', commit });
        store.recordSuccess(d.id, { status: 'succeeded' }, { service: 'app', fingerprint, files: {}, commit, deployedAt: new Date().toISOString(), images: { app: `img-${fingerprint}` } });
        return d.id;
      };
      const rollbacks: Array<{ service: string; target: string; origin: string }> = [];
      const withRollback = async () => {
        await app.close();
        app = build({
          rollbackService: (service, target, origin) => {
            rollbacks.push({ service, target, origin });
            return { runId: store.createRun({ trigger: 'rollback-service', service, origin, target }).id, coalesced: false };
          },
        });
        await app.ready();
        rollbacks.length = 0;
      };
      const postJson = (url: string, body: unknown) => app.inject({ method: 'POST', url, headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });

      it('queues a rollback to the success before the current by default, or to the one named by id or commit', async () => {
        await withRollback();
        const first = succeed('a'.repeat(40), 'fp1');
        const second = succeed('b'.repeat(40), 'fp2');
        succeed('c'.repeat(40), 'fp3');
        const byDefault = await postJson('/api/services/app/rollback', {});
        assert.equal(byDefault.statusCode, 202);
        assert.deepEqual(byDefault.json().target, { deploymentId: second, commit: 'b'.repeat(40) });
        assert.equal(store.getRun(byDefault.json().runId)?.target, second);
        assert.equal((await postJson('/api/services/app/rollback', { to: 'aaaaaaa' })).json().target.deploymentId, first);
        assert.equal((await postJson('/api/services/app/rollback', { to: first })).json().target.deploymentId, first);
        assert.deepEqual(rollbacks.map((r) => r.target), [second, first, first]);
        assert.equal(rollbacks[0]?.origin, 'api');
      });

      it('answers 404 for a target that is no success of the service, 400 for a bad body, and triggers nothing', async () => {
        await withRollback();
        const missing = await postJson('/api/services/app/rollback', { to: 'deadbeef' });
        assert.equal(missing.statusCode, 404);
        assert.equal(missing.json().error.code, 'ROLLBACK_TARGET_NOT_FOUND');
        assert.equal((await postJson('/api/services/app/rollback', {})).json().error.code, 'ROLLBACK_TARGET_NOT_FOUND', 'nothing earlier to go back to');
        assert.equal((await postJson('/api/services/app/rollback', { to: 5 })).statusCode, 400);
        assert.equal((await postJson('/api/services/nope/rollback', {})).json().error.code, 'UNKNOWN_SERVICE');
        assert.deepEqual(rollbacks, []);
      });

      it('unpins a pinned service and shows pinned services with their commit', async () => {
        const id = succeed('a'.repeat(40), 'fp1');
        const run = store.createRun({ trigger: 'rollback-service', service: 'app', target: id });
        const d = store.createDeployment({ runId: run.id, service: 'app', action: 'deploy', status: 'running', reason: 'rollback', commit: 'a'.repeat(40) });
        store.recordSuccess(d.id, { status: 'succeeded' }, { service: 'app', fingerprint: 'fp1', files: {}, commit: 'a'.repeat(40), deployedAt: new Date().toISOString(), images: {} }, {
          service: 'app', commit: 'a'.repeat(40), gitFingerprint: 'fp-git', reason: 'manual', deploymentId: d.id, pinnedAt: new Date().toISOString(),
        });
        const listed = (await get('/api/services')).json().services.find((s: { name: string }) => s.name === 'app');
        assert.equal(listed.state, 'pinned');
        assert.equal(listed.pinned.commit, 'a'.repeat(40));
        assert.equal((await get('/api/services/app')).json().service.pinned.reason, 'manual');
        const unpinned = await post('/api/services/app/unpin');
        assert.equal(unpinned.statusCode, 200);
        assert.deepEqual(unpinned.json(), { service: 'app', unpinned: true, was: { commit: 'a'.repeat(40), reason: 'manual' } });
        assert.equal(store.getPin('app'), undefined);
        assert.equal((await post('/api/services/app/unpin')).json().unpinned, false);
        assert.notEqual((await get('/api/services')).json().services.find((s: { name: string }) => s.name === 'app').state, 'pinned');
      });
    });

    it('refuses actions on unknown or badly named services without triggering', async () => {
      assert.equal((await post('/api/services/nope/deploy')).json().error.code, 'UNKNOWN_SERVICE');
      assert.equal((await post('/api/services/a%2Fb/update')).statusCode, 400);
      assert.equal(triggers.calls.length, 0);
    });
  });
});
