/** What a verifier is given: the request's headers (lower-case names) and the exact bytes received. */
export interface WebhookRequest {
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** The shared secret, and during a rotation the one it replaces. */
export interface WebhookSecrets {
  current: string;
  previous?: string | undefined;
}

/**
 * How a scheme authenticates: `signature` is an HMAC of the body alone (replayable for ever, and
 * over an empty body it authorises every trigger), `signed-timestamp` also signs when it was sent,
 * `token` is a forge's shared token (GitLab). `strict` mode accepts only the last two.
 */
export type AuthScheme = 'signature' | 'signed-timestamp' | 'token';

export type Verification =
  | { ok: true; matched: 'current' | 'previous' }
  | { ok: false; reason: 'missing' | 'malformed' | 'mismatch' | 'stale' };

/** What the event asks for, as far as a deploy server cares. */
export type EventKind = 'push' | 'tag' | 'ping' | 'package' | 'other';

export interface WebhookEvent {
  kind: EventKind;
  /** The pushed branch (`refs/heads/` removed); null when the payload names none (a CI call). */
  branch: string | null;
  /** The forge's id of this delivery, resent unchanged on a redelivery; null when it sends none. */
  deliveryId: string | null;
  /** For package events: whether a new version was published, and the image references it names. */
  published?: boolean;
  images?: string[];
}

/** One forge or signing scheme. Detection looks at headers only; verification at the raw bytes. */
export interface WebhookProvider {
  /** Stable name, used in logs and as the replay guard's key prefix. */
  name: string;
  scheme: AuthScheme;
  /** Whether the request carries this provider's headers (the registry asks the most specific first). */
  detect(headers: WebhookRequest['headers']): boolean;
  /** Checks the request against the current secret, then the previous one. `nowMs` for timestamped schemes. */
  verify(request: WebhookRequest, secrets: WebhookSecrets, nowMs: number): Verification;
  /** Reads the event from a verified request. Throws INVALID_JSON for a body it cannot read. */
  readEvent(request: WebhookRequest): WebhookEvent;
}
