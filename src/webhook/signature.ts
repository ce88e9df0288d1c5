import { createHmac, timingSafeEqual } from 'node:crypto';

export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'mismatch' };

const HEADER_VALUE = /^sha256=([0-9a-fA-F]{64})$/;

/** The X-Hub-Signature-256 value for a body: `sha256=<hex HMAC-SHA256>`. */
export function signBody(secret: string, body: Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Verifies X-Hub-Signature-256 over the exact bytes received (never re-serialised JSON), in
 * constant time. The header arrives as a string, or an array if sent twice; twice is refused.
 */
export function verifySignature(secret: string, body: Uint8Array, header: string | string[] | undefined): SignatureCheck {
  if (header === undefined || header === '') return { ok: false, reason: 'missing' };
  if (Array.isArray(header)) return { ok: false, reason: 'malformed' };
  const match = HEADER_VALUE.exec(header.trim());
  if (!match) return { ok: false, reason: 'malformed' };
  const expected = createHmac('sha256', secret).update(body).digest();
  const given = Buffer.from(match[1]!, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected) ? { ok: true } : { ok: false, reason: 'mismatch' };
}
