import { timingSafeEqual } from 'node:crypto';
import { headerValue, hmacSha256, optionalHeader, readGenericBody, readJsonObject, withEitherSecret } from '../common.js';
import type { WebhookEvent, WebhookProvider, WebhookRequest } from '../types.js';

/** How far a signed timestamp may be from the server's clock, either way (the spec's recommendation). */
export const TOLERANCE_SECONDS = 5 * 60;

/**
 * The HMAC key a secret stands for: the spec's `whsec_<base64>` keys are decoded, any other
 * secret is used as its UTF-8 bytes, so one WEBHOOK_SECRET serves every scheme.
 */
export function standardWebhooksKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

/** The three headers for a body: `v1,<base64 HMAC-SHA256 of id.timestamp.body>`. */
export function signStandardWebhook(secret: string, id: string, timestampSeconds: number, body: Uint8Array): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  const mac = hmacSha256(standardWebhooksKey(secret), Buffer.concat([Buffer.from(`${id}.${timestampSeconds}.`), body])).toString('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': `v1,${mac}` };
}

const read = (request: WebhookRequest, name: string) => headerValue(request.headers, name);

/** Standard Webhooks (Svix and others): the id and the timestamp are signed with the body, so a replay is bounded. */
export const standardWebhooks: WebhookProvider = {
  name: 'standard-webhooks',
  scheme: 'signed-timestamp',
  detect: (headers) => headers['webhook-signature'] !== undefined || headers['webhook-id'] !== undefined || headers['webhook-timestamp'] !== undefined,
  verify(request, secrets, nowMs) {
    const id = read(request, 'webhook-id');
    const timestamp = read(request, 'webhook-timestamp');
    const signature = read(request, 'webhook-signature');
    for (const value of [id, timestamp, signature]) if (value === 'missing' || value === 'malformed') return { ok: false, reason: value };
    if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'malformed' };
    if (Math.abs(nowMs / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) return { ok: false, reason: 'stale' };
    // Several signatures, space-separated (a sender rotating its key sends both); only v1 (HMAC) is known.
    const given = signature
      .split(' ')
      .filter((part) => part.startsWith('v1,'))
      .map((part) => Buffer.from(part.slice(3), 'base64'))
      .filter((mac) => mac.length === 32);
    if (given.length === 0) return { ok: false, reason: 'malformed' };
    const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), request.body]);
    return withEitherSecret(secrets, (secret) => {
      const expected = hmacSha256(standardWebhooksKey(secret), signed);
      return given.some((mac) => timingSafeEqual(mac, expected));
    });
  },
  readEvent(request): WebhookEvent {
    return readGenericBody(readJsonObject(request.body), optionalHeader(request.headers, 'webhook-id') ?? null);
  },
};
