import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createRegistryDigests, splitReference } from './registry-digest.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('splitReference', () => {
  it('expands Docker Hub short names and keeps registries with ports', () => {
    assert.deepEqual(splitReference('nginx'), { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' });
    assert.deepEqual(splitReference('127.0.0.1:5055/team/app:v2'), { registry: '127.0.0.1:5055', repository: 'team/app', tag: 'v2' });
    assert.equal(splitReference(`nginx@${DIGEST}`), null);
  });
});

describe('createRegistryDigests', () => {
  it('answers a Bearer challenge through the token service with the auth file\'s credentials', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'registry-digest-test-'));
    try {
      const file = join(dir, 'auth.json');
      const basic = Buffer.from('bot:pw').toString('base64');
      writeFileSync(file, JSON.stringify({ auths: { 'ghcr.io': { auth: basic } } }));
      const calls: Array<{ url: string; authorization: string | undefined; method: string }> = [];
      const fakeFetch = (async (input: string | URL, init?: RequestInit) => {
        const headers = (init?.headers ?? {}) as Record<string, string>;
        calls.push({ url: String(input), authorization: headers['authorization'], method: init?.method ?? 'GET' });
        const url = String(input);
        if (url.startsWith('https://ghcr.io/token')) return Response.json({ token: 'tok' });
        if (headers['authorization'] === 'Bearer tok') return new Response(null, { status: 200, headers: { 'docker-content-digest': DIGEST } });
        return new Response(null, { status: 401, headers: { 'www-authenticate': 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:org/app:pull"' } });
      }) as typeof fetch;
      const digests = createRegistryDigests({ authEnv: () => ({ REGISTRY_AUTH_FILE: file }), fetch: fakeFetch });
      assert.equal(await digests.digest('ghcr.io/org/app:1'), DIGEST);
      assert.deepEqual(calls.map((c) => [c.method, c.url, c.authorization]), [
        ['HEAD', 'https://ghcr.io/v2/org/app/manifests/1', undefined],
        ['GET', 'https://ghcr.io/token?service=ghcr.io&scope=repository%3Aorg%2Fapp%3Apull', `Basic ${basic}`],
        ['HEAD', 'https://ghcr.io/v2/org/app/manifests/1', 'Bearer tok'],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with a message that names the registry when it answers without a digest', async () => {
    const fakeFetch = (async () => new Response(null, { status: 404 })) as unknown as typeof fetch;
    await assert.rejects(createRegistryDigests({ authEnv: () => ({}), fetch: fakeFetch }).digest('localhost:5000/app:1'), /localhost:5000 .* answered 404/);
  });
});
