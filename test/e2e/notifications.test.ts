// Notifications over real HTTP: a local receiver on 127.0.0.1 stands in for ntfy, Slack and a
// generic webhook endpoint, so headers, bodies and signatures are checked as they arrive on the wire.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createNotifier, type Notifier } from '../../src/notify/notifier.js';
import type { RunOutcome } from '../../src/notify/outcome.js';
import { readNotifySettings } from '../../src/notify/settings.js';

interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Records every request; `/flaky...` answers 500 the first time, `/hang...` never answers. */
class Receiver {
  readonly requests: Received[] = [];
  private readonly hanging: ServerResponse[] = [];
  private readonly seen = new Map<string, number>();
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '/';
      this.requests.push({ method: req.method ?? '', path, headers: req.headers, body: Buffer.concat(chunks) });
      const count = (this.seen.get(path) ?? 0) + 1;
      this.seen.set(path, count);
      if (path.startsWith('/hang')) return void this.hanging.push(res);
      if (path.startsWith('/flaky') && count === 1) return void res.writeHead(500).end('try again');
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
    });
  });
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  find(prefix: string): Received[] {
    return this.requests.filter((r) => r.path.startsWith(prefix));
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A port nothing listens on: bind one, then close it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

type LogLine = { level: number; msg: string; channel?: string; runId?: string; err?: { message: string; code?: string; status?: number } };

function notifierFor(env: Record<string, string>): { notifier: Notifier; logs: LogLine[]; warnings: () => LogLine[]; raw: () => string } {
  const { settings, problems } = readNotifySettings(env, () => {
    throw new Error('no files in this test');
  });
  assert.deepEqual(problems, []);
  const logs: LogLine[] = [];
  const rawLines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void (rawLines.push(line), logs.push(JSON.parse(line) as LogLine)) });
  return { notifier: createNotifier({ settings, logger }), logs, warnings: () => logs.filter((l) => l.level === 40), raw: () => rawLines.join('') };
}

const COMMIT = '9f8e7d6c5b4a39281706f5e4d3c2b1a098765432';
const failedOutcome: RunOutcome = {
  serverName: 'home-server',
  dashboardUrl: 'https://deploy.example.com/#/runs/run-42',
  run: {
    id: 'run-42',
    trigger: 'deploy-all-changed',
    service: null,
    status: 'failed',
    commit: COMMIT,
    error: null,
    startedAt: '2024-06-01T12:00:00.000Z',
    finishedAt: '2024-06-01T12:00:31.000Z',
  },
  deployments: [
    {
      service: 'paperless',
      action: 'deploy',
      status: 'failed',
      reason: 'changed: compose.yaml',
      error: { code: 'ENV_FILE_MISSING', message: 'env file not found: ../../secrets/paperless.env' },
      previousStatus: 'succeeded',
    },
    { service: 'grafana', action: 'deploy', status: 'succeeded', reason: 'changed: grafana.ini', error: null, previousStatus: 'failed' },
    { service: 'gitops-deploy-server', action: 'skip', status: 'skipped', reason: "the deploy server's own service is not redeployed by itself yet", error: null, previousStatus: null },
  ],
};

/** runFinished must hand the work off: it is timed to catch a send awaited on the caller's path. */
function timeRunFinished(notifier: Notifier, outcome: RunOutcome): number {
  const started = performance.now();
  notifier.runFinished(outcome);
  return performance.now() - started;
}

