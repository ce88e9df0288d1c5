import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { deferred } from '../../test/support/deferred.js';
import { createNotifier, noopNotifier } from './notifier.js';
import type { RunOutcome } from './outcome.js';
import { disabledNotifySettings, type NotifySettings } from './settings.js';

type LogLine = { level: number; msg: string; channel?: string; runId?: string; attempt?: number; err?: { message: string; status?: number; code?: string } };

function capturedLogger() {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines, warnings: () => lines.filter((l) => l.level === 40) };
}

type Answer = number | Error | 'hang';
/** A fetch that answers from a script, one entry per call (the last one repeats). */
function scriptedFetch(script: Answer[]) {
  const calls: Array<{ url: string; init: RequestInit | undefined }> = [];
  const impl = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    calls.push({ url: String(input), init });
    const answer = script[Math.min(calls.length - 1, script.length - 1)]!;
    if (answer === 'hang') {
      return new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
    }
    if (answer instanceof Error) return Promise.reject(answer);
    return Promise.resolve(new Response(answer === 204 ? null : `status ${answer}`, { status: answer }));
  };
  return { calls, fetch: impl as typeof fetch };
}

const webhookOnly = (overrides: Partial<NotifySettings> = {}): NotifySettings => ({
  ...disabledNotifySettings,
  webhook: { url: 'https://receiver.example.com/hook', secret: 'webhook-secret-value' },
  timeoutMs: 2_000,
  ...overrides,
});

function failedRun(id = 'run-1'): RunOutcome {
  return {
    serverName: 'home-server',
    dashboardUrl: null,
    run: { id, trigger: 'deploy-all-changed', service: null, status: 'failed', commit: 'abc1234def', error: null, startedAt: null, finishedAt: null },
    deployments: [{ service: 'db', action: 'deploy', status: 'failed', reason: 'new service', error: { code: 'COMPOSE_FAILED', message: 'boom' }, previousStatus: null }],
  };
}

const fetchFailed = () => new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }) });

