import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serviceStateReason } from './service-state.js';
import type { ServiceSource } from './types.js';

const service = { name: 'app', fingerprint: 'f2' } as ServiceSource;

describe('serviceStateReason', () => {
  it('says a failed service whose inputs did not change since is not retried, and since which commit', () => {
    assert.equal(
      serviceStateReason(service, { status: 'failed', fingerprint: 'f2', commit: 'ab'.repeat(20) }),
      `failed (unchanged since ${'ab'.repeat(6)}): not retried until its inputs change; deploy it to try again`,
    );
  });

  it('says nothing once the inputs changed, for other states, or for failures recorded without inputs', () => {
    assert.equal(serviceStateReason(service, { status: 'failed', fingerprint: 'f1', commit: null }), null);
    assert.equal(serviceStateReason(service, { status: 'failed', fingerprint: null, commit: null }), null);
    assert.equal(serviceStateReason(service, { status: 'succeeded', fingerprint: 'f2', commit: null }), null);
    assert.equal(serviceStateReason(service, undefined), null);
  });
});
