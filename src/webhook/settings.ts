import { isIP } from 'node:net';

/**
 * Webhook hardening settings from the environment (issue 10): secret rotation, strictness, the
 * failed-authentication limit, the proxy to trust for client addresses, the polling backstop and
 * Docker Hub's path token. Pure apart from the injected `secretValue` (config.ts's reader of a
 * `NAME` / `NAME_FILE` pair), and it reports every problem at once, like config.ts.
 */
export interface WebhookSettings {
  /** The secret being rotated out: still accepted until the operator unsets it. */
  webhookSecretPrevious?: string;
  /** `compat` accepts the seed's signature-only requests; `strict` wants a signed timestamp or a forge token. */
  webhookMode: 'compat' | 'strict';
  /** More failed authentications than this from one address in a minute get 429. */
  authFailuresPerMinute: number;
  /** Fastify's `trustProxy`: false, a hop count, or the proxies' addresses/CIDRs (comma-separated). */
  trustProxy: boolean | string | number;
  /** Interval of the `git ls-remote` backstop; undefined: off. */
  pollIntervalMs: number | undefined;
  /** Interval of image polling for services that opt in (`x-gitops: { poll-images: true }`); undefined: off. */
  imagePollIntervalMs: number | undefined;
  /** The secret path segment of the Docker Hub route (Docker Hub cannot sign); undefined: route off. */
  dockerHubToken?: string;
}

/** Credentials: kept from compose tools and git. */
export const WEBHOOK_SECRET_VARIABLES = [
  'WEBHOOK_SECRET_PREVIOUS', 'WEBHOOK_SECRET_PREVIOUS_FILE', 'DOCKERHUB_WEBHOOK_TOKEN', 'DOCKERHUB_WEBHOOK_TOKEN_FILE',
] as const;
/** The server's own settings: kept from compose tools too (see SERVER_SETTINGS in config.ts). */
export const WEBHOOK_SERVER_SETTINGS = ['WEBHOOK_MODE', 'WEBHOOK_AUTH_FAILURES_PER_MINUTE', 'TRUST_PROXY', 'POLL_INTERVAL_SECONDS', 'IMAGE_POLL_INTERVAL_SECONDS'] as const;

export const DEFAULT_AUTH_FAILURES_PER_MINUTE = 20;
/** Opted-in services are checked every 5 minutes: one manifest HEAD per tag, well within registry limits. */
export const DEFAULT_IMAGE_POLL_INTERVAL_SECONDS = 300;
const MAX_POLL_INTERVAL_SECONDS = 86_400;
/** A path token is seen by every proxy log on the way; it must at least be hard to guess. */
const MIN_DOCKERHUB_TOKEN_LENGTH = 24;
/** proxy-addr's names for address ranges, which Fastify's `trustProxy` accepts. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isAddressOrCidr(entry: string): boolean {
  if (PROXY_RANGE_NAMES.has(entry)) return true;
  const [address, bits, extra] = entry.split('/');
  if (extra !== undefined || address === undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

export function readWebhookSettings(
  env: Record<string, string | undefined>,
  secretValue: (name: string) => string | undefined,
  currentSecret: string | undefined,
): { settings: WebhookSettings; problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];

  const webhookSecretPrevious = secretValue('WEBHOOK_SECRET_PREVIOUS');
  if (webhookSecretPrevious === '') problems.push('The previous webhook secret is empty; unset WEBHOOK_SECRET_PREVIOUS when the rotation is over');
  if (webhookSecretPrevious !== undefined && webhookSecretPrevious === currentSecret) warnings.push('WEBHOOK_SECRET_PREVIOUS is the same as WEBHOOK_SECRET; unset it');

  const mode = env['WEBHOOK_MODE'] ?? 'compat';
  if (mode !== 'compat' && mode !== 'strict') problems.push('WEBHOOK_MODE must be compat or strict');

  let authFailuresPerMinute = DEFAULT_AUTH_FAILURES_PER_MINUTE;
  const failures = env['WEBHOOK_AUTH_FAILURES_PER_MINUTE'];
  if (failures !== undefined) {
    if (/^\d+$/.test(failures) && Number(failures) >= 1 && Number(failures) <= 100_000) authFailuresPerMinute = Number(failures);
    else problems.push('WEBHOOK_AUTH_FAILURES_PER_MINUTE must be a whole number between 1 and 100000');
  }

  let trustProxy: WebhookSettings['trustProxy'] = false;
  const proxy = env['TRUST_PROXY']?.trim();
  if (proxy !== undefined && proxy !== '' && proxy !== 'false') {
    if (/^\d+$/.test(proxy)) {
      // A hop count: the address that many entries from the right of X-Forwarded-For.
      const hops = Number(proxy);
      if (hops >= 1 && hops <= 10) trustProxy = hops;
      else if (hops !== 0) problems.push('TRUST_PROXY as a hop count must be between 1 and 10 (0: off)');
    } else if (proxy === 'true') {
      // Trusting every hop lets any client pick its own address and slip past the limit.
      problems.push('TRUST_PROXY=true would let any client choose its address; name the proxy (an address or CIDR) or give a hop count');
    } else {
      const entries = proxy.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
      const bad = entries.filter((entry) => !isAddressOrCidr(entry));
      if (entries.length === 0 || bad.length > 0) {
        problems.push(`TRUST_PROXY must be addresses or CIDRs (comma-separated), loopback, linklocal, uniquelocal, or a hop count${bad.length > 0 ? `; not understood: ${bad.join(', ')}` : ''}`);
      } else trustProxy = entries.join(',');
    }
  }

  let pollIntervalMs: number | undefined;
  const poll = env['POLL_INTERVAL_SECONDS'];
  if (poll !== undefined) {
    if (/^\d+$/.test(poll) && Number(poll) <= MAX_POLL_INTERVAL_SECONDS) pollIntervalMs = Number(poll) === 0 ? undefined : Number(poll) * 1000;
    else problems.push(`POLL_INTERVAL_SECONDS must be a whole number between 0 (off) and ${MAX_POLL_INTERVAL_SECONDS}`);
  }

  let imagePollIntervalMs: number | undefined = DEFAULT_IMAGE_POLL_INTERVAL_SECONDS * 1000;
  const imagePoll = env['IMAGE_POLL_INTERVAL_SECONDS'];
  if (imagePoll !== undefined) {
    if (/^\d+$/.test(imagePoll) && Number(imagePoll) <= MAX_POLL_INTERVAL_SECONDS) imagePollIntervalMs = Number(imagePoll) === 0 ? undefined : Number(imagePoll) * 1000;
    else problems.push(`IMAGE_POLL_INTERVAL_SECONDS must be a whole number between 0 (off) and ${MAX_POLL_INTERVAL_SECONDS}`);
  }

  const dockerHubToken = secretValue('DOCKERHUB_WEBHOOK_TOKEN');
  if (dockerHubToken !== undefined && !new RegExp(`^[A-Za-z0-9_-]{${MIN_DOCKERHUB_TOKEN_LENGTH},256}$`).test(dockerHubToken)) {
    problems.push(`DOCKERHUB_WEBHOOK_TOKEN must be ${MIN_DOCKERHUB_TOKEN_LENGTH} to 256 letters, digits, '-' or '_' (it is part of a URL)`);
  }

  return {
    settings: {
      webhookSecretPrevious,
      webhookMode: mode === 'strict' ? 'strict' : 'compat',
      authFailuresPerMinute,
      trustProxy,
      pollIntervalMs,
      imagePollIntervalMs,
      dockerHubToken,
    },
    problems,
    warnings,
  };
}
