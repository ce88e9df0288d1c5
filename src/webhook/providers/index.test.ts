import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { detectProvider, webhookProviders, type WebhookRequest } from './index.js';
import { signStandardWebhook } from './standard-webhooks/index.js';

const SECRET = 'the-current-webhook-secret';
const PREVIOUS = 'the-secret-being-rotated-out';
const NOW_MS = Date.parse('2026-01-01T12:00:00Z');
const secrets = { current: SECRET, previous: PREVIOUS };

const fixture = (provider: string, name: string) => {
  const dir = new URL(`./${provider}/fixtures/`, import.meta.url);
  const headers = JSON.parse(readFileSync(new URL(`${name}.headers.json`, dir), 'utf8')) as Record<string, string>;
  return { headers, body: readFileSync(new URL(`${name}.json`, dir)) };
};
const hex = (secret: string, body: Uint8Array) => createHmac('sha256', secret).update(body).digest('hex');

/** How each forge authenticates a request it sends: the header(s) it adds for a secret and body. */
const signers: Record<string, { header: string; sign: (secret: string, body: Buffer) => Record<string, string> }> = {
  github: { header: 'x-hub-signature-256', sign: (s, b) => ({ 'x-hub-signature-256': `sha256=${hex(s, b)}` }) },
  // Gitea sends both its own signature and GitHub's header.
  gitea: { header: 'x-gitea-signature', sign: (s, b) => ({ 'x-gitea-signature': hex(s, b), 'x-hub-signature-256': `sha256=${hex(s, b)}` }) },
  gitlab: { header: 'x-gitlab-token', sign: (s) => ({ 'x-gitlab-token': s }) },
  bitbucket: { header: 'x-hub-signature', sign: (s, b) => ({ 'x-event-key': 'repo:push', 'x-hub-signature': `sha256=${hex(s, b)}` }) },
  'standard-webhooks': { header: 'webhook-signature', sign: (s, b) => signStandardWebhook(s, 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', Math.floor(NOW_MS / 1000), b) },
};

const cases = [
  { provider: 'github', fixture: 'push', event: { kind: 'push', branch: 'master', deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958' } },
  { provider: 'github', fixture: 'tag-push', event: { kind: 'tag', branch: null, deliveryId: 'a9b8c7d6-cc78-11e3-81ab-4c9367dc0958' } },
  // An untagged version (`package_url` ends in `:`): it names no image a compose file can use.
  { provider: 'github', fixture: 'registry-package-published', event: { kind: 'package', branch: null, deliveryId: '0d3e6b10-2f6a-11ef-8b1c-6a2c6e5f1b22', published: true, images: [] } },
  { provider: 'github', fixture: 'ping', event: { kind: 'ping', branch: null, deliveryId: 'e05eb1f2-fbc7-11e3-8e1d-423f213c5718' } },
  { provider: 'gitea', fixture: 'push', event: { kind: 'push', branch: 'develop', deliveryId: 'f6266f16-1bf3-46a5-9ea4-602e06ead473' } },
  { provider: 'gitea', fixture: 'package', event: { kind: 'package', branch: null, deliveryId: '1b0d4a4c-8f1e-4b1d-9f4e-2c9a0f6f2a11', published: true, images: ['gitea.example.com/gitea/app:1.2.3'] } },
  { provider: 'gitlab', fixture: 'push', event: { kind: 'push', branch: 'master', deliveryId: '13792a34-cac6-4fda-95a8-c58e00a3954e' } },
  { provider: 'gitlab', fixture: 'tag-push', event: { kind: 'tag', branch: null, deliveryId: '3c4f4bd4-0b1e-4a4c-9b35-3a9e9f6c2d10' } },
  { provider: 'bitbucket', fixture: 'push', event: { kind: 'push', branch: 'main', deliveryId: 'afbd7a7e-1d5a-4c5b-8a3f-4b6d2d0f9e21' } },
  { provider: 'standard-webhooks', fixture: 'spec-vector', event: { kind: 'push', branch: null, deliveryId: 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W' } },
] as const;

describe('webhook providers, with the forges\' own sample payloads', () => {
  for (const c of cases) {
    describe(`${c.provider} ${c.fixture}`, () => {
      const { headers, body } = fixture(c.provider, c.fixture);
      const signer = signers[c.provider]!;
      // Standard Webhooks' fixture headers carry the spec vector's signature: replace them with ours.
      const base = Object.fromEntries(Object.entries(headers).filter(([k]) => !k.startsWith('webhook-')));
      const request = (secret: string, bytes = body): WebhookRequest => ({ headers: { ...base, ...signer.sign(secret, bytes) }, body: bytes });

      it('is detected as its forge and accepted with the current secret', () => {
        const provider = detectProvider(request(SECRET).headers);
        assert.equal(provider.name, c.provider);
        assert.deepEqual(provider.verify(request(SECRET), secrets, NOW_MS), { ok: true, matched: 'current' });
        assert.deepEqual(provider.readEvent(request(SECRET)), c.event);
      });

      it('is accepted with the previous secret during a rotation, and says so', () => {
        const provider = detectProvider(request(PREVIOUS).headers);
        assert.deepEqual(provider.verify(request(PREVIOUS), secrets, NOW_MS), { ok: true, matched: 'previous' });
        assert.deepEqual(provider.verify(request(PREVIOUS), { current: SECRET }, NOW_MS), { ok: false, reason: 'mismatch' });
      });

      it('refuses a wrong secret', () => {
        const provider = detectProvider(request('someone-elses-secret').headers);
        assert.deepEqual(provider.verify(request('someone-elses-secret'), secrets, NOW_MS), { ok: false, reason: 'mismatch' });
      });

      it('refuses a tampered body (signed schemes) or accepts the token only (GitLab)', () => {
        const signed = request(SECRET);
        const tampered = { headers: signed.headers, body: Buffer.from(body.toString('utf8').replace('"', "'")) };
        assert.notDeepEqual(tampered.body, body);
        const verdict = detectProvider(tampered.headers).verify(tampered, secrets, NOW_MS);
        // GitLab signs nothing: its token proves the sender, not the body (that is GitLab's design).
        assert.deepEqual(verdict, c.provider === 'gitlab' ? { ok: true, matched: 'current' } : { ok: false, reason: 'mismatch' });
      });

      it('reports a missing signature header', () => {
        const signed = request(SECRET);
        const headers = { ...signed.headers };
        delete headers[signer.header];
        const provider = webhookProviders.find((p) => p.name === c.provider)!;
        assert.deepEqual(provider.verify({ headers, body }, secrets, NOW_MS), { ok: false, reason: 'missing' });
      });

      it('is not detected on the other forges\' requests, and their signatures do not pass it', () => {
        const provider = webhookProviders.find((p) => p.name === c.provider)!;
        for (const [other, otherSigner] of Object.entries(signers)) {
          if (other === c.provider) continue;
          const foreign = { headers: otherSigner.sign(SECRET, body), body };
          assert.notEqual(detectProvider(foreign.headers).name, c.provider, other);
          // Gitea also sends GitHub's header, which is why the registry asks Gitea first.
          if (c.provider === 'github' && other === 'gitea') continue;
          assert.equal(provider.detect(foreign.headers), false, `${other} detected as ${c.provider}`);
          assert.equal(provider.verify(foreign, secrets, NOW_MS).ok, false, `${other}'s headers pass ${c.provider}`);
        }
      });
    });
  }

  it('takes a request without any forge header for GitHub (the seed CI), and refuses it as unsigned', () => {
    const provider = detectProvider({});
    assert.equal(provider.name, 'github');
    assert.deepEqual(provider.verify({ headers: {}, body: Buffer.alloc(0) }, secrets, NOW_MS), { ok: false, reason: 'missing' });
  });
});
