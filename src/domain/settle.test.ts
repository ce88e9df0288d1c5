import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerState, HealthcheckSpec } from './engine-state.js';
import { containerDeadlineMs, healthDeadlineMs, settleVerdict, type SettleRules } from './settle.js';

const rules: SettleRules = { settleMs: 5_000, healthTimeoutMs: 300_000 };
const check: HealthcheckSpec = { intervalMs: 1_000, timeoutMs: 2_000, retries: 3, startPeriodMs: 4_000 };
const container = (over: Partial<ContainerState>): ContainerState => ({
  id: 'c1', name: 'p_web_1', service: 'web', state: 'running', exitCode: 0, imageId: 'img1', configHash: 'h1', restartCount: 0, restartPolicy: 'no', ...over,
});

describe('settleVerdict', () => {
  const cases: Array<{ name: string; c: Partial<ContainerState>; at: number; kind: string; code?: string; reason?: RegExp }> = [
    // Without a healthcheck: the settle window.
    { name: 'running, inside the window', c: {}, at: 4_999, kind: 'waiting' },
    { name: 'running through the window', c: {}, at: 5_000, kind: 'settled', reason: /kept running through the 5 s settle window/ },
    { name: 'restarted once, still running', c: { restartCount: 1, restartPolicy: 'always' }, at: 1_000, kind: 'failed', code: 'CONTAINER_RESTARTING', reason: /restarted 1 time \(restart: always\)/ },
    { name: 'restarting now (docker back-off)', c: { state: 'restarting', restartPolicy: 'always', exitCode: 3 }, at: 100, kind: 'failed', code: 'CONTAINER_RESTARTING', reason: /last exit code 3/ },
    { name: 'a restart after the window is still a failure', c: { restartCount: 2, restartPolicy: 'unless-stopped' }, at: 60_000, kind: 'failed', code: 'CONTAINER_RESTARTING' },
    // One-shot containers.
    { name: 'exited 0, restart no', c: { state: 'exited' }, at: 0, kind: 'settled', reason: /exited 0/ },
    { name: 'exited 0, engine policy name empty', c: { state: 'exited', restartPolicy: '' }, at: 0, kind: 'settled' },
    { name: 'exited 0, restart on-failure', c: { state: 'exited', restartPolicy: 'on-failure' }, at: 0, kind: 'settled' },
    { name: 'exited 2, restart no', c: { state: 'exited', exitCode: 2 }, at: 0, kind: 'failed', code: 'CONTAINER_EXITED', reason: /exited with code 2/ },
    { name: 'stopped (podman) 1, restart no', c: { state: 'stopped', exitCode: 1 }, at: 0, kind: 'failed', code: 'CONTAINER_EXITED' },
    { name: 'exited 2, restart on-failure', c: { state: 'exited', exitCode: 2, restartPolicy: 'on-failure' }, at: 0, kind: 'failed', code: 'CONTAINER_RESTARTING' },
    { name: 'exited 0, restart always', c: { state: 'exited', restartPolicy: 'always' }, at: 0, kind: 'failed', code: 'CONTAINER_RESTARTING', reason: /starts it again/ },
    { name: 'exited 1 while health starting', c: { state: 'exited', exitCode: 1, healthcheck: check, health: { status: 'starting', failingStreak: 0 } }, at: 0, kind: 'failed', code: 'CONTAINER_EXITED' },
    // Not started yet.
    { name: 'created, inside the window', c: { state: 'created' }, at: 1_000, kind: 'waiting' },
    { name: 'created, past the window', c: { state: 'created' }, at: 5_000, kind: 'failed', code: 'CONTAINER_UNHEALTHY', reason: /still created/ },
    // With a healthcheck: the engine's verdict, within the healthcheck's deadline (4 + 1 × 3 + 2 = 9 s).
    { name: 'healthy at once (no settle window)', c: { healthcheck: check, health: { status: 'healthy', failingStreak: 0 } }, at: 10, kind: 'settled', reason: /healthy/ },
    { name: 'starting, no health yet', c: { healthcheck: check }, at: 8_999, kind: 'waiting' },
    { name: 'starting past the window but within the deadline', c: { healthcheck: check, health: { status: 'starting', failingStreak: 1 } }, at: 6_000, kind: 'waiting' },
    { name: 'starting past the deadline', c: { healthcheck: check, health: { status: 'starting', failingStreak: 2, lastProbe: { exitCode: 1, output: 'connection refused\n' } } }, at: 9_000, kind: 'failed', code: 'CONTAINER_UNHEALTHY', reason: /within 9 s \(last probe: exit 1: connection refused\)/ },
    { name: 'unhealthy', c: { healthcheck: check, health: { status: 'unhealthy', failingStreak: 3, lastProbe: { exitCode: 1, output: '' } } }, at: 3_000, kind: 'failed', code: 'CONTAINER_UNHEALTHY', reason: /unhealthy \(last probe: exit 1\)$/ },
    { name: 'healthy but restarted', c: { healthcheck: check, health: { status: 'healthy', failingStreak: 0 }, restartCount: 1, restartPolicy: 'always' }, at: 3_000, kind: 'failed', code: 'CONTAINER_RESTARTING' },
  ];
  for (const { name, c, at, kind, code, reason } of cases) {
    it(name, () => {
      const verdict = settleVerdict(container(c), at, rules);
      assert.equal(verdict.kind, kind, JSON.stringify(verdict));
      if (code) assert.equal(verdict.kind === 'failed' && verdict.code, code);
      if (reason) assert.match(verdict.reason, reason);
    });
  }

  it('a settle window of 0 settles a running container at once', () => {
    assert.equal(settleVerdict(container({}), 0, { settleMs: 0, healthTimeoutMs: 300_000 }).kind, 'settled');
  });
});

describe('deadlines', () => {
  it('a healthcheck deadline is start_period + interval × retries + timeout, bounded', () => {
    assert.equal(healthDeadlineMs(check, 300_000), 9_000);
    assert.equal(healthDeadlineMs({ intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 }, 60_000), 60_000);
  });

  it('a container without a healthcheck waits for the settle window, bounded by the health timeout', () => {
    assert.equal(containerDeadlineMs({}, rules), 5_000);
    assert.equal(containerDeadlineMs({}, { settleMs: 10_000, healthTimeoutMs: 2_000 }), 2_000);
    assert.equal(containerDeadlineMs({ healthcheck: check }, rules), 9_000);
  });
});
