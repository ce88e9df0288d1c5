import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkEngineState, imagesByService, type ContainerState, type ExpectedService } from './engine-state.js';

const container = (over: Partial<ContainerState>): ContainerState => ({
  id: 'c1', name: 'p_web_1', service: 'web', state: 'running', exitCode: 0, imageId: 'img1', configHash: 'h1', ...over,
});
const web: ExpectedService = { name: 'web', imageId: 'img1', configHash: 'h1' };

test('a running container with the expected configuration and image is fine', () => {
  assert.deepEqual(checkEngineState([web], [container({})]), []);
});

test('a one-shot container that exited 0 is fine, a crashed one is not', () => {
  assert.deepEqual(checkEngineState([web], [container({ state: 'exited', exitCode: 0 })]), []);
  assert.match(checkEngineState([web], [container({ state: 'exited', exitCode: 3 })])[0]!, /exited with exit code 3/);
});

test('a missing container, an old configuration, a wrong image and an orphan are each reported', () => {
  assert.match(checkEngineState([web], [])[0]!, /no container was created/);
  assert.match(checkEngineState([web], [container({ configHash: 'h0' })])[0]!, /old configuration/);
  assert.match(checkEngineState([web], [container({ configHash: undefined })])[0]!, /old configuration/);
  assert.match(checkEngineState([web], [container({ imageId: 'img0' })])[0]!, /runs image img0/);
  assert.match(checkEngineState([web], [container({}), container({ id: 'c2', name: 'p_old_1', service: 'old' })])[0]!, /p_old_1 belongs to no service/);
});

test('images are reported per compose service', () => {
  assert.deepEqual(imagesByService([container({}), container({ id: 'c2', name: 'p_db_1', service: 'db', imageId: 'img2' })]), { web: 'img1', db: 'img2' });
});

test('containers the gate judges are not failed by their state here, only by configuration and image', () => {
  const crashed = container({ state: 'exited', exitCode: 3 });
  assert.match(checkEngineState([web], [crashed])[0]!, /exited with exit code 3/);
  assert.deepEqual(checkEngineState([web], [crashed], new Set(['c1'])), []);
  assert.match(checkEngineState([web], [container({ configHash: 'h0' })], new Set(['c1']))[0]!, /old configuration/);
});
