/**
 * The error catalog: every failure the server reports has a stable code, an HTTP status
 * (for errors that reach a client) and a default message. Callers match on `code`, never on text.
 */
export const errorCatalog = {
  SIGNATURE_MISSING: { status: 401, message: 'The X-Hub-Signature-256 header is missing' },
  SIGNATURE_INVALID: { status: 401, message: 'The X-Hub-Signature-256 signature does not match the body' },
  SIGNATURE_STALE: { status: 401, message: 'The signed webhook-timestamp is more than 5 minutes from the server clock' },
  WEBHOOK_SCHEME_REFUSED: { status: 401, message: 'WEBHOOK_MODE=strict accepts only a signed timestamp (Standard Webhooks) or a forge token (GitLab, Harbor)' },
  WEBHOOK_TOKEN_INVALID: { status: 401, message: 'The webhook token does not match' },
  WEBHOOK_RATE_LIMITED: { status: 429, message: 'Too many failed webhook authentications from this address; retry after the Retry-After seconds' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is larger than allowed' },
  API_TOKEN_MISSING: { status: 401, message: 'The management API needs an Authorization: Bearer <API_TOKEN> header' },
  API_TOKEN_INVALID: { status: 401, message: 'The bearer token does not match API_TOKEN' },
  API_DISABLED: { status: 403, message: 'The management API is off: the server has no API_TOKEN' },
  INVALID_QUERY: { status: 400, message: 'A query parameter is not valid' },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON' },
  INVALID_SERVICE_NAME: { status: 400, message: 'The service name is not a valid service directory name' },
  UNKNOWN_SERVICE: { status: 404, message: 'No service directory has that name' },
  RUN_NOT_FOUND: { status: 404, message: 'No run has that id' },
  ROUTE_NOT_FOUND: { status: 404, message: 'No such route' },
  SYNC_FAILED: { status: 502, message: 'Syncing the environment repository with its remote failed' },
  REPOSITORY_INVALID: { status: 500, message: 'The environment repository checkout is not usable' },
  COMPOSE_FILE_INVALID: { status: 422, message: 'The compose file cannot be read' },
  COMPOSE_FILE_AMBIGUOUS: { status: 422, message: 'The service directory holds more than one compose file' },
  COMPOSE_UNSUPPORTED: { status: 422, message: 'The compose tool that would run the service cannot run a construct its compose file uses' },
  INPUT_FILE_INVALID: { status: 422, message: 'An input file of the service is not a regular file or is too large' },
  ENV_FILE_MISSING: { status: 422, message: 'An env file the compose file needs does not exist' },
  COMPOSE_FAILED: { status: 500, message: 'The compose tool failed' },
  PULL_FAILED: { status: 502, message: 'Pulling the service images failed' },
  ENGINE_STATE_MISMATCH: { status: 500, message: 'The engine does not run what the compose file asks for' },
  CONTAINER_UNHEALTHY: { status: 500, message: 'A container the deployment started did not become healthy (its healthcheck failed or did not pass in time)' },
  CONTAINER_EXITED: { status: 500, message: 'A container the deployment started exited with a non-zero code' },
  CONTAINER_RESTARTING: { status: 500, message: 'A container the deployment started keeps being restarted by its restart policy' },
  PRUNE_REFUSED: { status: 409, message: 'Pruning refused: more services would be removed at once than PRUNE_MAX_FRACTION allows' },
  ROLLBACK_TARGET_NOT_FOUND: { status: 404, message: 'No earlier successful deployment of the service matches' },
  ENGINE_UNAVAILABLE: { status: 503, message: 'The container engine cannot be reached' },
  COMMAND_NOT_FOUND: { status: 500, message: 'A required command is not installed' },
  PROCESS_FAILED: { status: 500, message: 'A command exited with an error' },
  PROCESS_ABORTED: { status: 500, message: 'A command was stopped because the server is shutting down' },
  PROCESS_TIMEOUT: { status: 504, message: 'A command took longer than allowed and was stopped' },
  SELF_UPDATE_UNHEALTHY: { status: 502, message: 'The new instance of the server did not answer /health in time' },
  SELF_UPDATE_FAILED: { status: 500, message: "The server's own service could not be updated" },
  SELF_UPDATE_LOST: { status: 500, message: 'The self-update helper container ended without recording a result' },
  DEPLOYMENT_INTERRUPTED: { status: 500, message: 'The server stopped while the deployment was running' },
  STORE_FAILED: { status: 500, message: 'The state database failed (a full disk, an I/O error)' },
  SERVER_STOPPING: { status: 503, message: 'The server is stopping (being updated or restarted); send the request again in a few seconds' },
  INTERNAL: { status: 500, message: 'Internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCatalog;

/** An error of the catalog. `details` is safe to show to clients and to log (never secrets). */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, options?: { details?: Record<string, unknown>; cause?: unknown }) {
    super(message ?? errorCatalog[code].message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = errorCatalog[code].status;
    this.details = options?.details;
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}

/** Normalises anything thrown into an AppError so records and responses have a code. */
export function toAppError(value: unknown): AppError {
  if (isAppError(value)) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new AppError('INTERNAL', message, { cause: value });
}
