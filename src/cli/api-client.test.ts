import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApiClient, ApiError, ServerUnreachableError } from './api-client.js';
import type { RunEvent } from './api-types.js';
import { ExitCode } from './exit-codes.js';

type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void;

/** A real HTTP server on port 0 whose handler each test sets. */
describe('ApiClient', () => {
  let server: http.Server;
  let handler: Handler = () => {};
  let baseUrl: string;

  before(async () => {
    server = http.createServer((request, response) => handler(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections(); // the test that never answers leaves one open
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const client = (options: Partial<ConstructorParameters<typeof ApiClient>[0]> = {}) =>
    new ApiClient({ baseUrl, token: 'secret-token', timeoutMs: 2_000, sleep: async () => {}, ...options });

  const json = (response: http.ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  };

  it('sends the bearer token and the query, and returns the JSON answer', async () => {
    let seen: { authorization?: string; url?: string } = {};
    handler = (request, response) => {
      seen = { authorization: request.headers.authorization, url: request.url };
      json(response, 200, { runs: [] });
    };
    assert.deepEqual(await client().get('/api/runs', { limit: 5, before: undefined }), { runs: [] });
    assert.deepEqual(seen, { authorization: 'Bearer secret-token', url: '/api/runs?limit=5' });
  });

  it('POSTs a body as JSON when given one (a rollback target), and none otherwise', async () => {
    const seen: Array<{ type?: string; body: string }> = [];
    handler = (request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        seen.push({ type: request.headers['content-type'], body });
        json(response, 202, { runId: 'r1' });
      });
    };
    await client().post('/api/services/app/rollback', { body: { to: '1a2b3c4' } });
    await client().post('/api/services/app/unpin');
    assert.deepEqual(seen, [{ type: 'application/json', body: '{"to":"1a2b3c4"}' }, { type: undefined, body: '' }]);
  });

  it("maps the API's error shape to ApiError: 404 exits 4, 401 and 403 exit 3", async () => {
    for (const [status, code, exitCode] of [
      [404, 'UNKNOWN_SERVICE', ExitCode.apiError],
      [401, 'API_TOKEN_INVALID', ExitCode.unreachable],
      [403, 'API_DISABLED', ExitCode.unreachable],
      [500, 'INTERNAL', ExitCode.apiError],
    ] as const) {
      handler = (_request, response) => json(response, status, { error: { code, message: `said ${status}` } });
      const error = await client().post('/api/deploy').catch((e: unknown) => e);
      assert.ok(error instanceof ApiError);
      assert.deepEqual([error.status, error.code, error.message, error.exitCode], [status, code, `said ${status}`, exitCode]);
    }
  });

  it('maps another answer (a proxy page) to HTTP_<status>', async () => {
    handler = (_request, response) => {
      response.writeHead(502, { 'content-type': 'text/html' });
      response.end('<html>Bad Gateway</html>');
    };
    const error = await client().get('/api/services').catch((e: unknown) => e);
    assert.ok(error instanceof ApiError);
    assert.equal(error.code, 'HTTP_502');
    assert.equal(error.exitCode, ExitCode.apiError);
  });

  it('reports a refused connection and a timeout as unreachable (exit 3)', async () => {
    const refused = await new ApiClient({ baseUrl: 'http://127.0.0.1:9', token: 't', timeoutMs: 2_000 }).get('/api/services').catch((e: unknown) => e);
    assert.ok(refused instanceof ServerUnreachableError);
    assert.equal(refused.exitCode, ExitCode.unreachable);
    handler = () => {}; // never answers
    const slow = await client({ timeoutMs: 200 }).get('/api/services').catch((e: unknown) => e);
    assert.ok(slow instanceof ServerUnreachableError);
    assert.match(slow.message, /did not answer within/);
  });

  it('follows run events to `end`, resuming with Last-Event-ID after the connection drops', async () => {
    const lastEventIds: Array<string | undefined> = [];
    handler = (request, response) => {
      const lastId = request.headers['last-event-id'] as string | undefined;
      lastEventIds.push(lastId);
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      if (lastId === undefined) {
        response.write('retry: 2000\n\nid: 1\nevent: run\ndata: {"runId":"r_1","status":"running","commit":null,"error":null}\n\n');
        response.write('id: 2\nevent: output\ndata: {"runId":"r_1","deploymentId":"d_1","service":"app","line":"pulling"}\n\n');
        // Half an event, then the connection dies.
        response.write('id: 3\nevent: output\ndata: {"runId"');
        setTimeout(() => response.socket?.destroy(), 20);
      } else {
        response.write(': ping\n\n');
        response.write('id: 3\nevent: output\ndata: {"runId":"r_1","deploymentId":"d_1","service":"app","line":"done"}\n\n');
        response.write('id: 4\nevent: end\ndata: {"runId":"r_1","status":"succeeded"}\n\n');
        // The server closes after `end`; the client must not wait for that either.
      }
    };
    const events: RunEvent[] = [];
    const reconnects: string[] = [];
    const end = await client().followRunEvents('r_1', { onEvent: (e) => events.push(e), onReconnect: ({ reason }) => reconnects.push(reason) });
    assert.deepEqual(end, { runId: 'r_1', status: 'succeeded' });
    assert.deepEqual(events.map((e) => [e.id, e.event]), [['1', 'run'], ['2', 'output'], ['3', 'output'], ['4', 'end']]);
    assert.deepEqual(lastEventIds, [undefined, '2'], 'resumed after the last whole event');
    assert.equal(reconnects.length, 1);
  });

  it('treats a silent stream as lost and resumes it', async () => {
    let connections = 0;
    handler = (_request, response) => {
      connections++;
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      if (connections === 1) response.write('id: 1\nevent: run\ndata: {"runId":"r_1","status":"running","commit":null,"error":null}\n\n');
      else response.end('id: 2\nevent: end\ndata: {"runId":"r_1","status":"failed"}\n\n');
    };
    const end = await client().followRunEvents('r_1', { onEvent: () => {}, idleTimeoutMs: 200 });
    assert.deepEqual(end, { runId: 'r_1', status: 'failed' });
    assert.equal(connections, 2);
  });

  it('fails at once when the first connection is refused with an API error (unknown run)', async () => {
    handler = (_request, response) => json(response, 404, { error: { code: 'RUN_NOT_FOUND', message: 'No run has that id' } });
    const error = await client().followRunEvents('r_nope', { onEvent: () => {} }).catch((e: unknown) => e);
    assert.ok(error instanceof ApiError);
    assert.equal(error.code, 'RUN_NOT_FOUND');
  });

  it('gives up (exit 3) when a lost stream cannot be resumed in time', async () => {
    let now = 0;
    let connections = 0;
    handler = (request, response) => {
      connections++;
      if (connections === 1) {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write('id: 1\nevent: run\ndata: {"runId":"r_1","status":"running","commit":null,"error":null}\n\n');
        setTimeout(() => response.socket?.destroy(), 20);
      } else {
        request.socket.destroy(); // the server went away
      }
    };
    const error = await client({ now: () => now, sleep: async () => void (now += 10_000) })
      .followRunEvents('r_1', { onEvent: () => {}, reconnectForMs: 30_000 })
      .catch((e: unknown) => e);
    assert.ok(error instanceof ServerUnreachableError, String(error));
    assert.match(error.message, /could not resume it within 30 s/);
  });
});
