import { AppError } from '../../../errors.js';
import { headerValue, optionalHeader, readJsonObject, verifyPrefixedHex } from '../common.js';
import type { WebhookEvent, WebhookProvider } from '../types.js';
import { pushSchema } from './schema.js';

/** Bitbucket Cloud: X-Hub-Signature (`sha256=<hex>`, not GitHub's -256 header) with X-Event-Key. */
export const bitbucket: WebhookProvider = {
  name: 'bitbucket',
  scheme: 'signature',
  detect: (headers) => headers['x-event-key'] !== undefined && (headers['x-hub-signature'] !== undefined || headers['x-request-uuid'] !== undefined),
  verify: (request, secrets) => verifyPrefixedHex(headerValue(request.headers, 'x-hub-signature'), request.body, secrets),
  readEvent(request): WebhookEvent {
    const deliveryId = optionalHeader(request.headers, 'x-request-uuid') ?? null;
    if (optionalHeader(request.headers, 'x-event-key') !== 'repo:push') return { kind: 'other', branch: null, deliveryId };
    const parsed = pushSchema.safeParse(readJsonObject(request.body));
    if (!parsed.success) throw new AppError('INVALID_JSON', 'The repo:push payload cannot be read');
    const heads = parsed.data.push.changes.map((c) => c.new).filter((n) => n !== null && n !== undefined);
    const branch = heads.find((n) => n.type === 'branch' || n.type === 'named_branch');
    if (branch) return { kind: 'push', branch: branch.name, deliveryId };
    return { kind: heads.some((n) => n.type === 'tag') ? 'tag' : 'other', branch: null, deliveryId };
  },
};
