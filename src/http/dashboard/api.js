// The management API client (docs/API.md): the bearer token kept in localStorage, requests with
// a timeout, and the server's errors sorted into API errors, an unreachable server, and a
// refused token. It knows no views: what the page shows on a refused token is set by app.js.

const TOKEN_KEY = 'gds.apiToken';
/** A request without a complete answer by then counts as unreachable (the plan has its own). */
export const REQUEST_TIMEOUT_MS = 30_000;

/** An answer with an error body from the server (`{error: {code, message}}`). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The server did not answer (network down, restarting, or a proxy's 502/503/504 page). */
export class UnreachableError extends Error {}

/** The token was refused or the API is off; the page already shows the token form or the note. */
export class AuthError extends Error {}

export const session = {
  token: readStoredToken(),
  /** Bumped whenever the token changes, so a late 401 for an old token does not log out a new one. */
  generation: 0,
  ready: false,
};

function readStoredToken() {
  try {
    return typeof localStorage === 'undefined' ? '' : localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function storeToken(token) {
  session.token = token;
  session.generation++;
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Private mode without storage: the token lives for this page only.
  }
}

/**
 * What the page does when the token is refused (401) or the API is off (403 API_DISABLED); app.js
 * sets both, so this module needs no import of the views (and no import cycle).
 */
const authFailure = { unauthorized: () => {}, disabled: () => {} };

export function onAuthFailure(handlers) {
  Object.assign(authFailure, handlers);
}

/** The error of a failed answer: the server's own `{code, message}` when it sent one. */
export async function readError(response) {
  let body = null;
  try {
    const text = await response.text();
    body = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: a proxy page or a cut connection.
  }
  // Only the server's own error shape counts: a proxy's page or Fastify's 503 while the server
  // closes (`{"error": "Service Unavailable"}`) means the server itself did not answer.
  const ours = typeof body?.error === 'object' && body.error !== null && typeof body.error.code === 'string';
  const code = ours ? body.error.code : undefined;
  const message = (ours ? body.error.message : undefined) ?? `HTTP ${response.status} ${response.statusText}`.trim();
  return { code, message, hasBody: ours };
}

/** Turns 401/403 into the token form or the "API off" note, and throws AuthError. */
export function handleAuthFailure(status, code, message, generation) {
  if (generation !== session.generation) throw new AuthError(message);
  if (status === 401) {
    storeToken('');
    authFailure.unauthorized(message || 'The server refused the token.');
    throw new AuthError(message);
  }
  if (status === 403 && code === 'API_DISABLED') {
    authFailure.disabled(message);
    throw new AuthError(message);
  }
}

/**
 * Calls the management API with the bearer token; returns the parsed JSON body. A request that
 * gets no complete answer within `timeoutMs` counts as the server being unreachable, so a hung
 * connection cannot stall a poller for ever.
 */
export async function api(path, { method = 'GET', timeoutMs = REQUEST_TIMEOUT_MS, body } = {}) {
  const generation = session.generation;
  const signal = AbortSignal.timeout(timeoutMs);
  const unreachable = (error) =>
    new UnreachableError(error?.name === 'TimeoutError' ? `The server did not answer within ${Math.round(timeoutMs / 1_000)} s` : 'Server unreachable');
  let response;
  try {
    response = await fetch(path, {
      method,
      signal,
      cache: 'no-store',
      headers: { Authorization: `Bearer ${session.token}`, Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    throw unreachable(error);
  }
  if (response.ok) {
    let text;
    try {
      text = await response.text();
    } catch (error) {
      throw unreachable(error);
    }
    return text ? JSON.parse(text) : null;
  }
  const { code, message, hasBody } = await readError(response);
  handleAuthFailure(response.status, code, message, generation);
  if (!hasBody && response.status >= 502) throw new UnreachableError(`Server unreachable (${message})`);
  throw new ApiError(response.status, code ?? `HTTP_${response.status}`, message);
}
