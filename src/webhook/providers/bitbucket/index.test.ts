import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bitbucket } from './index.js';

const push = (changes: unknown[]) => Buffer.from(JSON.stringify({ push: { changes } }));
const headers = { 'x-event-key': 'repo:push', 'x-request-uuid': 'r-1' };

describe('bitbucket provider', () => {
  it('reads a tag-only push as a tag, and a branch deletion as no push', () => {
    assert.equal(bitbucket.readEvent({ headers, body: push([{ new: { type: 'tag', name: 'v1' } }]) }).kind, 'tag');
    assert.equal(bitbucket.readEvent({ headers, body: push([{ new: null }]) }).kind, 'other');
  });

  it('reads other event keys as other', () => {
    assert.equal(bitbucket.readEvent({ headers: { 'x-event-key': 'pullrequest:created' }, body: Buffer.from('{}') }).kind, 'other');
  });

  it('is not detected without X-Event-Key (a bare X-Hub-Signature is no Bitbucket request)', () => {
    assert.equal(bitbucket.detect({ 'x-hub-signature': 'sha256=00' }), false);
  });
});
