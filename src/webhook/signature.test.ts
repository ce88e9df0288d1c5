import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { signBody, verifySignature } from './signature.js';

const SECRET = 'a-webhook-secret-of-some-length';
const hmacHex = (secret: string, body: Uint8Array) => createHmac('sha256', secret).update(body).digest('hex');

describe('signBody', () => {
  it('is sha256= followed by the hex HMAC of the raw bytes', () => {
    const body = Buffer.from('{"ref":"refs/heads/main"}');
    assert.equal(signBody(SECRET, body), `sha256=${hmacHex(SECRET, body)}`);
    assert.match(signBody(SECRET, body), /^sha256=[0-9a-f]{64}$/);
  });

  it('signs an empty body (what the old CI sends)', () => {
    assert.equal(signBody(SECRET, new Uint8Array(0)), `sha256=${hmacHex(SECRET, Buffer.alloc(0))}`);
  });
});

describe('verifySignature', () => {
  const body = Buffer.from('{"action": "published",\n  "package": {"name": "app"}}');

  it('accepts the signature of the exact bytes', () => {
    assert.deepEqual(verifySignature(SECRET, body, signBody(SECRET, body)), { ok: true });
  });

  it('accepts an empty body signed as empty', () => {
    const empty = new Uint8Array(0);
    assert.deepEqual(verifySignature(SECRET, empty, signBody(SECRET, empty)), { ok: true });
  });

  it('accepts upper-case hex and surrounding whitespace in the header', () => {
    const header = `  sha256=${hmacHex(SECRET, body).toUpperCase()} `;
    assert.deepEqual(verifySignature(SECRET, body, header), { ok: true });
  });

  it('refuses a signature made with another secret', () => {
    assert.deepEqual(verifySignature(SECRET, body, signBody('another-secret-entirely', body)), { ok: false, reason: 'mismatch' });
  });

  it('refuses the signature of an empty body on a non-empty body, and the reverse', () => {
    const emptySig = signBody(SECRET, new Uint8Array(0));
    assert.deepEqual(verifySignature(SECRET, body, emptySig), { ok: false, reason: 'mismatch' });
    assert.deepEqual(verifySignature(SECRET, new Uint8Array(0), signBody(SECRET, body)), { ok: false, reason: 'mismatch' });
  });

  it('refuses a body re-serialised with different whitespace', () => {
    const header = signBody(SECRET, body);
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(body.toString('utf8'))));
    assert.notDeepEqual(reserialised, body);
    assert.deepEqual(verifySignature(SECRET, reserialised, header), { ok: false, reason: 'mismatch' });
  });

  it('reports a missing header (undefined or empty)', () => {
    assert.deepEqual(verifySignature(SECRET, body, undefined), { ok: false, reason: 'missing' });
    assert.deepEqual(verifySignature(SECRET, body, ''), { ok: false, reason: 'missing' });
  });

  it('reports malformed headers', () => {
    const hex = hmacHex(SECRET, body);
    const malformed = [
      hex, // no sha256= prefix
      `sha1=${hex.slice(0, 40)}`,
      `sha256=${hex.slice(0, 63)}`, // too short
      `sha256=${hex}0`, // too long
      `sha256=${'g'.repeat(64)}`, // not hex
      `sha256=${hex.slice(0, 62)}zz`,
      `sha256:${hex}`,
      `sha256= ${hex}`,
      'sha256=',
    ];
    for (const header of malformed) {
      assert.deepEqual(verifySignature(SECRET, body, header), { ok: false, reason: 'malformed' }, header);
    }
  });

  it('refuses a header sent twice (array), even when one value is right', () => {
    const good = signBody(SECRET, body);
    assert.deepEqual(verifySignature(SECRET, body, [good, good]), { ok: false, reason: 'malformed' });
    assert.deepEqual(verifySignature(SECRET, body, [good]), { ok: false, reason: 'malformed' });
  });
});
