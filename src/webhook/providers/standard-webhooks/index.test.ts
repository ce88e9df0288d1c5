import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { signStandardWebhook, standardWebhooks, TOLERANCE_SECONDS } from './index.js';

const vector = {
  headers: JSON.parse(readFileSync(new URL('./fixtures/spec-vector.headers.json', import.meta.url), 'utf8')) as Record<string, string>,
  body: readFileSync(new URL('./fixtures/spec-vector.json', import.meta.url)),
};
const SPEC_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const vectorNow = Number(vector.headers['webhook-timestamp']) * 1000;

describe('Standard Webhooks', () => {
  it('accepts the reference libraries\' test vector with its whsec_ key', () => {
    assert.deepEqual(standardWebhooks.verify(vector, { current: SPEC_SECRET }, vectorNow), { ok: true, matched: 'current' });
    assert.deepEqual(signStandardWebhook(SPEC_SECRET, vector.headers['webhook-id']!, Number(vector.headers['webhook-timestamp']), vector.body)['webhook-signature'], vector.headers['webhook-signature']);
  });

  it('refuses a timestamp more than 5 minutes away either way, and accepts one just inside', () => {
    const late = vectorNow + (TOLERANCE_SECONDS + 60) * 1000;
    const early = vectorNow - (TOLERANCE_SECONDS + 60) * 1000;
    assert.deepEqual(standardWebhooks.verify(vector, { current: SPEC_SECRET }, late), { ok: false, reason: 'stale' });
    assert.deepEqual(standardWebhooks.verify(vector, { current: SPEC_SECRET }, early), { ok: false, reason: 'stale' });
    assert.equal(standardWebhooks.verify(vector, { current: SPEC_SECRET }, vectorNow + (TOLERANCE_SECONDS - 1) * 1000).ok, true);
  });

  it('refuses a timestamp changed after signing (it is signed too)', () => {
    const moved = { ...vector, headers: { ...vector.headers, 'webhook-timestamp': String(Number(vector.headers['webhook-timestamp']) + 1) } };
    assert.deepEqual(standardWebhooks.verify(moved, { current: SPEC_SECRET }, vectorNow), { ok: false, reason: 'mismatch' });
  });

  it('accepts any one of several space-separated signatures, and ignores unknown versions', () => {
    const good = vector.headers['webhook-signature']!;
    const several = { ...vector, headers: { ...vector.headers, 'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')} v1a,abc ${good}` } };
    assert.equal(standardWebhooks.verify(several, { current: SPEC_SECRET }, vectorNow).ok, true);
    const none = { ...vector, headers: { ...vector.headers, 'webhook-signature': 'v2,abc' } };
    assert.deepEqual(standardWebhooks.verify(none, { current: SPEC_SECRET }, vectorNow), { ok: false, reason: 'malformed' });
  });

  it('uses a plain secret as its UTF-8 bytes, not as base64', () => {
    const plain = 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    assert.equal(standardWebhooks.verify(vector, { current: plain }, vectorNow).ok, false);
    const signed = { headers: signStandardWebhook(plain, 'msg_1', 1_700_000_000, vector.body), body: vector.body };
    assert.equal(standardWebhooks.verify(signed, { current: plain }, 1_700_000_000_000).ok, true);
  });
});
