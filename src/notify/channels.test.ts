import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  buildChatPayload,
  ChannelHttpError,
  createChannels,
  createNtfySender,
  createSlackSender,
  createWebhookSender,
  describeChannels,
  DISCORD_MAX_CHARS,
  encodeHeaderText,
  NTFY_MAX_BODY_BYTES,
  truncateUtf8,
} from './channels.js';
import { buildNotification, type Notification, type RunOutcome } from './outcome.js';
import { disabledNotifySettings } from './settings.js';

interface Call {
  url: string;
  method: string | undefined;
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal | null | undefined;
}

/** A fetch that records what it was asked and answers with the given status. */
function fakeFetch(status = 200, answer = 'ok') {
  const calls: Call[] = [];
  const impl = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const body = init?.body;
    calls.push({
      url: String(input),
      method: init?.method,
      headers: Object.fromEntries(new Headers(init?.headers).entries()),
      body: typeof body === 'string' ? body : Buffer.from(body as Uint8Array).toString('utf8'),
      signal: init?.signal,
    });
    return new Response(status === 204 ? null : answer, { status });
  };
  return { calls, fetch: impl as typeof fetch };
}

function notification(overrides: Partial<RunOutcome> = {}, kind: 'failure' | 'success' = 'failure'): Notification {
  const outcome: RunOutcome = {
    serverName: 'home-server',
    dashboardUrl: 'https://deploy.example.com/#/runs/run-7',
    run: {
      id: 'run-7',
      trigger: 'deploy-all-changed',
      service: null,
      status: kind === 'failure' ? 'failed' : 'succeeded',
      commit: 'abcdef0123456789',
      error: null,
      startedAt: null,
      finishedAt: null,
    },
    deployments: [
      {
        service: 'my_app',
        action: 'deploy',
        status: kind === 'failure' ? 'failed' : 'succeeded',
        reason: 'new service',
        error: kind === 'failure' ? { code: 'COMPOSE_FAILED', message: 'exit 1 <@everyone> & *boom*' } : null,
        previousStatus: null,
      },
    ],
    ...overrides,
  };
  const n = buildNotification(outcome, { onSuccess: true });
  assert.ok(n);
  return n;
}

const signal = new AbortController().signal;

describe('ntfy sender', () => {
  it('posts the text with title, priority, tags, click and a bearer token', async () => {
    const fake = fakeFetch();
    const n = notification();
    await createNtfySender({ url: 'https://ntfy.example.com/deploys', token: 'tk_secret', fetch: fake.fetch })(n, signal);
    const [call] = fake.calls;
    assert.ok(call);
    assert.equal(call.url, 'https://ntfy.example.com/deploys');
    assert.equal(call.method, 'POST');
    assert.equal(call.body, n.text);
    assert.equal(call.signal, signal);
    assert.equal(call.headers['title'], '[home-server] deploy failed: my_app (commit abcdef0)');
    assert.equal(call.headers['priority'], 'high');
    assert.equal(call.headers['tags'], 'rotating_light,home-server');
    assert.equal(call.headers['click'], 'https://deploy.example.com/#/runs/run-7');
    assert.equal(call.headers['authorization'], 'Bearer tk_secret');
  });

  it('uses low priority for success and leaves out what is not set', async () => {
    const fake = fakeFetch();
    await createNtfySender({ url: 'https://ntfy.sh/t', fetch: fake.fetch })(notification({ dashboardUrl: null }, 'success'), signal);
    const headers = fake.calls[0]?.headers ?? {};
    assert.equal(headers['priority'], 'low');
    assert.equal(headers['tags'], 'rocket,home-server');
    assert.equal(headers['click'], undefined);
    assert.equal(headers['authorization'], undefined);
  });

  it('moves user:pass out of the URL into Basic auth', async () => {
    const fake = fakeFetch();
    await createNtfySender({ url: 'https://al%40ice:p%3Ass@ntfy.example.com/t', fetch: fake.fetch })(notification(), signal);
    assert.equal(fake.calls[0]?.url, 'https://ntfy.example.com/t');
    assert.equal(fake.calls[0]?.headers['authorization'], `Basic ${Buffer.from('al@ice:p:ss').toString('base64')}`);
  });

  it('encodes a non-ASCII title as RFC 2047', async () => {
    const fake = fakeFetch();
    await createNtfySender({ url: 'https://ntfy.sh/t', fetch: fake.fetch })(notification({ serverName: 'café' }), signal);
    const title = fake.calls[0]?.headers['title'] ?? '';
    const match = /^=\?UTF-8\?B\?([A-Za-z0-9+/=]+)\?=$/.exec(title);
    assert.ok(match, title);
    assert.equal(Buffer.from(match[1]!, 'base64').toString('utf8'), '[café] deploy failed: my_app (commit abcdef0)');
    assert.equal(fake.calls[0]?.headers['tags'], 'rotating_light,caf');
  });

  it('keeps the body under the ntfy message limit', async () => {
    const fake = fakeFetch();
    const many = Array.from({ length: 200 }, (_, i) => ({
      service: `service-${i}`,
      action: 'deploy' as const,
      status: 'failed',
      reason: 'changed: compose.yaml',
      error: { code: 'COMPOSE_FAILED', message: 'é'.repeat(100) },
      previousStatus: null,
    }));
    await createNtfySender({ url: 'https://ntfy.sh/t', fetch: fake.fetch })(notification({ deployments: many }), signal);
    const body = fake.calls[0]?.body ?? '';
    assert.ok(Buffer.byteLength(body) <= NTFY_MAX_BODY_BYTES);
    assert.ok(body.endsWith('\n…'));
  });

  it('throws ChannelHttpError with the status and the start of the answer', async () => {
    const fake = fakeFetch(403, '{"code":40301,"error":"forbidden"}');
    await assert.rejects(createNtfySender({ url: 'https://ntfy.sh/t', fetch: fake.fetch })(notification(), signal), (error: unknown) => {
      assert.ok(error instanceof ChannelHttpError);
      assert.equal(error.status, 403);
      assert.equal(error.message, 'ntfy answered HTTP 403: {"code":40301,"error":"forbidden"}');
      return true;
    });
  });
});

