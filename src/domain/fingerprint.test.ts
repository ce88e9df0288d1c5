import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { changedFiles, fingerprintOf } from './fingerprint.js';
import { MISSING_DIGEST } from './types.js';
import { sha256hex } from '../util/digest.js';

const sha256 = sha256hex;

describe('fingerprintOf', () => {
  it('does not depend on the order files were read in', () => {
    const a = { 'podman-compose.yml': 'd1', '.env': 'd2', 'config/app.ini': 'd3', '../../secrets/app.env': 'd4' };
    const b = { '../../secrets/app.env': 'd4', 'config/app.ini': 'd3', '.env': 'd2', 'podman-compose.yml': 'd1' };
    assert.equal(fingerprintOf(a, sha256), fingerprintOf(b, sha256));
    assert.match(fingerprintOf(a, sha256), /^[0-9a-f]{64}$/);
  });

  it('changes when a digest, a path, or the set of files changes', () => {
    const base = { 'compose.yaml': 'd1', '.env': 'd2' };
    const fp = fingerprintOf(base, sha256);
    assert.notEqual(fingerprintOf({ ...base, '.env': 'd3' }, sha256), fp);
    assert.notEqual(fingerprintOf({ 'compose.yaml': 'd1', 'x.env': 'd2' }, sha256), fp);
    assert.notEqual(fingerprintOf({ ...base, 'extra.conf': 'd4' }, sha256), fp);
    assert.notEqual(fingerprintOf({ 'compose.yaml': 'd1' }, sha256), fp);
    assert.notEqual(fingerprintOf({ ...base, '.env': MISSING_DIGEST }, sha256), fp);
  });

  it('keeps path and digest apart (no ambiguity from concatenation)', () => {
    assert.notEqual(fingerprintOf({ ab: 'c' }, sha256), fingerprintOf({ a: 'bc' }, sha256));
  });

  it('uses the hash function it is given', () => {
    assert.equal(fingerprintOf({ 'compose.yaml': 'd1' }, () => 'fixed'), 'fixed');
  });
});

describe('changedFiles', () => {
  it('lists added, removed and changed paths, nothing unchanged', () => {
    const previous = { 'compose.yaml': 'd1', 'a.conf': 'x', 'gone.conf': 'y' };
    const current = { 'compose.yaml': 'd1', 'a.conf': 'x2', 'new.conf': 'z' };
    assert.deepEqual(changedFiles(previous, current), ['a.conf', 'gone.conf', 'new.conf']);
    assert.deepEqual(changedFiles(current, current), []);
  });

  it('puts the compose file first and files outside the directory last', () => {
    const previous = {};
    const current = {
      '../../secrets/app.env': 's',
      'z.conf': 'z',
      'config/app.ini': 'c',
      'podman-compose.yml': 'p',
      '.env': 'e',
      '../shared/common.env': 'h',
    };
    assert.deepEqual(changedFiles(previous, current), [
      'podman-compose.yml',
      '.env',
      'config/app.ini',
      'z.conf',
      '../../secrets/app.env',
      '../shared/common.env',
    ]);
  });

  it('ranks only a top-level compose file first', () => {
    const changed = changedFiles({}, { 'nested/compose.yaml': 'n', 'docker-compose.yml': 'd', 'a.txt': 'a' });
    assert.deepEqual(changed, ['docker-compose.yml', 'a.txt', 'nested/compose.yaml']);
  });
});
