import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { github } from './index.js';

describe('github provider', () => {
  it('reads the image of the registry_package fixture', () => {
    const body = readFileSync(new URL('../../fixtures/github-registry-package-published.json', import.meta.url));
    const event = github.readEvent({ headers: { 'x-github-event': 'registry_package', 'x-github-delivery': 'd-1' }, body });
    assert.equal(event.kind, 'package');
    assert.equal(event.published, true);
    assert.deepEqual(event.images, ['ghcr.io/example-org/app:latest']);
  });

  it('reads a CI body without an event header: empty deploys, ref or branch names the branch, image names images', () => {
    const read = (text: string) => github.readEvent({ headers: {}, body: Buffer.from(text) });
    assert.deepEqual(read(''), { kind: 'push', branch: null, deliveryId: null });
    assert.deepEqual(read('{"ref":"refs/heads/main"}'), { kind: 'push', branch: 'main', deliveryId: null });
    assert.deepEqual(read('{"branch":"prod"}'), { kind: 'push', branch: 'prod', deliveryId: null });
    assert.deepEqual(read('not json, as an old CI may send'), { kind: 'push', branch: null, deliveryId: null });
    assert.deepEqual(read('{"image":"ghcr.io/o/app:1"}'), { kind: 'package', branch: null, deliveryId: null, published: true, images: ['ghcr.io/o/app:1'] });
  });

  it('reads events it does not act on as other', () => {
    assert.equal(github.readEvent({ headers: { 'x-github-event': 'issues' }, body: Buffer.from('{}') }).kind, 'other');
  });
});
