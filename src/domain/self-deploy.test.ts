import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideSelfDeploy } from './self-deploy.js';

describe('decideSelfDeploy', () => {
  it('hands the own service to a helper when the server runs in a container of it, whatever SELF_DEPLOY says', () => {
    assert.deepEqual(decideSelfDeploy({ service: 'gds', runsInOwnContainer: true, mode: 'container' }), { kind: 'helper' });
    assert.deepEqual(decideSelfDeploy({ service: 'gds', runsInOwnContainer: true, mode: 'in-place' }), { kind: 'helper' });
  });

  it('leaves it alone, saying why, when the server runs elsewhere and SELF_DEPLOY is not in-place', () => {
    assert.deepEqual(decideSelfDeploy({ service: 'gds', runsInOwnContainer: false, mode: 'container' }), {
      kind: 'held',
      reason: 'not deployed: this server does not run in a container of gds; SELF_DEPLOY=in-place deploys it in place',
    });
  });

  it('deploys it in place only when SELF_DEPLOY=in-place opts in', () => {
    assert.deepEqual(decideSelfDeploy({ service: 'gds', runsInOwnContainer: false, mode: 'in-place' }), { kind: 'in-place' });
  });
});
