import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decidePrune, pruneCandidates } from './prune-plan.js';
import type { DeployedState } from './types.js';

const state = (service: string, compose = true): DeployedState => ({
  service,
  fingerprint: `fp-${service}`,
  files: {},
  commit: 'a'.repeat(40),
  deployedAt: '2026-01-01T00:00:00.000Z',
  images: {},
  ...(compose ? { compose: { runtime: 'podman' as const, projectName: service, composeFile: 'podman-compose.yml', text: 'services: {}\n' } } : {}),
});

const names = (states: Array<{ service: string }>) => states.map((s) => s.service).sort();

describe('pruneCandidates', () => {
  test('deployed services the checkout no longer has, never the own service', () => {
    const deployed = [state('a'), state('b'), state('gitops-deploy-server')];
    assert.deepEqual(names(pruneCandidates(deployed, new Set(['a']), 'gitops-deploy-server')), ['b']);
  });
});

describe('decidePrune', () => {
  const base = { deployedCount: 4, prune: true, maxFraction: 0.5 };

  test('a tracked removal with a stored compose file is pruned', () => {
    const decision = decidePrune({ ...base, candidates: [state('b')], removedInGit: new Set(['b']) });
    assert.deepEqual(names(decision.prune), ['b']);
    assert.deepEqual(decision.orphaned, []);
    assert.equal(decision.refused, undefined);
  });

  test('no removal in git (a directory lost from the checkout): orphaned, never pruned', () => {
    const decision = decidePrune({ ...base, candidates: [state('b')], removedInGit: new Set() });
    assert.deepEqual(decision.prune, []);
    assert.deepEqual(names(decision.orphaned), ['b']);
    assert.match(decision.orphaned[0]!.why, /no removal in git/);
  });

  test('no stored compose file (deployed before migration 6): orphaned, to take down by hand', () => {
    const decision = decidePrune({ ...base, candidates: [state('b', false)], removedInGit: new Set(['b']) });
    assert.deepEqual(decision.prune, []);
    assert.match(decision.orphaned[0]!.why, /by hand/);
  });

  test('PRUNE=false lists removals as orphaned', () => {
    const decision = decidePrune({ ...base, prune: false, candidates: [state('b'), state('c'), state('d')], removedInGit: new Set(['b', 'c', 'd']) });
    assert.deepEqual(decision.prune, []);
    assert.deepEqual(names(decision.orphaned), ['b', 'c', 'd']);
    assert.equal(decision.refused, undefined, 'nothing would be removed, so the guard has nothing to refuse');
  });

  test('the guard: more than one and more than the fraction of the deployed services refuses everything', () => {
    const decision = decidePrune({ ...base, candidates: [state('b'), state('c'), state('d')], removedInGit: new Set(['b', 'c', 'd']) });
    assert.deepEqual(decision.prune, []);
    assert.equal(decision.refused?.count, 3);
    assert.equal(decision.refused?.deployed, 4);
    assert.match(decision.refused!.message, /3 of 4 deployed services .*b, c, d.*PRUNE_MAX_FRACTION=0\.5/);
    assert.deepEqual(names(decision.orphaned), ['b', 'c', 'd']);
  });

  test('the guard allows exactly the fraction, and a single service always', () => {
    assert.equal(decidePrune({ ...base, candidates: [state('b'), state('c')], removedInGit: new Set(['b', 'c']) }).refused, undefined);
    const single = decidePrune({ ...base, deployedCount: 1, candidates: [state('b')], removedInGit: new Set(['b']) });
    assert.deepEqual(names(single.prune), ['b']);
  });

  test('PRUNE_MAX_FRACTION=1 turns the guard off (every service may go)', () => {
    const decision = decidePrune({ ...base, maxFraction: 1, candidates: [state('a'), state('b'), state('c'), state('d')], removedInGit: new Set(['a', 'b', 'c', 'd']) });
    assert.equal(decision.refused, undefined);
    assert.equal(decision.prune.length, 4);
  });

  test('only provable removals count towards the guard', () => {
    const decision = decidePrune({ ...base, candidates: [state('b'), state('c'), state('d')], removedInGit: new Set(['b']) });
    assert.equal(decision.refused, undefined);
    assert.deepEqual(names(decision.prune), ['b']);
    assert.deepEqual(names(decision.orphaned), ['c', 'd']);
  });
});
