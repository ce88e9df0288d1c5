import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fingerprintOf } from './fingerprint.js';
import { planDeployAll } from './plan.js';
import type { DeployedState, FileDigests, ServiceSource } from './types.js';
import { sha256hex } from '../util/digest.js';

const sha256 = sha256hex;

function source(name: string, files: FileDigests): ServiceSource {
  return {
    name,
    dir: `/env-repo/services/${name}`,
    composeFile: 'podman-compose.yml',
    runtime: 'podman',
    projectName: name,
    files,
    fingerprint: fingerprintOf(files, sha256),
    requiredEnvFiles: [],
    untrackedInputs: [],
  };
}

function deployed(name: string, files: FileDigests, fingerprint = fingerprintOf(files, sha256)): DeployedState {
  return { service: name, fingerprint, files, commit: 'c0ffee', deployedAt: '2024-05-01T10:00:00.000Z', images: {} };
}

describe('planDeployAll', () => {
  const appFiles = { 'podman-compose.yml': 'p1', '.env': 'e1', '../../secrets/app.env': 's1' };

  it('deploys a service never deployed before as new', () => {
    const plan = planDeployAll({ services: [source('app', appFiles)], deployed: new Map(), selfService: 'gitops-deploy-server' });
    assert.deepEqual(plan, [{ service: 'app', decision: 'deploy', reason: 'new service', changedFiles: [] }]);
  });

  it('leaves a service whose fingerprint matches unchanged', () => {
    const plan = planDeployAll({
      services: [source('app', appFiles)],
      deployed: new Map([['app', deployed('app', appFiles)]]),
      selfService: 'gitops-deploy-server',
    });
    assert.equal(plan[0]!.decision, 'unchanged');
    assert.match(plan[0]!.reason, /unchanged/);
  });

  it('deploys a changed service and names the files, compose file first and outside files last', () => {
    const now = { ...appFiles, 'podman-compose.yml': 'p2', '../../secrets/app.env': 's2', 'config/app.ini': 'c1' };
    const plan = planDeployAll({
      services: [source('app', now)],
      deployed: new Map([['app', deployed('app', appFiles)]]),
      selfService: 'gitops-deploy-server',
    });
    assert.deepEqual(plan, [
      {
        service: 'app',
        decision: 'deploy',
        reason: 'changed: podman-compose.yml, config/app.ini, ../../secrets/app.env',
        changedFiles: ['podman-compose.yml', 'config/app.ini', '../../secrets/app.env'],
      },
    ]);
  });

  it('names exactly the compose file and the outside secret when only those changed', () => {
    const now = { ...appFiles, 'podman-compose.yml': 'p2', '../../secrets/app.env': 's2' };
    const [entry] = planDeployAll({
      services: [source('app', now)],
      deployed: new Map([['app', deployed('app', appFiles)]]),
      selfService: 'x',
    });
    assert.equal(entry!.reason, 'changed: podman-compose.yml, ../../secrets/app.env');
  });

  it('still deploys when fingerprints differ but file digests are equal (fingerprint rules changed)', () => {
    const plan = planDeployAll({
      services: [source('app', appFiles)],
      deployed: new Map([['app', deployed('app', appFiles, 'an-older-fingerprint')]]),
      selfService: 'x',
    });
    assert.deepEqual(plan, [{ service: 'app', decision: 'deploy', reason: 'changed: fingerprint rules', changedFiles: [] }]);
  });

  it("marks the server's own service `self` when new or changed, and unchanged otherwise", () => {
    const fresh = planDeployAll({ services: [source('gitops-deploy-server', appFiles)], deployed: new Map(), selfService: 'gitops-deploy-server' });
    assert.deepEqual(fresh, [{ service: 'gitops-deploy-server', decision: 'self', reason: 'new service', changedFiles: [] }]);
    const changed = planDeployAll({
      services: [source('gitops-deploy-server', { 'compose.yaml': 'new' })],
      deployed: new Map([['gitops-deploy-server', deployed('gitops-deploy-server', { 'compose.yaml': 'old' })]]),
      selfService: 'gitops-deploy-server',
    });
    assert.deepEqual(changed, [{ service: 'gitops-deploy-server', decision: 'self', reason: 'changed: compose.yaml', changedFiles: ['compose.yaml'] }]);
    const same = planDeployAll({
      services: [source('gitops-deploy-server', { 'compose.yaml': 'old' })],
      deployed: new Map([['gitops-deploy-server', deployed('gitops-deploy-server', { 'compose.yaml': 'old' })]]),
      selfService: 'gitops-deploy-server',
    });
    assert.equal(same[0]!.decision, 'unchanged');
  });

  it('decides each service on its own, in the order given, ignoring deployed services gone from the repository', () => {
    const plan = planDeployAll({
      services: [source('a', { 'compose.yaml': '1' }), source('b', { 'compose.yaml': '2' }), source('self', {}), source('c', { 'compose.yaml': '3' })],
      deployed: new Map([
        ['b', deployed('b', { 'compose.yaml': '2' })],
        ['c', deployed('c', { 'compose.yaml': 'old' })],
        ['removed', deployed('removed', { 'compose.yaml': 'r' })],
      ]),
      selfService: 'self',
    });
    assert.deepEqual(
      plan.map((entry) => [entry.service, entry.decision]),
      [['a', 'deploy'], ['b', 'unchanged'], ['self', 'self'], ['c', 'deploy']],
    );
    assert.equal(plan[3]!.reason, 'changed: compose.yaml');
  });

  it('does not try again inputs of the own service whose self-update was rolled back, until they change', () => {
    const input = {
      services: [source('gitops-deploy-server', { 'compose.yaml': 'broken' })],
      deployed: new Map([['gitops-deploy-server', deployed('gitops-deploy-server', { 'compose.yaml': 'good' })]]),
      selfService: 'gitops-deploy-server',
    };
    const broken = input.services[0]!.fingerprint;
    const [held] = planDeployAll({ ...input, rolledBack: new Map([['gitops-deploy-server', broken]]) });
    assert.equal(held!.decision, 'unchanged');
    assert.match(held!.reason, /not retried: a self-update with these inputs was rolled back/);
    const [fixed] = planDeployAll({ ...input, rolledBack: new Map([['gitops-deploy-server', 'an older attempt']]) });
    assert.equal(fixed!.decision, 'self');
  });

  it('leaves a pinned service alone while git still has the inputs it was pinned against, and follows git once they change', () => {
    const running = { ...appFiles, '.env': 'e0' };
    const pinnedAgainst = source('app', appFiles);
    const pin = { service: 'app', commit: 'ab'.repeat(20), gitFingerprint: pinnedAgainst.fingerprint, reason: 'manual' as const, deploymentId: 'd_1', pinnedAt: '2024-05-01T10:00:00.000Z' };
    const input = { deployed: new Map([['app', deployed('app', running)]]), selfService: 'gitops-deploy-server', pins: new Map([['app', pin]]) };
    const [held] = planDeployAll({ ...input, services: [pinnedAgainst] });
    assert.equal(held!.decision, 'unchanged');
    assert.equal(held!.reason, `pinned to ${'ab'.repeat(6)} (rolled back by hand): left alone until its inputs change in git; unpin or deploy it to follow git now`);
    assert.deepEqual(held!.changedFiles, ['.env'], 'what differs from git is still said');
    const [follows] = planDeployAll({ ...input, services: [source('app', { ...appFiles, '.env': 'e2' })] });
    assert.equal(follows!.decision, 'deploy');
    assert.equal(follows!.reason, 'changed: .env');
  });

  it('does not try again inputs whose deployment failed, until they change; says since which commit', () => {
    const broken = source('app', { ...appFiles, '.env': 'e2' });
    const input = { deployed: new Map([['app', deployed('app', appFiles)]]), selfService: 'gitops-deploy-server' };
    const failed = new Map([['app', { fingerprint: broken.fingerprint, commit: 'cd'.repeat(20) }]]);
    const [held] = planDeployAll({ ...input, services: [broken], failed });
    assert.equal(held!.decision, 'unchanged');
    assert.equal(held!.reason, `failed (unchanged since ${'cd'.repeat(6)}): not retried until its inputs change; deploy it to try again`);
    assert.deepEqual(held!.changedFiles, ['.env']);
    const [fixed] = planDeployAll({ ...input, services: [source('app', { ...appFiles, '.env': 'e3' })], failed });
    assert.equal(fixed!.decision, 'deploy');
    assert.equal(fixed!.reason, 'changed: .env');
    const [fresh] = planDeployAll({ selfService: 'x', deployed: new Map(), services: [broken], failed });
    assert.equal(fresh!.decision, 'unchanged', 'a new service that failed is held too');
  });

  it('holds the own service with the reason given when it must not be deployed from here', () => {
    const why = 'not deployed: this server does not run in a container of gitops-deploy-server; SELF_DEPLOY=in-place deploys it in place';
    const [held] = planDeployAll({ services: [source('gitops-deploy-server', appFiles)], deployed: new Map(), selfService: 'gitops-deploy-server', selfHeld: why });
    assert.deepEqual(held, { service: 'gitops-deploy-server', decision: 'unchanged', reason: why, changedFiles: [] });
    const [other] = planDeployAll({ services: [source('app', appFiles)], deployed: new Map(), selfService: 'gitops-deploy-server', selfHeld: why });
    assert.equal(other!.decision, 'deploy');
  });
});
