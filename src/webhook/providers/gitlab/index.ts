import { AppError } from '../../../errors.js';
import { equalBytes, headerValue, kindOfRef, optionalHeader, readJsonObject, withEitherSecret } from '../common.js';
import type { WebhookEvent, WebhookProvider } from '../types.js';
import { pushSchema } from './schema.js';

/** GitLab: the secret token is sent as it is in X-Gitlab-Token (no signature), compared in constant time. */
export const gitlab: WebhookProvider = {
  name: 'gitlab',
  scheme: 'token',
  detect: (headers) => headers['x-gitlab-token'] !== undefined || headers['x-gitlab-event'] !== undefined,
  verify(request, secrets) {
    const token = headerValue(request.headers, 'x-gitlab-token');
    if (token === 'missing' || token === 'malformed') return { ok: false, reason: token };
    const given = Buffer.from(token, 'utf8');
    return withEitherSecret(secrets, (secret) => equalBytes(given, Buffer.from(secret, 'utf8')));
  },
  readEvent(request): WebhookEvent {
    const deliveryId = optionalHeader(request.headers, 'x-gitlab-event-uuid') ?? null;
    const event = optionalHeader(request.headers, 'x-gitlab-event');
    if (event !== 'Push Hook' && event !== 'Tag Push Hook') return { kind: 'other', branch: null, deliveryId };
    const parsed = pushSchema.safeParse(readJsonObject(request.body));
    if (!parsed.success) throw new AppError('INVALID_JSON', 'The push payload has no readable ref');
    return { ...kindOfRef(parsed.data.ref), deliveryId };
  },
};
