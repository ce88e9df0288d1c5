import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeploymentRecord } from '../ports/store.js';
import { failedInputs } from './rolled-back.js';

const last = (service: string, extra: Partial<DeploymentRecord>): [string, DeploymentRecord] => [
  service,
  { id: `d-${service}`, runId: 'r', service, action: 'deploy', status: 'failed', reason: '', commit: 'c1', errorCode: 'COMPOSE_FILE_INVALID', error: 'bad', output: '', imagesBefore: null, imagesAfter: null, handoff: null, fingerprint: `f-${service}`, files: null, createdAt: '', startedAt: null, finishedAt: null, ...extra },
];

describe('failedInputs', () => {
  it('holds the inputs of failures of the inputs only: not transient ones, not pulls, not interrupted ones, not failures recorded without inputs', () => {
    const store = {
      lastDeployments: () =>
        new Map([
          last('bad-compose', {}),
          last('unhealthy', { errorCode: 'CONTAINER_EXITED' }),
          last('engine-away', { errorCode: 'ENGINE_UNAVAILABLE' }),
          last('registry-down', { errorCode: 'PULL_FAILED', error: 'dial tcp 127.0.0.1:5055: connect: connection refused' }),
          last('tag-missing', { errorCode: 'PULL_FAILED', error: 'manifest unknown' }),
          last('cut-off', { status: 'interrupted', errorCode: 'DEPLOYMENT_INTERRUPTED' }),
          last('self-update', { fingerprint: null }),
          last('fine', { status: 'succeeded', errorCode: null, error: null }),
        ]),
    };
    assert.deepEqual([...failedInputs(store).keys()].sort(), ['bad-compose', 'unhealthy'], 'a pull depends on the registry and credentials, not the inputs');
    assert.deepEqual(failedInputs(store).get('bad-compose'), { fingerprint: 'f-bad-compose', commit: 'c1' });
  });
});