describe('notifications over HTTP', () => {
  const receiver = new Receiver();
  before(() => receiver.start());
  after(() => receiver.stop());

  it('delivers one message per run to ntfy, a Slack-style webhook and a signed JSON webhook', async () => {
    const secret = 'webhook-signing-secret';
    const { notifier, warnings, raw } = notifierFor({
      NOTIFY_NTFY_URL: `${receiver.url}/ntfy/deploys`,
      NOTIFY_NTFY_TOKEN: 'tk_ntfy_token_123',
      NOTIFY_SLACK_WEBHOOK_URL: `${receiver.url}/slack/T0001/B0001/slacksecretpath`,
      NOTIFY_WEBHOOK_URL: `${receiver.url}/hook`,
      NOTIFY_WEBHOOK_SECRET: secret,
    });
    assert.ok(timeRunFinished(notifier, failedOutcome) < 50);
    await notifier.flush();
    assert.equal(receiver.requests.length, 3, 'one request per channel, not one per service');

    const [ntfy] = receiver.find('/ntfy/');
    assert.ok(ntfy);
    assert.equal(ntfy.method, 'POST');
    assert.equal(ntfy.path, '/ntfy/deploys');
    assert.equal(ntfy.headers['title'], '[home-server] deploy failed: paperless (commit 9f8e7d6)');
    assert.equal(ntfy.headers['priority'], 'high');
    assert.equal(ntfy.headers['tags'], 'rotating_light,home-server');
    assert.equal(ntfy.headers['click'], 'https://deploy.example.com/#/runs/run-42');
    assert.equal(ntfy.headers['authorization'], 'Bearer tk_ntfy_token_123');
    const text = ntfy.body.toString('utf8');
    assert.match(text, /paperless: deploy failed/);
    assert.match(text, new RegExp(COMMIT));
    assert.match(text, /ENV_FILE_MISSING: env file not found/);
    assert.match(text, /grafana: deploy succeeded, was failed/);

    const [slack] = receiver.find('/slack/');
    assert.ok(slack);
    assert.equal(slack.headers['content-type'], 'application/json');
    const chat = JSON.parse(slack.body.toString('utf8')) as { text: string; content: string };
    assert.ok(chat.text.startsWith('*[home-server] deploy failed: paperless (commit 9f8e7d6)*'));
    assert.match(chat.text, /ENV_FILE_MISSING/);
    assert.ok(chat.content.startsWith('**[home-server] deploy failed: paperless (commit 9f8e7d6)**'));
    assert.ok(chat.content.length <= 2000);

    const [hook] = receiver.find('/hook');
    assert.ok(hook);
    assert.equal(hook.headers['user-agent'], 'gitops-deploy-server');
    assert.equal(hook.headers['x-gitops-event'], 'deployment.failure');
    assert.equal(hook.headers['x-gitops-delivery'], 'run-42');
    // Recomputed over the bytes as received, never over re-serialised JSON.
    const expected = `sha256=${createHmac('sha256', secret).update(hook.body).digest('hex')}`;
    assert.equal(hook.headers['x-gitops-signature-256'], expected);
    const payload = JSON.parse(hook.body.toString('utf8')) as Record<string, unknown>;
    assert.equal(payload['event'], 'deployment.failure');
    assert.equal(payload['server'], 'home-server');
    assert.deepEqual(payload['services'], { failed: ['paperless'], recovered: ['grafana'], succeeded: [] });
    assert.deepEqual(payload['run'], failedOutcome.run);
    assert.deepEqual(payload['deployments'], failedOutcome.deployments);

    assert.deepEqual(warnings(), []);
    for (const secretText of ['tk_ntfy_token_123', 'slacksecretpath', secret]) assert.ok(!raw().includes(secretText), `log holds ${secretText}`);
  });

  it('sends ntfy credentials from the URL as Basic auth and keeps them out of the log', async () => {
    const { notifier, logs, raw } = notifierFor({ NOTIFY_NTFY_URL: receiver.url.replace('://', '://deployer:pa55word@') + '/ntfy/basic' });
    notifier.runFinished(failedOutcome);
    await notifier.flush();
    const [request] = receiver.find('/ntfy/basic');
    assert.equal(request?.headers['authorization'], `Basic ${Buffer.from('deployer:pa55word').toString('base64')}`);
    assert.ok(logs.some((l) => l.msg === 'notification sent' && l.channel === 'ntfy'));
    assert.ok(!raw().includes('pa55word'));
  });

  it('retries a 500 once and then succeeds, with the same delivery id and signature', async () => {
    const { notifier, warnings } = notifierFor({ NOTIFY_WEBHOOK_URL: `${receiver.url}/flaky`, NOTIFY_WEBHOOK_SECRET: 's3cret-value' });
    notifier.runFinished(failedOutcome);
    await notifier.flush();
    const attempts = receiver.find('/flaky');
    assert.equal(attempts.length, 2);
    assert.equal(attempts[0]?.headers['x-gitops-delivery'], attempts[1]?.headers['x-gitops-delivery']);
    assert.equal(attempts[0]?.headers['x-gitops-signature-256'], attempts[1]?.headers['x-gitops-signature-256']);
    assert.deepEqual(attempts[0]?.body, attempts[1]?.body);
    assert.deepEqual(warnings(), []);
  });

  it('a receiver that is down neither slows runFinished nor hides the failure', async () => {
    const port = await closedPort();
    const { notifier, warnings } = notifierFor({ NOTIFY_NTFY_URL: `http://127.0.0.1:${port}/down`, NOTIFY_TIMEOUT_SECONDS: '3' });
    assert.ok(timeRunFinished(notifier, failedOutcome) < 50);
    await notifier.flush();
    const [warning] = warnings();
    assert.equal(warning?.msg, 'notification failed');
    assert.equal(warning?.channel, 'ntfy');
    assert.equal(warning?.runId, 'run-42');
    assert.equal(warning?.err?.code, 'ECONNREFUSED');
  });

  it('a receiver that hangs is cut off at the timeout, off the caller path', async () => {
    const { notifier, warnings } = notifierFor({ NOTIFY_WEBHOOK_URL: `${receiver.url}/hang`, NOTIFY_TIMEOUT_SECONDS: '1' });
    const started = performance.now();
    assert.ok(timeRunFinished(notifier, failedOutcome) < 50);
    await notifier.flush();
    const waited = performance.now() - started;
    assert.ok(waited >= 900, `flush settled after ${waited} ms, before the timeout`);
    assert.equal(receiver.find('/hang').length, 1, 'a timed-out send is not retried');
    const [warning] = warnings();
    assert.equal(warning?.channel, 'webhook');
    assert.equal(warning?.err?.message, 'no answer within 1 s');
  });
});
