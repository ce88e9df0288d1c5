/**
 * Which failed deployments are worth trying again by themselves, and when. Pure: the retry
 * scheduler asks it with a failure's code and message and gets a yes/no and a delay.
 *
 * Transient: the failure says nothing about the service's inputs (the engine or a registry was
 * away, a tool hung and was killed); the same inputs may well succeed a minute later.
 * Deterministic: the inputs themselves are wrong (invalid or unsupported compose file, missing
 * env file, a container that does not come up healthy); trying again fails the same way, so only
 * a change, or an operator's redeploy, tries again.
 */

/** Codes that are transient whatever the message says. */
// STORE_FAILED: the server's own disk, not the service's inputs.
const ALWAYS_TRANSIENT: ReadonlySet<string> = new Set(['ENGINE_UNAVAILABLE', 'PROCESS_TIMEOUT', 'STORE_FAILED']);

/**
 * Codes that are transient only when the tool's output shows a network or engine-connection
 * failure: a pull that timed out is worth a retry, a pull of a tag that does not exist is not.
 * The text matched is the compose tool's or registry's, not ours (our errors are told by code).
 */
const TRANSIENT_WHEN_NETWORK: ReadonlySet<string> = new Set(['PULL_FAILED', 'COMPOSE_FAILED', 'PROCESS_FAILED']);

const NETWORK_FAILURE = new RegExp(
  [
    'timeout',
    'timed out',
    'connection refused',
    'connection reset',
    'no such host',
    'network is unreachable',
    'temporary failure in name resolution',
    'tls handshake',
    'unexpected eof',
    'dial tcp',
    'dial unix',
    'cannot connect to the (docker|podman) daemon',
    'is the docker daemon running',
    // docker-compose 1.29 (Python): the engine socket gone or closed mid-call.
    "couldn't connect to docker daemon",
    'error while fetching server api version',
    'connection aborted',
    'broken pipe',
    'remotedisconnected',
    // podman and podman-compose: the API socket gone.
    'unable to connect to podman',
    'cannot connect to podman',
    '\\b50[234]\\b',
    'service unavailable',
    'bad gateway',
    'too many requests',
  ].join('|'),
  'i',
);

/** Whether a failure with this code and message is retried with backoff. */
export function isTransientFailure(failure: { code: string; message: string }): boolean {
  if (ALWAYS_TRANSIENT.has(failure.code)) return true;
  return TRANSIENT_WHEN_NETWORK.has(failure.code) && NETWORK_FAILURE.test(failure.message);
}

/**
 * Codes whose failure depends on something outside the service's fingerprint: a pull depends on
 * the registry (a tag not pushed yet) and its credentials (`secrets/registry-auth.json`,
 * REGISTRY_AUTH_FILE), which an operator fixes without changing the service's inputs.
 */
const OUTSIDE_INPUTS: ReadonlySet<string> = new Set(['PULL_FAILED']);

/**
 * Whether the plan holds a failure's inputs until they change: a failure of the inputs
 * themselves. Transient failures, and those that depend on what the fingerprint does not cover,
 * are tried again by the next run.
 */
export function holdsFailedInputs(failure: { code: string; message: string }): boolean {
  return !isTransientFailure(failure) && !OUTSIDE_INPUTS.has(failure.code);
}

export interface BackoffSettings {
  /** The first delay (RETRY_BACKOFF_SECONDS), in milliseconds. */
  initialMs: number;
  /** The cap (RETRY_BACKOFF_MAX_SECONDS), in milliseconds. */
  maxMs: number;
}

/**
 * The delay before retry number `attempt` (1 for the first): the initial delay doubled per
 * attempt, capped (30 s, 1 min, 2 min, ... 30 min by default). No jitter: at most one retry per
 * service is pending, so there is no herd to spread.
 */
export function backoffDelayMs(attempt: number, settings: BackoffSettings): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 40));
  return Math.min(settings.initialMs * 2 ** exponent, settings.maxMs);
}
