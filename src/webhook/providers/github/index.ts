import { AppError } from '../../../errors.js';
import { headerValue, isJsonObject, kindOfRef, optionalHeader, readGenericBody, readJsonObject, verifyPrefixedHex } from '../common.js';
import type { WebhookEvent, WebhookProvider } from '../types.js';
import { packageDetailSchema, packageSchema, pushSchema } from './schema.js';

/** The image a GitHub package event published: `package_url` when given, else ghcr.io/<owner>/<name>:<tag>. */
function imagesOf(detail: unknown): string[] {
  const parsed = packageDetailSchema.safeParse(detail);
  if (!parsed.success) return [];
  const version = parsed.data.package_version;
  // An untagged version's package_url ends in `:` (ghcr.io/o/app:): no compose file can name it.
  if (version?.package_url) return version.package_url.endsWith(':') ? [] : [version.package_url];
  const tag = version?.container_metadata?.tag?.name;
  const base = version?.container_metadata?.labels?.image_url || (parsed.data.name ? `ghcr.io/${parsed.data.namespace ?? parsed.data.owner?.login ?? ''}/${parsed.data.name}` : undefined);
  return base && tag ? [`${base}:${tag}`] : [];
}

/** GitHub, and the seed's CI (X-Hub-Signature-256 over the body, often an empty one). */
export const github: WebhookProvider = {
  name: 'github',
  scheme: 'signature',
  detect: (headers) => headers['x-hub-signature-256'] !== undefined || headers['x-github-event'] !== undefined,
  verify: (request, secrets) => verifyPrefixedHex(headerValue(request.headers, 'x-hub-signature-256'), request.body, secrets),
  readEvent(request): WebhookEvent {
    const deliveryId = optionalHeader(request.headers, 'x-github-delivery') ?? null;
    const event = optionalHeader(request.headers, 'x-github-event');
    // The seed's CI may send any body to /deploy-all-changed: one that is no JSON object just deploys.
    if (event === undefined) return readGenericBody(isJsonObject(request.body) ? readJsonObject(request.body) : {}, deliveryId);
    const json = readJsonObject(request.body);
    if (event === 'ping') return { kind: 'ping', branch: null, deliveryId };
    if (event === 'push') {
      const parsed = pushSchema.safeParse(json);
      if (!parsed.success) throw new AppError('INVALID_JSON', 'The push payload has no readable ref');
      return { ...kindOfRef(parsed.data.ref), deliveryId };
    }
    if (event === 'package' || event === 'registry_package') {
      const parsed = packageSchema.safeParse(json);
      if (!parsed.success) throw new AppError('INVALID_JSON', 'The package payload cannot be read');
      const action = parsed.data.action;
      return { kind: 'package', branch: null, deliveryId, published: action === undefined || action === 'published', images: imagesOf(parsed.data.registry_package ?? parsed.data.package) };
    }
    return { kind: 'other', branch: null, deliveryId };
  },
};
