import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { HOUR_MS } from '../domain/drift.js';
import type { ContainerState } from '../domain/engine-state.js';
import type { DeployedState, ServicePin, ServiceSource } from '../domain/types.js';
import type { DeploymentRecord } from '../ports/store.js';
import { createDriftWatch, type DriftNotice } from './drift-watch.js';

const IMG = 'a'.repeat(64);
const source = (name: string, extra: Partial<ServiceSource> = {}): ServiceSource => ({
  name, dir: `/repo/services/${name}`, composeFile: 'compose.yaml', runtime: 'podman', projectName: name, files: {}, fingerprint: 'f', requiredEnvFiles: [], ...extra,
});
const running = (service: string, over: Partial<ContainerState> = {}): ContainerState => ({
  id: `${service}-id`, name: `${service}-web-1`, service: 'web', state: 'running', exitCode: 0, imageId: IMG, configHash: 'h1', restartPolicy: 'no', ...over,
});
const deployment = (service: string, status: DeploymentRecord['status'], id = `d-${service}`): DeploymentRecord => ({
  id, runId: 'r', service, action: 'deploy', status, reason: 'x', commit: 'c0ffee1234567890', errorCode: null, error: null, output: '',
  imagesBefore: null, imagesAfter: null, handoff: null, fingerprint: null, files: null, createdAt: '', startedAt: null, finishedAt: null,
});

/** A store, an engine and a dispatcher the test edits between checks. */
function setup(options: { services?: ServiceSource[]; heal?: boolean; maxPerHour?: number } = {}) {
  const services = options.services ?? [source('app')];
  const states = new Map<string, DeployedState>(services.map((s) => [s.name, { service: s.name, fingerprint: 'f', files: {}, commit: 'c0ffee1234567890', deployedAt: 't1', images: { web: IMG } }]));
  const newest = new Map<string, DeploymentRecord>(services.map((s) => [s.name, deployment(s.name, 'succeeded')]));
  const pins = new Map<string, ServicePin>();
  const baselines = new Map<string, { deployedAt: string; configHashes: Record<string, string> }>();
  const engine = new Map<string, ContainerState[]>(services.map((s) => [s.name, [running(s.name)]]));
  const asked: string[] = [];
  const notices: DriftNotice[] = [];
  const healed: string[] = [];
  const busy = new Set<string>();
  let clock = 100 * HOUR_MS;
  /** Runs during the engine call (a deployment starting meanwhile). */
  let duringCall: (() => void) | undefined;
  const watch = createDriftWatch({
    services: async () => services,
    store: {
      getDeployedState: (name) => states.get(name),
      listServiceDeployments: (name) => ({ items: newest.has(name) ? [newest.get(name)!] : [], next: null }),
      getPin: (name) => pins.get(name),
      getDriftBaseline: (name) => baselines.get(name),
      saveDriftBaseline: (name, deployedAt, configHashes) => void baselines.set(name, { deployedAt, configHashes }),
    },
    containers: async (service) => {
      asked.push(service.name);
      duringCall?.();
      return engine.get(service.name) ?? [];
    },
    selfService: 'gitops-deploy-server',
    ...(options.heal ? { heal: { maxPerHour: options.maxPerHour ?? 3, deployService: (name: string) => (healed.push(name), { runId: `heal-${healed.length}` }), busy: (name: string) => busy.has(name) } } : {}),
    notify: (notice) => notices.push(notice),
    intervalMs: undefined,
    logger: pino({ level: 'silent' }),
    now: () => clock,
  });
  return {
    watch, states, newest, pins, baselines, engine, asked, notices, healed, busy,
    advance: (ms: number) => (clock += ms),
    setDuringCall: (fn: (() => void) | undefined) => (duringCall = fn),
  };
}

