import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAppError } from '../../../errors.js';
import { gitlab } from './index.js';

describe('gitlab provider', () => {
  it('compares the token whole: a prefix or a longer value does not pass', () => {
    const secret = 'gitlab-token-0123456789';
    for (const token of [secret.slice(0, -1), `${secret}x`, secret.toUpperCase()]) {
      assert.deepEqual(gitlab.verify({ headers: { 'x-gitlab-token': token }, body: Buffer.alloc(0) }, { current: secret }, 0), { ok: false, reason: 'mismatch' }, token);
    }
  });

  it('reads events other than push and tag push as other, without parsing them', () => {
    assert.equal(gitlab.readEvent({ headers: { 'x-gitlab-event': 'Merge Request Hook' }, body: Buffer.from('not json') }).kind, 'other');
  });

  it('refuses a push without a ref with INVALID_JSON', () => {
    assert.throws(() => gitlab.readEvent({ headers: { 'x-gitlab-event': 'Push Hook' }, body: Buffer.from('{"object_kind":"push"}') }), (e) => isAppError(e) && e.code === 'INVALID_JSON');
  });
});
