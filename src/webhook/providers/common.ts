import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../../errors.js';
import type { Verification, WebhookRequest, WebhookSecrets } from './types.js';

/** A header's single value; a header sent twice is `malformed`, an absent or empty one `missing`. */
export function headerValue(headers: WebhookRequest['headers'], name: string): string | 'missing' | 'malformed' {
  const value = headers[name];
  if (value === undefined || value === '') return 'missing';
  if (Array.isArray(value)) return 'malformed';
  return value;
}

/** A header's value for reading (delivery ids, event names): undefined unless sent once. */
export function optionalHeader(headers: WebhookRequest['headers'], name: string): string | undefined {
  const value = headerValue(headers, name);
  return value === 'missing' || value === 'malformed' ? undefined : value.trim();
}

export function hmacSha256(key: string | Buffer, data: Uint8Array | string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** Constant-time equality of two byte strings of any length (both sides digested first). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** Tries the current secret, then the previous one; says which matched so a rotation can be followed in the log. */
export function withEitherSecret(secrets: WebhookSecrets, matches: (secret: string) => boolean): Verification {
  if (matches(secrets.current)) return { ok: true, matched: 'current' };
  if (secrets.previous !== undefined && secrets.previous !== '' && matches(secrets.previous)) return { ok: true, matched: 'previous' };
  return { ok: false, reason: 'mismatch' };
}

const HEX_SHA256 = /^sha256=([0-9a-fA-F]{64})$/;

/** `sha256=<hex>` (GitHub's X-Hub-Signature-256, Bitbucket's X-Hub-Signature) over the raw bytes. */
export function verifyPrefixedHex(header: string | 'missing' | 'malformed', body: Uint8Array, secrets: WebhookSecrets): Verification {
  if (header === 'missing' || header === 'malformed') return { ok: false, reason: header };
  const match = HEX_SHA256.exec(header.trim());
  if (!match) return { ok: false, reason: 'malformed' };
  const given = Buffer.from(match[1]!, 'hex');
  return withEitherSecret(secrets, (secret) => timingSafeEqual(given, hmacSha256(secret, body)));
}

/** The JSON body as an object; an empty body (a CI call) is `{}`. Anything else is INVALID_JSON. */
export function readJsonObject(body: Uint8Array): Record<string, unknown> {
  const text = Buffer.from(body).toString('utf8').trim();
  if (text === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AppError('INVALID_JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new AppError('INVALID_JSON', 'The request body must be a JSON object');
  return json as Record<string, unknown>;
}

/** Whether the body reads as a JSON object (or is empty). */
export function isJsonObject(body: Uint8Array): boolean {
  try {
    readJsonObject(body);
    return true;
  } catch {
    return false;
  }
}

/** `refs/heads/main` → a push to `main`; `refs/tags/v1` → a tag. */
export function kindOfRef(ref: string | undefined): { kind: 'push' | 'tag' | 'other'; branch: string | null } {
  if (ref === undefined) return { kind: 'push', branch: null };
  if (ref.startsWith('refs/heads/')) return { kind: 'push', branch: ref.slice('refs/heads/'.length) };
  if (ref.startsWith('refs/tags/')) return { kind: 'tag', branch: null };
  return { kind: 'other', branch: null };
}

/**
 * A body a CI job sends (any scheme, no forge event header): `{}` or empty deploys, `ref` or
 * `branch` names the pushed branch, `image` / `images` name published images.
 */
export function readGenericBody(json: Record<string, unknown>, deliveryId: string | null): import('./types.js').WebhookEvent {
  const images = [json['image'], ...(Array.isArray(json['images']) ? json['images'] : [])].filter((i): i is string => typeof i === 'string' && i !== '');
  if (images.length > 0) return { kind: 'package', branch: null, deliveryId, published: true, images };
  if (typeof json['branch'] === 'string') return { kind: 'push', branch: json['branch'], deliveryId };
  const ref = typeof json['ref'] === 'string' ? json['ref'] : undefined;
  return { ...kindOfRef(ref), deliveryId };
}