describe('slack/discord sender', () => {
  it('posts text for Slack and content for Discord, each escaped for its reader', async () => {
    const fake = fakeFetch(204, '');
    const n = notification();
    await createSlackSender({ url: 'https://hooks.slack.com/services/T/B/X', fetch: fake.fetch })(n, signal);
    const call = fake.calls[0];
    assert.ok(call);
    assert.equal(call.headers['content-type'], 'application/json');
    const body = JSON.parse(call.body) as { text: string; content: string; allowed_mentions: unknown };
    assert.ok(body.text.startsWith('*[home-server] deploy failed: my_app (commit abcdef0)*\n'));
    assert.match(body.text, /exit 1 &lt;@everyone&gt; &amp; \*boom\*/);
    assert.ok(body.content.startsWith('**[home-server] deploy failed: my\\_app (commit abcdef0)**\n'));
    assert.match(body.content, /exit 1 <@everyone> & \\\*boom\\\*/);
    assert.match(body.content, /Details: https:\/\/deploy\.example\.com\/#\/runs\/run-7$/);
    assert.deepEqual(body.allowed_mentions, { parse: [] });
  });

  it('keeps Discord content within 2000 characters', () => {
    const long = notification({
      deployments: Array.from({ length: 100 }, (_, i) => ({
        service: `svc${i}`,
        action: 'deploy' as const,
        status: 'failed',
        reason: 'new service',
        error: { code: 'COMPOSE_FAILED', message: 'x'.repeat(250) },
        previousStatus: null,
      })),
    });
    const payload = buildChatPayload(long);
    assert.equal([...payload.content].length, DISCORD_MAX_CHARS);
    assert.ok(payload.content.endsWith('…'));
  });

  it('throws on a non-2xx answer', async () => {
    const fake = fakeFetch(404, 'no_service');
    await assert.rejects(createSlackSender({ url: 'https://hooks.slack.com/x', fetch: fake.fetch })(notification(), signal), /slack answered HTTP 404: no_service/);
  });
});

describe('generic webhook sender', () => {
  it('posts the event as JSON with delivery headers and an HMAC over the exact body', async () => {
    const fake = fakeFetch();
    const n = notification();
    await createWebhookSender({ url: 'https://receiver.example.com/hook', secret: 'topsecret', fetch: fake.fetch })(n, signal);
    const call = fake.calls[0];
    assert.ok(call);
    assert.equal(call.headers['x-gitops-event'], 'deployment.failure');
    assert.equal(call.headers['x-gitops-delivery'], 'run-7');
    assert.equal(call.headers['user-agent'], 'gitops-deploy-server');
    assert.equal(call.headers['x-gitops-signature-256'], `sha256=${createHmac('sha256', 'topsecret').update(call.body).digest('hex')}`);
    const body = JSON.parse(call.body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ['event', 'server', 'title', 'text', 'dashboardUrl', 'run', 'services', 'deployments']);
    assert.equal(body['event'], 'deployment.failure');
    assert.equal(body['server'], 'home-server');
    assert.deepEqual(body['services'], { failed: ['my_app'], recovered: [], succeeded: [] });
    assert.deepEqual(body['run'], n.outcome.run);
    assert.deepEqual(body['deployments'], n.outcome.deployments);
  });

  it('sends no signature without a secret', async () => {
    const fake = fakeFetch();
    await createWebhookSender({ url: 'https://receiver.example.com/hook', fetch: fake.fetch })(notification({}, 'success'), signal);
    assert.equal(fake.calls[0]?.headers['x-gitops-signature-256'], undefined);
    assert.equal(fake.calls[0]?.headers['x-gitops-event'], 'deployment.success');
  });
});

describe('channel list', () => {
  const settings = {
    ...disabledNotifySettings,
    ntfy: { url: 'https://user:pw@ntfy.example.com/topic', token: undefined },
    slack: { url: 'https://hooks.slack.com/services/T/B/SECRET' },
    webhook: { url: 'http://10.0.0.5:9000/hook?key=SECRET', secret: 's' },
  };

  it('builds the configured channels in a fixed order', () => {
    assert.deepEqual(createChannels(settings).map((c) => c.name), ['ntfy', 'slack', 'webhook']);
    assert.deepEqual(createChannels(disabledNotifySettings), []);
  });

  it('describes targets without paths or credentials', () => {
    assert.deepEqual(describeChannels(settings), [
      { channel: 'ntfy', target: 'https://ntfy.example.com' },
      { channel: 'slack', target: 'https://hooks.slack.com' },
      { channel: 'webhook', target: 'http://10.0.0.5:9000' },
    ]);
  });
});

describe('header and byte helpers', () => {
  it('keeps ASCII, flattens lines, encodes the rest', () => {
    assert.equal(encodeHeaderText('plain [x] title'), 'plain [x] title');
    assert.equal(encodeHeaderText('two\r\nlines'), 'two lines');
    assert.equal(encodeHeaderText('ü'), `=?UTF-8?B?${Buffer.from('ü').toString('base64')}?=`);
  });

  it('truncates by UTF-8 bytes without splitting a character', () => {
    assert.equal(truncateUtf8('abc', 3), 'abc');
    const cut = truncateUtf8('ééééé', 8);
    assert.ok(Buffer.byteLength(cut) <= 8);
    assert.equal(cut, 'éé\n…');
  });
});