describe('createDriftWatch', () => {
  it('finds a stopped container, says why, and notifies once per episode', async () => {
    const t = setup();
    await t.watch.check();
    assert.equal(t.watch.drift().size, 0);
    t.engine.set('app', [running('app', { state: 'exited', exitCode: 137 })]);
    await t.watch.check();
    await t.watch.check();
    const drift = t.watch.drift().get('app');
    assert.deepEqual(drift?.reasons, ['container app-web-1 exited (code 137)']);
    assert.equal(drift?.held, null);
    assert.equal(t.notices.length, 1, 'one notice for the episode, however many checks see it');
    assert.deepEqual({ ...t.notices[0], since: '' }, { kind: 'drifted', service: 'app', reasons: ['container app-web-1 exited (code 137)'], since: '', commit: 'c0ffee1234567890', healRunId: null, held: null });
    assert.equal(t.healed.length, 0, 'SELF_HEAL off: shown and notified only');

    // Started again by hand: the episode ends; a new drift is a new episode, notified again.
    t.engine.set('app', [running('app')]);
    await t.watch.check();
    assert.equal(t.watch.drift().size, 0);
    t.engine.set('app', []);
    await t.watch.check();
    assert.deepEqual(t.watch.drift().get('app')?.reasons, ['container of web is missing']);
    assert.equal(t.notices.length, 2);
  });

  it('compares configuration labels with those seen at the first check after the deployment', async () => {
    const t = setup();
    await t.watch.check(); // baseline: h1
    assert.deepEqual(t.baselines.get('app'), { deployedAt: 't1', configHashes: { web: 'h1' } }, 'kept in the store, for the next instance too');
    t.engine.set('app', [running('app', { configHash: 'h-by-hand' })]);
    await t.watch.check();
    assert.match(t.watch.drift().get('app')!.reasons[0]!, /configuration of web differs from deployed/);
    // A new deployment takes a new baseline.
    t.states.set('app', { ...t.states.get('app')!, deployedAt: 't2' });
    await t.watch.check();
    assert.equal(t.watch.drift().size, 0);
  });

  it('never judges a service while it is being deployed, nor from a reading a deployment overtook', async () => {
    const t = setup();
    t.engine.set('app', []);
    t.newest.set('app', deployment('app', 'running', 'd2'));
    await t.watch.check();
    assert.deepEqual(t.asked, [], 'no engine call while a deployment runs');
    assert.equal(t.watch.drift().size, 0);

    t.newest.set('app', deployment('app', 'succeeded', 'd2'));
    t.setDuringCall(() => t.newest.set('app', deployment('app', 'queued', 'd3')));
    await t.watch.check();
    assert.equal(t.asked.length, 1);
    assert.equal(t.watch.drift().size, 0, 'a deployment began during the engine call: the reading is dropped');
  });

  it('leaves failed, never-deployed, problem and its own services alone', async () => {
    const t = setup({ services: [source('failed'), source('never'), source('broken', { problem: { code: 'COMPOSE_FILE_INVALID', message: 'x' } }), source('gitops-deploy-server')] });
    t.newest.set('failed', deployment('failed', 'failed'));
    t.states.delete('never');
    for (const name of ['failed', 'never', 'broken', 'gitops-deploy-server']) t.engine.set(name, []);
    await t.watch.check();
    assert.deepEqual(t.asked, []);
    assert.equal(t.watch.drift().size, 0);
  });

  it('self-heal queues one redeploy per episode, then the flap limit holds the service and says so once', async () => {
    const t = setup({ heal: true, maxPerHour: 3 });
    const drift = async () => {
      t.engine.set('app', [running('app', { state: 'exited', exitCode: 137 })]);
      await t.watch.check();
    };
    const heal = async () => {
      // The heal run succeeded: a new deployed state, and the container runs again.
      t.states.set('app', { ...t.states.get('app')!, deployedAt: `t-${t.healed.length}` });
      t.engine.set('app', [running('app')]);
      await t.watch.check();
      assert.equal(t.watch.drift().size, 0);
      t.advance(60_000);
    };
    for (let i = 1; i <= 3; i++) {
      await drift();
      assert.equal(t.healed.length, i);
      assert.equal(t.watch.drift().get('app')?.healRunId, `heal-${i}`);
      await heal();
    }
    assert.equal(t.notices.filter((n) => n.kind === 'drifted').length, 3);
    assert.ok(t.notices.every((n, i) => n.healRunId === `heal-${i + 1}`));

    await drift();
    await t.watch.check();
    assert.equal(t.healed.length, 3, 'the fourth drift within the hour is not healed');
    assert.equal(t.watch.drift().get('app')?.held, 'held: healed 3 times in the last hour');
    assert.equal(t.watch.drift().get('app')?.healsLastHour, 3);
    assert.deepEqual(t.notices.at(-1), { kind: 'held', service: 'app', reasons: ['container app-web-1 exited (code 137)'], since: t.notices.at(-1)!.since, commit: 'c0ffee1234567890', healRunId: null, held: 'held: healed 3 times in the last hour' });
    assert.equal(t.notices.length, 4, 'the hold is notified once');

    // An hour after the first heal, it is healed again.
    t.advance(HOUR_MS - 2 * 60_000);
    await t.watch.check();
    assert.equal(t.healed.length, 4);
    assert.equal(t.watch.drift().get('app')?.held, null);
  });

  it('does not heal a pinned service (a redeploy would end the pin) nor one whose redeploy already waits', async () => {
    const t = setup({ heal: true });
    t.engine.set('app', []);
    t.busy.add('app');
    await t.watch.check();
    assert.equal(t.healed.length, 0);
    t.busy.clear();
    t.pins.set('app', { service: 'app', commit: '1234567890abcdef', gitFingerprint: 'f', reason: 'manual', deploymentId: 'd', pinnedAt: '' });
    await t.watch.check();
    assert.equal(t.healed.length, 0);
    assert.equal(t.watch.drift().get('app')?.held, 'not healed: pinned to 1234567890ab');
  });

  it('keeps engine calls within the concurrency bound, one per service', async () => {
    const services = Array.from({ length: 10 }, (_, i) => source(`s${i}`));
    let active = 0;
    let peak = 0;
    const calls: string[] = [];
    const bounded = createDriftWatch({
      services: async () => services,
      store: {
        getDeployedState: (name) => ({ service: name, fingerprint: 'f', files: {}, commit: null, deployedAt: 't', images: {} }),
        listServiceDeployments: () => ({ items: [], next: null }),
        getPin: () => undefined,
        getDriftBaseline: () => undefined,
        saveDriftBaseline: () => undefined,
      },
      containers: async (s) => {
        calls.push(s.name);
        active++;
        peak = Math.max(peak, active);
        await new Promise((resolve) => setTimeout(resolve, 5));
        active--;
        return [];
      },
      selfService: 'x',
      notify: () => undefined,
      intervalMs: undefined,
      concurrency: 3,
      logger: pino({ level: 'silent' }),
    });
    await bounded.check();
    assert.equal(calls.length, 10);
    assert.equal(new Set(calls).size, 10);
    assert.equal(peak, 3);
  });

  it('leaves a service alone when its runtime cannot list containers, and checks nothing once stopped', async () => {
    const t = setup();
    t.engine.set('app', []);
    const silent = createDriftWatch({
      services: async () => [source('app')],
      store: { getDeployedState: () => ({ service: 'app', fingerprint: 'f', files: {}, commit: null, deployedAt: 't', images: { web: IMG } }), listServiceDeployments: () => ({ items: [], next: null }), getPin: () => undefined, getDriftBaseline: () => undefined, saveDriftBaseline: () => undefined },
      containers: async () => undefined,
      selfService: 'x',
      notify: () => assert.fail('nothing to notify'),
      intervalMs: undefined,
      logger: pino({ level: 'silent' }),
    });
    await silent.check();
    assert.equal(silent.drift().size, 0);
    t.watch.stop();
    await t.watch.check();
    t.watch.afterRun();
    assert.deepEqual(t.asked, []);
    assert.equal(t.watch.drift().size, 0);
  });
});
