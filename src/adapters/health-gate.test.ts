import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerState } from '../domain/engine-state.js';
import { isAppError } from '../errors.js';
import { probeDuring, waitSettled, type GateEngine } from './health-gate.js';

const container = (over: Partial<ContainerState>): ContainerState => ({
  id: 'c1', name: 'p_web_1', service: 'web', state: 'running', exitCode: 0, imageId: 'img1', configHash: 'h1', restartCount: 0, restartPolicy: 'no', ...over,
});

/**
 * An engine whose containers follow a script over (fake) time: `at(ms)` gives each container's
 * state at that moment. Probes are recorded; `onProbe` may change what the next inspect says.
 */
function scriptedEngine(options: { drives?: boolean; at: (ms: number, probes: string[]) => ContainerState[]; logs?: string }) {
  let now = 0;
  const probes: string[] = [];
  const engine: GateEngine = {
    drivesHealthchecks: async () => options.drives ?? false,
    inspectContainers: async (ids) => options.at(now, probes).filter((c) => ids.includes(c.id)),
    runHealthcheck: async (id) => {
      probes.push(`${id}@${now}`);
    },
    logsTail: async () => options.logs ?? '',
  };
  // Each sleep yields to the event loop (as a real timer does), then moves the fake clock on.
  const deps = {
    engine,
    now: () => now,
    sleep: async (ms: number) => {
      await new Promise((resolve) => setImmediate(resolve));
      now += ms;
    },
    pollMs: 250,
  };
  return { deps, probes, time: () => now };
}

const rules = { settleMs: 1_000, healthTimeoutMs: 60_000 };
const quiet = { output: () => {} };

describe('waitSettled', () => {
  it('resolves once a running container has kept running through the window, not before', async () => {
    const { deps, time } = scriptedEngine({ at: () => [container({})] });
    await waitSettled(deps, [container({})], rules, quiet);
    assert.equal(time(), 1_000);
  });

  it('fails with the code of the first failure, carrying logs (bounded) and the probe output', async () => {
    const logs = Array.from({ length: 500 }, (_, i) => `line ${i}`).join('\n');
    const { deps } = scriptedEngine({
      logs,
      at: (ms) => [container({ state: ms < 500 ? 'running' : 'exited', exitCode: 3 })],
    });
    const said: string[] = [];
    await assert.rejects(waitSettled(deps, [container({})], rules, { output: (s) => said.push(s) }), (error: unknown) => {
      assert.ok(isAppError(error));
      assert.equal(error.code, 'CONTAINER_EXITED');
      const output = String(error.details?.['output']);
      assert.match(output, /line 499/);
      assert.doesNotMatch(output, /line 1\n/, 'only the tail of the logs');
      assert.ok(output.length < 5_000, `bounded: ${output.length}`);
      return true;
    });
    assert.match(said.join(''), /exited with code 3/, 'the failure is in the deployment output too');
  });

  it('waits for every container in parallel: the slowest decides, each against its own deadline', async () => {
    const check = { intervalMs: 1_000, timeoutMs: 1_000, retries: 3, startPeriodMs: 0 };
    const { deps, time } = scriptedEngine({
      at: (ms) => [
        container({}),
        container({ id: 'c2', name: 'p_db_1', healthcheck: check, health: { status: ms >= 2_000 ? 'healthy' : 'starting', failingStreak: 0 } }),
      ],
    });
    await waitSettled(deps, [container({}), container({ id: 'c2', name: 'p_db_1', healthcheck: check })], rules, quiet);
    assert.equal(time(), 2_000);
  });

  it('drives the probe itself at the healthcheck interval where the engine does not', async () => {
    const check = { intervalMs: 1_000, timeoutMs: 1_000, retries: 3, startPeriodMs: 0 };
    const { deps, probes } = scriptedEngine({
      drives: true,
      // Healthy once the gate ran the probe twice: without it the container would stay `starting`.
      at: (_ms, ran) => [container({ healthcheck: check, health: { status: ran.length >= 2 ? 'healthy' : 'starting', failingStreak: 0 } })],
    });
    await waitSettled(deps, [container({ healthcheck: check })], rules, quiet);
    assert.deepEqual(probes, ['c1@1000', 'c1@2000']);
  });

  it('never probes where the engine runs healthchecks; a check that stays starting fails at its deadline', async () => {
    const check = { intervalMs: 1_000, timeoutMs: 1_000, retries: 2, startPeriodMs: 0 };
    const { deps, probes, time } = scriptedEngine({ at: () => [container({ healthcheck: check, health: { status: 'starting', failingStreak: 0 } })] });
    await assert.rejects(waitSettled(deps, [container({ healthcheck: check })], rules, quiet), (error: unknown) => isAppError(error) && error.code === 'CONTAINER_UNHEALTHY');
    assert.deepEqual(probes, []);
    assert.equal(time(), 3_000);
  });

  it('a container removed meanwhile fails the gate; nothing to wait on resolves at once', async () => {
    const { deps } = scriptedEngine({ at: () => [] });
    await assert.rejects(waitSettled(deps, [container({})], rules, quiet), (error: unknown) => isAppError(error) && error.code === 'CONTAINER_EXITED' && /was removed/.test(error.message));
    await waitSettled(deps, [], rules, quiet);
  });

  it('stops with PROCESS_ABORTED when the server shuts down', async () => {
    const { deps } = scriptedEngine({ at: () => [container({})] });
    const abort = new AbortController();
    abort.abort();
    await assert.rejects(waitSettled(deps, [container({})], rules, { output: () => {}, signal: abort.signal }), (error: unknown) => isAppError(error) && error.code === 'PROCESS_ABORTED');
  });
});

describe('probeDuring', () => {
  const check = { intervalMs: 1_000, timeoutMs: 1_000, retries: 3, startPeriodMs: 0 };
  it('probes new containers with a healthcheck while the work runs, an interval after first seen, and stops with it', async () => {
    const { deps, probes } = scriptedEngine({ drives: true, at: () => [] });
    const seen = [container({ healthcheck: check, health: { status: 'starting', failingStreak: 0 } }), container({ id: 'old', healthcheck: check }), container({ id: 'plain' })];
    let finish!: (value: string) => void;
    const work = new Promise<string>((resolve) => (finish = resolve));
    const result = probeDuring(deps, async () => seen, new Set(['old']), work);
    // Let the loop run through 2.5 s of fake time, then end the work.
    for (let i = 0; i < 1_000 && deps.now() < 2_500; i++) await new Promise((resolve) => setImmediate(resolve));
    finish('up done');
    assert.equal(await result, 'up done');
    assert.deepEqual(probes, ['c1@1000', 'c1@2000']);
  });

  it('does nothing where the engine runs its own healthchecks, and passes the work\'s failure on', async () => {
    const { deps, probes } = scriptedEngine({ drives: false, at: () => [] });
    await assert.rejects(probeDuring(deps, async () => [container({ healthcheck: check })], new Set(), Promise.reject(new Error('up failed'))), /up failed/);
    assert.deepEqual(probes, []);
  });
});
