import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { readComposeModel } from '../adapters/compose/compose-file.js';
import { createServiceCatalog } from '../adapters/service-catalog.js';
import { createImageServices } from './image-services.js';

describe('createImageServices', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'image-services-'));
    const service = (name: string, compose: string, env?: string) => {
      mkdirSync(join(root, 'services', name), { recursive: true });
      writeFileSync(join(root, 'services', name, 'compose.yaml'), compose);
      if (env !== undefined) writeFileSync(join(root, 'services', name, '.env'), env);
    };
    service('web', 'services:\n  app:\n    image: nginx\n');
    service('api', 'services:\n  app:\n    image: ${REGISTRY}/team/api:${TAG:-latest}\n  cache:\n    image: docker.io/library/nginx:latest\n', 'REGISTRY=127.0.0.1:5055\n');
    service('pinned', `services:\n  app:\n    image: nginx@sha256:${'a'.repeat(64)}\n`);
    service('other', 'services:\n  app:\n    image: nginx:1.27\n');
    service('broken', 'services: [\n');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const matcher = () => {
    const catalog = createServiceCatalog({ repoPath: root, servicesDirectory: 'services', defaultRuntime: 'podman', repository: { listTrackedFiles: async () => [] } });
    return createImageServices({
      services: () => catalog.discover(),
      imagesOf: async (service) => (await readComposeModel(service, {})).services.map((s) => s.image),
      logger: pino({ level: 'silent' }),
    });
  };

  it('matches every service whose compose file names the image, however it is spelt, and only those', async () => {
    assert.deepEqual(await matcher().servicesForImage('docker.io/library/nginx:latest'), ['api', 'web']);
    assert.deepEqual(await matcher().servicesForImage('nginx:1.27'), ['other']);
  });

  it('interpolates the image with the service\'s .env', async () => {
    assert.deepEqual(await matcher().servicesForImage('127.0.0.1:5055/team/api'), ['api']);
    assert.deepEqual(await matcher().servicesForImage('127.0.0.1:5055/team/api:v2'), []);
  });

  it('never matches digest-pinned images, nor a digest reference', async () => {
    assert.deepEqual(await matcher().servicesForImage(`nginx@sha256:${'a'.repeat(64)}`), []);
  });
});
