import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { prepareRegistryAuth, registryCredentialValues } from './registry-auth.js';

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

test('a malformed auth file is named in the error without quoting any of its content', () => {
  // JSON.parse's own message would quote `"auth": c2VjcmV0LX...`: a credential.
  const secret = 'c2VjcmV0LXBhc3N3b3Jk';
  const repoFile = path.join(repo, 'secrets', 'registry-auth.json');
  writeFileSync(repoFile, `{"auths": {"r.example": {"auth": ${secret}}}}`);
  const operatorFile = path.join(dir, 'auth.json');
  writeFileSync(operatorFile, `auths: ${secret}`);
  for (const [file, extra] of [[repoFile, {}], [operatorFile, { registryAuthFile: operatorFile }]] as const) {
    let message = '';
    try {
      prepareRegistryAuth(sources(extra));
    } catch (error) {
      message = (error as Error).message;
    }
    const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(message, new RegExp(`^${escaped} is not valid JSON( \\(error at character \\d+\\))?$`), message);
    assert.ok(!message.includes(secret.slice(0, 4)), message);
  }
});

test('an auth file that is JSON but not an object is refused', () => {
  writeFileSync(path.join(repo, 'secrets', 'registry-auth.json'), '"c2VjcmV0"');
  assert.throws(() => prepareRegistryAuth(sources()), (error: Error) => error.message.endsWith('registry-auth.json is not a JSON object') && !error.message.includes('c2Vj'));
});

test('the merged file is replaced by a rename: a parallel reader never sees a partial file', async () => {
  // Large enough that writing it in place is observable half-done.
  const auths = Object.fromEntries(Array.from({ length: 3_000 }, (_, i) => [`r${i}.example`, { auth: 'dXNlcjpwYXNzd29yZA==' }]));
  writeFileSync(path.join(repo, 'secrets', 'registry-auth.json'), JSON.stringify({ auths }));
  const file = prepareRegistryAuth(sources())['REGISTRY_AUTH_FILE']!;
  const inodeBefore = statSync(file).ino;
  prepareRegistryAuth(sources());
  assert.notEqual(statSync(file).ino, inodeBefore, 'a new file, not the old one rewritten');

  // A real second process reads the file in a loop while this one keeps rewriting it.
  const stop = path.join(dir, 'stop');
  const reader = spawn(process.execPath, ['-e', `
    const fs = require('node:fs');
    let reads = 0, bad = 0;
    while (!fs.existsSync(${JSON.stringify(stop)})) {
      try { JSON.parse(fs.readFileSync(${JSON.stringify(file)}, 'utf8')); } catch { bad++; }
      reads++;
    }
    console.log(JSON.stringify({ reads, bad }));
  `]);
  let out = '';
  reader.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => reader.on('exit', () => resolve()));
  await new Promise((resolve) => setTimeout(resolve, 300)); // the reader is running
  const deadline = Date.now() + 1_500;
  let writes = 0;
  while (Date.now() < deadline || writes < 30) {
    prepareRegistryAuth(sources());
    writes++;
  }
  writeFileSync(stop, '');
  await exited;
  const { reads, bad } = JSON.parse(out) as { reads: number; bad: number };
  assert.ok(reads >= 5, `the reader overlapped the writes: reads ${reads}, writes ${writes}`);
  assert.equal(bad, 0, `${bad} of ${reads} reads saw a partial file`);
  assert.deepEqual(readdirSync(path.dirname(file)), ['config.json'], 'no temporary file is left');
  assert.equal(statSync(file).mode & 0o777, 0o600);
});

test('the credential strings of every source are known to redaction, without writing anything', () => {
  writeFileSync(path.join(repo, 'secrets', 'ghcr.cred'), 'ghp_token\n');
  const operatorFile = path.join(dir, 'auth.json');
  const auth = Buffer.from('bot:registry-pw').toString('base64');
  writeFileSync(operatorFile, JSON.stringify({ auths: { 'registry.example.com': { auth }, 'other.example.com': { identitytoken: 'id-token', password: 'pw2' } } }));
  writeFileSync(path.join(repo, 'secrets', 'registry-auth.json'), '{ not json');
  const values = registryCredentialValues({ envRepoPath: repo, ghcrUser: 'octo', registryAuthFile: operatorFile });
  const ghcr = Buffer.from('octo:ghp_token').toString('base64');
  assert.deepEqual(values.sort(), [auth, 'bot:registry-pw', 'registry-pw', 'id-token', 'pw2', 'ghp_token', ghcr, 'octo:ghp_token'].sort());
  assert.deepEqual(registryCredentialValues({ envRepoPath: path.join(dir, 'nowhere'), ghcrUser: undefined, registryAuthFile: undefined }), []);
  assert.ok(!readdirSync(dir).includes('state'), 'nothing written');
});

test("the operator's docker CLI plugins stay visible under the server's DOCKER_CONFIG (a per-user docker compose)", () => {
  const userConfig = path.join(dir, 'user-docker');
  mkdirSync(path.join(userConfig, 'cli-plugins'), { recursive: true });
  writeFileSync(path.join(userConfig, 'cli-plugins', 'docker-compose'), '#!/bin/sh\n');
  writeFileSync(path.join(repo, 'secrets', 'registry-auth.json'), JSON.stringify({ auths: { 'r.example': { auth: 'eDp5' } } }));
  const env = prepareRegistryAuth(sources({ dockerConfigDir: userConfig }));
  assert.deepEqual(readdirSync(path.join(env['DOCKER_CONFIG']!, 'cli-plugins')), ['docker-compose']);
  // A second pull finds the link in place.
  assert.doesNotThrow(() => prepareRegistryAuth(sources({ dockerConfigDir: userConfig })));
});
