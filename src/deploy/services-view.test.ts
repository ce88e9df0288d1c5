import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceSource } from '../domain/types.js';
import { ReadWriteLock } from '../util/concurrency.js';
import { createServicesView } from './services-view.js';

const service = (name: string, fingerprint = 'f'): ServiceSource => ({
  name, dir: `/r/services/${name}`, composeFile: 'compose.yaml', runtime: 'podman', projectName: name,
  files: {}, fingerprint, requiredEnvFiles: [], untrackedInputs: [],
});

function setup() {
  let discovered = 0;
  let clock = 0;
  const lock = new ReadWriteLock();
  const view = createServicesView({
    catalog: { discover: async () => (discovered++, [service('app', `f${discovered}`)]) },
    repository: { head: async () => 'c1' },
    repositoryLock: lock,
    ttlMs: 1_000,
    now: () => clock,
  });
  return { view, lock, discoveries: () => discovered, advance: (ms: number) => (clock += ms) };
}

const settled = async <T>(promise: Promise<T>, ms = 200): Promise<T | 'pending'> =>
  Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms))]);

describe('services view (the snapshot views read)', () => {
  // Views stalled behind deployments: a compose run holds the read lock, a waiting sync goes
  // first, and every view that re-read the checkout waited for both.
  it('answers at once while a deployment holds the lock and a sync waits for it', async () => {
    const { view, lock, advance } = setup();
    await view.services();
    let releaseDeployment!: () => void;
    const deployment = lock.read(() => new Promise<void>((resolve) => (releaseDeployment = resolve)));
    const sync = lock.write(async () => undefined);
    advance(5_000); // stale: a refresh would be due
    const answer = await settled(view.services());
    assert.notEqual(answer, 'pending', 'the view did not wait for the deployment and the sync');
    assert.deepEqual((answer as { services: ServiceSource[] }).services.map((s) => s.name), ['app']);
    releaseDeployment();
    await deployment;
    await sync;
  });

  it('refreshes a stale snapshot in the background, once for concurrent callers', async () => {
    const { view, discoveries, advance } = setup();
    await view.services();
    assert.equal(discoveries(), 1);
    await Promise.all([view.services(), view.services()]);
    assert.equal(discoveries(), 1, 'fresh: nobody reads the disk');
    advance(1_500);
    const stale = await view.services();
    assert.equal(stale.services[0]?.fingerprint, 'f1', 'served from memory while the refresh runs');
    await Promise.all([view.services(), view.services()]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(discoveries(), 2);
    assert.equal((await view.services()).services[0]?.fingerprint, 'f2');
  });

  // /metrics started a full discovery per scrape, reading and hashing every file.
  it('peek (what metrics read) never reads the disk', async () => {
    const { view, discoveries, advance } = setup();
    assert.equal(view.peek(), undefined);
    await view.services();
    advance(60_000);
    for (let i = 0; i < 10; i++) view.peek();
    assert.equal(discoveries(), 1);
  });

  it("takes a run's discovery as the snapshot, and one service a one-service run read", async () => {
    const { view, discoveries } = setup();
    view.replace('c2', [service('app', 'from-run'), service('db')]);
    assert.deepEqual((await view.services()).commit, 'c2');
    view.updateOne(service('db', 'db-2'));
    assert.deepEqual((await view.services()).services.map((s) => `${s.name}:${s.fingerprint}`), ['app:from-run', 'db:db-2']);
    assert.equal(discoveries(), 0);
  });
});
