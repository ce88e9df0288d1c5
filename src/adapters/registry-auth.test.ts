import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { prepareRegistryAuth } from './registry-auth.js';

let dir: string;
let repo: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'gds-auth-'));
  repo = path.join(dir, 'repo');
  mkdirSync(path.join(repo, 'secrets'), { recursive: true });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sources = (extra: Partial<Parameters<typeof prepareRegistryAuth>[0]> = {}) => ({
  envRepoPath: repo,
  ghcrUser: undefined,
  registryAuthFile: undefined,
  stateDir: path.join(dir, 'state'),
  ...extra,
});

test('nothing configured leaves the tools on their own defaults', () => {
  assert.deepEqual(prepareRegistryAuth(sources()), {});
});

test('ghcr.cred with GHCR_USER becomes a ghcr.io entry, like the old server login', () => {
  writeFileSync(path.join(repo, 'secrets', 'ghcr.cred'), 'ghp_token\n');
  const env = prepareRegistryAuth(sources({ ghcrUser: 'octo' }));
  assert.equal(env['DOCKER_CONFIG'], path.join(dir, 'state'));
  const file = env['REGISTRY_AUTH_FILE']!;
  const auth = JSON.parse(readFileSync(file, 'utf8')) as { auths: Record<string, { auth: string }> };
  assert.equal(Buffer.from(auth.auths['ghcr.io']!.auth, 'base64').toString(), 'octo:ghp_token');
  assert.equal(statSync(file).mode & 0o777, 0o600, 'credentials are readable by the server only');
});

test('ghcr.cred without GHCR_USER is not used', () => {
  writeFileSync(path.join(repo, 'secrets', 'ghcr.cred'), 'ghp_token\n');
  assert.deepEqual(prepareRegistryAuth(sources()), {});
});

test('the operator file and the repository secret are merged', () => {
  const operatorFile = path.join(dir, 'auth.json');
  writeFileSync(operatorFile, JSON.stringify({ auths: { 'a.example': { auth: 'YTpi' } }, credHelpers: { 'c.example': 'pass' } }));
  writeFileSync(path.join(repo, 'secrets', 'registry-auth.json'), JSON.stringify({ auths: { 'b.example': { auth: 'Yzpk' } } }));
  const env = prepareRegistryAuth(sources({ registryAuthFile: operatorFile }));
  const merged = JSON.parse(readFileSync(env['REGISTRY_AUTH_FILE']!, 'utf8')) as { auths: Record<string, unknown>; credHelpers: unknown };
  assert.deepEqual(Object.keys(merged.auths).sort(), ['a.example', 'b.example']);
  assert.deepEqual(merged.credHelpers, { 'c.example': 'pass' });
});

test('an unreadable auth file is an error, not silently anonymous pulls', () => {
  writeFileSync(path.join(repo, 'secrets', 'registry-auth.json'), '{not json');
  assert.throws(() => prepareRegistryAuth(sources()));
});