describe('createNotifier', () => {
  it('returns before the send finishes, and flush waits for it', async () => {
    const gate = deferred<Response>();
    const calls: string[] = [];
    const log = capturedLogger();
    const notifier = createNotifier({
      settings: webhookOnly(),
      logger: log.logger,
      fetch: ((url: string) => (calls.push(url), gate.promise)) as unknown as typeof fetch,
    });
    notifier.runFinished(failedRun());
    assert.deepEqual(calls, [], 'nothing runs on the caller path');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(calls, ['https://receiver.example.com/hook']);
    let flushed = false;
    const flushing = notifier.flush().then(() => (flushed = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(flushed, false);
    gate.resolve(new Response('ok'));
    await flushing;
    assert.ok(log.lines.some((l) => l.msg === 'notification sent' && l.channel === 'webhook' && l.runId === 'run-1'));
    assert.deepEqual(log.warnings(), []);
  });

  it('sends to every channel at once', async () => {
    const fake = scriptedFetch(['hang']);
    const notifier = createNotifier({
      settings: {
        ...webhookOnly({ timeoutMs: 100 }),
        ntfy: { url: 'https://ntfy.example.com/t', token: undefined },
        slack: { url: 'https://hooks.slack.com/services/x' },
      },
      logger: capturedLogger().logger,
      fetch: fake.fetch,
    });
    notifier.runFinished(failedRun());
    await new Promise((resolve) => setImmediate(resolve));
    // All three started while every one of them still hangs: none waited for another.
    assert.deepEqual(fake.calls.map((c) => new URL(c.url).host), ['ntfy.example.com', 'hooks.slack.com', 'receiver.example.com']);
    await notifier.flush();
  });

  for (const [label, first] of [
    ['a 500', 500],
    ['a 429', 429],
    ['a network error', fetchFailed()],
  ] as const) {
    it(`retries once after ${label}`, async () => {
      const fake = scriptedFetch([first, 200]);
      const log = capturedLogger();
      const notifier = createNotifier({ settings: webhookOnly(), logger: log.logger, fetch: fake.fetch, retryDelayMs: 10 });
      notifier.runFinished(failedRun());
      await notifier.flush();
      assert.equal(fake.calls.length, 2);
      assert.deepEqual(log.warnings(), []);
      assert.ok(log.lines.some((l) => l.msg === 'notification sent' && l.attempt === 2));
    });
  }

  it('does not retry other 4xx answers', async () => {
    const fake = scriptedFetch([404]);
    const log = capturedLogger();
    const notifier = createNotifier({ settings: webhookOnly(), logger: log.logger, fetch: fake.fetch, retryDelayMs: 10 });
    notifier.runFinished(failedRun());
    await notifier.flush();
    assert.equal(fake.calls.length, 1);
    const [warning] = log.warnings();
    assert.equal(warning?.msg, 'notification failed');
    assert.equal(warning?.channel, 'webhook');
    assert.equal(warning?.runId, 'run-1');
    assert.equal(warning?.err?.status, 404);
  });

  it('gives up after the one retry and logs the cause of a network error', async () => {
    const fake = scriptedFetch([fetchFailed()]);
    const log = capturedLogger();
    const notifier = createNotifier({ settings: webhookOnly(), logger: log.logger, fetch: fake.fetch, retryDelayMs: 10 });
    notifier.runFinished(failedRun());
    await notifier.flush();
    assert.equal(fake.calls.length, 2);
    const warnings = log.warnings();
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.attempt, 2);
    assert.equal(warnings[0]?.err?.code, 'ECONNREFUSED');
    assert.match(warnings[0]?.err?.message ?? '', /fetch failed: connect ECONNREFUSED/);
  });

  it('stops a receiver that hangs at the deadline, without retrying', async () => {
    const fake = scriptedFetch(['hang']);
    const log = capturedLogger();
    const notifier = createNotifier({ settings: webhookOnly({ timeoutMs: 100 }), logger: log.logger, fetch: fake.fetch, retryDelayMs: 10 });
    const started = Date.now();
    notifier.runFinished(failedRun());
    await notifier.flush();
    assert.ok(Date.now() - started >= 90);
    assert.equal(fake.calls.length, 1);
    assert.equal(log.warnings()[0]?.err?.message, 'no answer within 0.1 s');
  });

  it('skips the retry when the deadline leaves no time for it', async () => {
    const fake = scriptedFetch([503, 200]);
    const log = capturedLogger();
    const notifier = createNotifier({ settings: webhookOnly({ timeoutMs: 500 }), logger: log.logger, fetch: fake.fetch, retryDelayMs: 1_000 });
    notifier.runFinished(failedRun());
    await notifier.flush();
    assert.equal(fake.calls.length, 1);
    assert.equal(log.warnings()[0]?.err?.status, 503);
  });

  it('drops sends beyond the in-flight bound instead of queueing them', async () => {
    const fake = scriptedFetch(['hang']);
    const log = capturedLogger();
    const notifier = createNotifier({ settings: webhookOnly({ timeoutMs: 200 }), logger: log.logger, fetch: fake.fetch });
    for (let i = 0; i < 60; i++) notifier.runFinished(failedRun(`run-${i}`));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(fake.calls.length, 50);
    const dropped = log.warnings().filter((l) => l.msg === 'notification dropped: too many in flight');
    assert.equal(dropped.length, 10);
    assert.equal(dropped[0]?.runId, 'run-50');
    await notifier.flush();
    // Room again once the hung sends timed out.
    notifier.runFinished(failedRun('run-late'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(fake.calls.length, 51);
    await notifier.flush();
  });

  it('sends nothing for a run with nothing to say, and success only when asked', async () => {
    const fake = scriptedFetch([200]);
    const ok: RunOutcome = {
      ...failedRun(),
      run: { ...failedRun().run, status: 'succeeded' },
      deployments: [{ service: 'db', action: 'deploy', status: 'succeeded', reason: 'new service', error: null, previousStatus: null }],
    };
    const quiet = createNotifier({ settings: webhookOnly(), logger: capturedLogger().logger, fetch: fake.fetch });
    quiet.runFinished(ok);
    await quiet.flush();
    assert.equal(fake.calls.length, 0);
    const chatty = createNotifier({ settings: webhookOnly({ onSuccess: true }), logger: capturedLogger().logger, fetch: fake.fetch });
    chatty.runFinished(ok);
    await chatty.flush();
    assert.equal(fake.calls.length, 1);
  });

  it('never throws on the caller, even for a malformed outcome or a fetch that throws synchronously', async () => {
    const log = capturedLogger();
    const throwing = (() => {
      throw new Error('sync boom');
    }) as unknown as typeof fetch;
    const notifier = createNotifier({ settings: webhookOnly(), logger: log.logger, fetch: throwing, retryDelayMs: 10 });
    assert.doesNotThrow(() => notifier.runFinished({ ...failedRun(), deployments: undefined } as unknown as RunOutcome));
    assert.doesNotThrow(() => notifier.runFinished(failedRun()));
    await notifier.flush();
    assert.equal(log.warnings().length, 2);
    assert.ok(log.warnings().every((l) => l.msg === 'notification failed'));
  });

  it('keeps credentials out of the log', async () => {
    const token = 'tk_very_secret_token';
    const log = capturedLogger();
    const leaky = scriptedFetch([new Error(`refused https://alice:hunter22@ntfy.example.com/private-topic with ${token}`)]);
    const notifier = createNotifier({
      settings: {
        ...webhookOnly(),
        ntfy: { url: 'https://alice:hunter22@ntfy.example.com/private-topic', token: undefined },
        slack: { url: 'https://hooks.slack.com/services/T000/B000/slacksecret' },
        webhook: { url: 'https://receiver.example.com/hook', secret: token },
      },
      logger: log.logger,
      fetch: leaky.fetch,
      retryDelayMs: 10,
    });
    notifier.runFinished(failedRun());
    await notifier.flush();
    assert.equal(log.warnings().length, 3);
    const text = JSON.stringify(log.lines);
    for (const secret of [token, 'hunter22', 'private-topic', 'slacksecret']) assert.ok(!text.includes(secret), `log contains ${secret}`);
  });

  it('is the no-op notifier when no channel is configured', async () => {
    const notifier = createNotifier({ settings: disabledNotifySettings, logger: capturedLogger().logger });
    assert.equal(notifier, noopNotifier);
    notifier.runFinished(failedRun());
    await notifier.flush();
  });
});
