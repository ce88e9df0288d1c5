import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normaliseImageReference } from './image-reference.js';

describe('normaliseImageReference', () => {
  it('spells Docker Hub references in full, with the latest tag by default', () => {
    assert.equal(normaliseImageReference('nginx'), 'docker.io/library/nginx:latest');
    assert.equal(normaliseImageReference('nginx:1.27'), 'docker.io/library/nginx:1.27');
    assert.equal(normaliseImageReference('library/nginx'), 'docker.io/library/nginx:latest');
    assert.equal(normaliseImageReference('docker.io/nginx'), 'docker.io/library/nginx:latest');
    assert.equal(normaliseImageReference('index.docker.io/acme/app:2'), 'docker.io/acme/app:2');
    assert.equal(normaliseImageReference('acme/app'), 'docker.io/acme/app:latest');
  });

  it('keeps other registries, ports and localhost, and lower-cases names', () => {
    assert.equal(normaliseImageReference('ghcr.io/Example-Org/App'), 'ghcr.io/example-org/app:latest');
    assert.equal(normaliseImageReference('127.0.0.1:5055/team/app:v1'), '127.0.0.1:5055/team/app:v1');
    assert.equal(normaliseImageReference('localhost/busybox:test'), 'localhost/busybox:test');
    assert.equal(normaliseImageReference('registry:5000/app'), 'registry:5000/app:latest');
  });

  it('never matches a digest-pinned reference', () => {
    assert.equal(normaliseImageReference('nginx@sha256:' + 'a'.repeat(64)), null);
    assert.equal(normaliseImageReference('ghcr.io/o/app:1@sha256:' + 'b'.repeat(64)), null);
    assert.equal(normaliseImageReference(''), null);
  });
});
