import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configHashesOf, detectDrift, healVerdict, HOUR_MS, recentHeals } from './drift.js';
import type { ContainerState } from './engine-state.js';

const IMG = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
const container = (over: Partial<ContainerState>): ContainerState => ({
  id: 'c1', name: 'app-web-1', service: 'web', state: 'running', exitCode: 0, imageId: IMG, configHash: 'h1', restartCount: 0, restartPolicy: 'no', ...over,
});

describe('detectDrift', () => {
  const deployed = { images: { web: IMG }, configHashes: { web: 'h1' } };

  it('finds nothing when every deployed compose service runs its image and configuration', () => {
    assert.deepEqual(detectDrift(deployed, [container({})]), []);
  });

  const cases: Array<{ name: string; containers: ContainerState[]; reasons: string[] }> = [
    { name: 'a stopped container (docker stop: SIGKILL after the grace)', containers: [container({ state: 'exited', exitCode: 137 })], reasons: ['container app-web-1 exited (code 137)'] },
    { name: 'podman says stopped', containers: [container({ state: 'stopped', exitCode: 143 })], reasons: ['container app-web-1 exited (code 143)'] },
    { name: 'exit 0 under restart: unless-stopped (someone stopped it)', containers: [container({ state: 'exited', restartPolicy: 'unless-stopped' })], reasons: ['container app-web-1 exited (code 0)'] },
    { name: 'a removed container', containers: [], reasons: ['container of web is missing'] },
    { name: 'created, never started', containers: [container({ state: 'created' })], reasons: ['container app-web-1 was created but is not running'] },
    { name: 'paused', containers: [container({ state: 'paused' })], reasons: ['container app-web-1 is paused'] },
    { name: 'running but unhealthy', containers: [container({ health: { status: 'unhealthy', failingStreak: 3 } })], reasons: ['container app-web-1 is unhealthy'] },
    { name: 'another image', containers: [container({ imageId: OTHER })], reasons: [`image of web differs from deployed (app-web-1 runs ${'b'.repeat(12)}, deployed ${'a'.repeat(12)})`] },
    { name: 'another configuration label', containers: [container({ configHash: 'h2' })], reasons: ['configuration of web differs from deployed (app-web-1 was recreated outside the server)'] },
    { name: 'no label at all (docker compose up by hand)', containers: [container({ configHash: undefined })], reasons: ['configuration of web differs from deployed (app-web-1 was recreated outside the server)'] },
    { name: 'a stray container of the project', containers: [container({}), container({ id: 'c2', name: 'app-debug-1', service: 'debug' })], reasons: ['stray container app-debug-1 (compose service debug) is not part of the deployment'] },
  ];
  for (const { name, containers, reasons } of cases) {
    it(name, () => assert.deepEqual(detectDrift(deployed, containers), reasons));
  }

  it('takes a one-shot that exited 0 under restart: no or on-failure for done, as the gate does', () => {
    const images = { web: IMG, migrate: IMG };
    const oneShot = (policy: string) => container({ id: 'c2', name: 'app-migrate-1', service: 'migrate', state: 'exited', exitCode: 0, restartPolicy: policy });
    assert.deepEqual(detectDrift({ images }, [container({}), oneShot('no')]), []);
    assert.deepEqual(detectDrift({ images }, [container({}), oneShot('on-failure')]), []);
    assert.deepEqual(detectDrift({ images }, [container({}), oneShot('always')]), ['container app-migrate-1 exited (code 0)']);
  });

  it('does not compare configuration labels before a baseline was taken', () => {
    assert.deepEqual(detectDrift({ images: { web: IMG } }, [container({ configHash: 'anything' })]), []);
  });

  it('lists several findings in a stable order', () => {
    const reasons = detectDrift({ images: { web: IMG, db: IMG } }, [container({ state: 'exited', exitCode: 1, imageId: OTHER })]);
    assert.deepEqual(reasons, ['container of db is missing', 'container app-web-1 exited (code 1)', `image of web differs from deployed (app-web-1 runs ${'b'.repeat(12)}, deployed ${'a'.repeat(12)})`]);
  });
});

describe('configHashesOf', () => {
  it('keeps the first labelled container of each compose service', () => {
    const hashes = configHashesOf([container({ name: 'p-web-2', configHash: 'h2' }), container({ name: 'p-web-1', configHash: 'h1' }), container({ service: 'db', name: 'p-db-1', configHash: undefined })]);
    assert.deepEqual(hashes, { web: 'h1' });
  });
});

describe('healVerdict (the flap limit)', () => {
  const now = 10 * HOUR_MS;
  it('heals while fewer than the limit happened within the hour', () => {
    assert.deepEqual(healVerdict([], now, 3), { heal: true });
    assert.deepEqual(healVerdict([now - 1_000, now - 2_000], now, 3), { heal: true });
  });
  it('holds after the limit, saying how often', () => {
    assert.deepEqual(healVerdict([now - 3_000, now - 2_000, now - 1_000], now, 3), { heal: false, held: 'held: healed 3 times in the last hour' });
    assert.deepEqual(healVerdict([now - 1], now, 1), { heal: false, held: 'held: healed 1 time in the last hour' });
  });
  it('lets heals older than an hour age out', () => {
    const heals = [now - HOUR_MS - 1, now - HOUR_MS, now - 1_000];
    assert.deepEqual(recentHeals(heals, now), [now - 1_000]);
    assert.deepEqual(healVerdict(heals, now, 2), { heal: true });
  });
});
