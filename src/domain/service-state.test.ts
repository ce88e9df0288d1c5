import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serviceStateReason } from './service-state.js';
import type { ServiceSource } from './types.js';

const service = { name: 'app', fingerprint: 'f2' } as ServiceSource;

describe('serviceStateReason', () => {
  it('says why the own service is left alone when this server does not deploy it', () => {
    const why = 'not deployed: this server does not run in a container of app; SELF_DEPLOY=in-place deploys it in place';
    assert.equal(serviceStateReason(service, undefined, why), why);
  });

  it('says a failed service whose inputs did not change since is not retried, and since which commit', () => {
    assert.equal(
      serviceStateReason(service, { status: 'failed', fingerprint: 'f2', commit: 'ab'.repeat(20), errorCode: 'COMPOSE_FILE_INVALID', error: 'bad' }),
      `failed (unchanged since ${'ab'.repeat(6)}): not retried until its inputs change; deploy it to try again`,
    );
  });

  it('says nothing once the inputs changed, for transient failures, other states, or failures recorded without inputs', () => {
    const failed = { status: 'failed' as const, commit: null, errorCode: 'COMPOSE_FILE_INVALID', error: 'bad' };
    assert.equal(serviceStateReason(service, { ...failed, fingerprint: 'f1' }), null);
    assert.equal(serviceStateReason(service, { ...failed, fingerprint: null }), null);
    assert.equal(serviceStateReason(service, { ...failed, fingerprint: 'f2', errorCode: 'ENGINE_UNAVAILABLE' }), null, 'a transient failure is tried again');
    assert.equal(serviceStateReason(service, { ...failed, status: 'succeeded', fingerprint: 'f2' }), null);
    assert.equal(serviceStateReason(service, undefined), null);
  });
});
