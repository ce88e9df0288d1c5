import { timingSafeEqual } from 'node:crypto';
import { AppError } from '../../../errors.js';
import { headerValue, hmacSha256, kindOfRef, optionalHeader, readJsonObject, withEitherSecret } from '../common.js';
import type { WebhookEvent, WebhookProvider } from '../types.js';
import { packageSchema, pushSchema } from './schema.js';

/** Gitea, Forgejo and Gogs name their headers after themselves; otherwise they sign alike. */
const FLAVOURS = ['gitea', 'forgejo', 'gogs'] as const;
const HEX = /^[0-9a-fA-F]{64}$/;

const flavourOf = (headers: Record<string, unknown>) => FLAVOURS.find((f) => headers[`x-${f}-signature`] !== undefined) ?? FLAVOURS.find((f) => headers[`x-${f}-event`] !== undefined);

/** The container image a package event published: `<host>/<owner>/<name>:<version>`, the host from the package page. */
function imageOf(pkg: { type: string; name: string; version: string; owner: { login: string }; html_url?: string | undefined }): string[] {
  if (pkg.type !== 'container' || !pkg.html_url) return [];
  let host: string;
  try {
    host = new URL(pkg.html_url).host;
  } catch {
    return [];
  }
  return [`${host}/${pkg.owner.login}/${pkg.name}:${pkg.version}`.toLowerCase()];
}

/** Gitea / Forgejo / Gogs: hex HMAC-SHA256 of the body, without a prefix. Detected before GitHub: Gitea also sends X-Hub-Signature-256. */
export const gitea: WebhookProvider = {
  name: 'gitea',
  scheme: 'signature',
  detect: (headers) => flavourOf(headers) !== undefined,
  verify(request, secrets) {
    const flavour = flavourOf(request.headers) ?? 'gitea';
    const header = headerValue(request.headers, `x-${flavour}-signature`);
    if (header === 'missing' || header === 'malformed') return { ok: false, reason: header };
    if (!HEX.test(header.trim())) return { ok: false, reason: 'malformed' };
    const given = Buffer.from(header.trim(), 'hex');
    return withEitherSecret(secrets, (secret) => timingSafeEqual(given, hmacSha256(secret, request.body)));
  },
  readEvent(request): WebhookEvent {
    const flavour = flavourOf(request.headers) ?? 'gitea';
    const deliveryId = optionalHeader(request.headers, `x-${flavour}-delivery`) ?? null;
    const event = optionalHeader(request.headers, `x-${flavour}-event`);
    const json = readJsonObject(request.body);
    if (event === 'push') {
      const parsed = pushSchema.safeParse(json);
      if (!parsed.success) throw new AppError('INVALID_JSON', 'The push payload has no readable ref');
      return { ...kindOfRef(parsed.data.ref), deliveryId };
    }
    if (event === 'package') {
      const parsed = packageSchema.safeParse(json);
      if (!parsed.success) throw new AppError('INVALID_JSON', 'The package payload cannot be read');
      return { kind: 'package', branch: null, deliveryId, published: parsed.data.action === 'created', images: imageOf(parsed.data.package) };
    }
    return { kind: 'other', branch: null, deliveryId };
  },
};
