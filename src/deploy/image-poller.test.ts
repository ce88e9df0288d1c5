import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { ServiceSource } from '../domain/types.js';
import { createImagePoller, type RunningImage } from './image-poller.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

const source = (name: string, extra: Partial<ServiceSource> = {}): ServiceSource => ({
  name, dir: `/repo/services/${name}`, composeFile: 'compose.yaml', runtime: 'podman', projectName: name,
  files: {}, fingerprint: 'f', requiredEnvFiles: [], untrackedInputs: [], ...extra,
});

function setup(options: { services: ServiceSource[]; images: Record<string, RunningImage[]>; registry: Record<string, string> }) {
  const asked: string[] = [];
  const queued: Array<[string, string]> = [];
  const busyLanes = new Set<string>();
  const poller = createImagePoller({
    services: async () => options.services,
    runningImages: async (service) => options.images[service.name] ?? [],
    registryDigest: async (reference) => {
      asked.push(reference);
      const digest = options.registry[reference];
      if (!digest) throw new Error(`no ${reference}`);
      return digest;
    },
    triggers: { redeployAndUpdate: (service, origin) => (queued.push([service, origin]), { runId: `r_${queued.length}`, coalesced: false }) },
    busy: (lane) => busyLanes.has(lane),
    intervalMs: 60_000,
    logger: pino({ level: 'silent' }),
  });
  return { poller, asked, queued, busyLanes };
}

describe('createImagePoller', () => {
  it('queues an update (origin poll) of an opted-in service whose tag moved, and of no other', async () => {
    const registry = { 'reg/app:1': D2, 'reg/other:1': D2 };
    const { poller, queued, asked } = setup({
      services: [source('polled', { pollImages: true }), source('not-opted')],
      images: {
        polled: [{ reference: 'reg/app:1', repoDigests: [`reg/app@${D1}`] }],
        'not-opted': [{ reference: 'reg/other:1', repoDigests: [`reg/other@${D1}`] }],
      },
      registry,
    });
    assert.deepEqual(await poller.pollOnce(), ['polled']);
    assert.deepEqual(queued, [['polled', 'poll']]);
    assert.deepEqual(asked, ['reg/app:1'], 'a service that did not opt in is never asked about');
    // The same moved digest is not queued twice (say the pull failed).
    assert.deepEqual(await poller.pollOnce(), []);
    // Another move is.
    registry['reg/app:1'] = `sha256:${'3'.repeat(64)}`;
    assert.deepEqual(await poller.pollOnce(), ['polled']);
  });

  it('does nothing while the running image is the registry\'s, and never asks about pinned or local images', async () => {
    const { poller, queued, asked } = setup({
      services: [source('app', { pollImages: true }), source('broken', { pollImages: true, problem: { code: 'COMPOSE_FILE_INVALID', message: 'x' } })],
      images: {
        app: [
          { reference: 'reg/app:1', repoDigests: [`reg/app@${D1}`, `mirror/app@${D2}`] },
          { reference: `reg/pinned@${D1}`, repoDigests: [`reg/pinned@${D1}`] },
          { reference: 'localhost/built:dev', repoDigests: [] },
        ],
        broken: [{ reference: 'reg/x:1', repoDigests: [`reg/x@${D1}`] }],
      },
      registry: { 'reg/app:1': D1 },
    });
    for (let i = 0; i < 3; i++) assert.deepEqual(await poller.pollOnce(), []);
    assert.deepEqual(queued, []);
    assert.deepEqual(asked, ['reg/app:1', 'reg/app:1', 'reg/app:1']);
  });

  it('leaves a service whose update lane is busy to that run, and survives a registry that fails', async () => {
    const { poller, queued, busyLanes } = setup({
      services: [source('a', { pollImages: true }), source('b', { pollImages: true })],
      images: { a: [{ reference: 'reg/a:1', repoDigests: [`reg/a@${D1}`] }], b: [{ reference: 'reg/unknown:1', repoDigests: [`reg/unknown@${D1}`] }] },
      registry: { 'reg/a:1': D2 },
    });
    busyLanes.add('update:a');
    assert.deepEqual(await poller.pollOnce(), []);
    busyLanes.clear();
    assert.deepEqual(await poller.pollOnce(), ['a']);
    assert.deepEqual(queued, [['a', 'poll']]);
  });
});
