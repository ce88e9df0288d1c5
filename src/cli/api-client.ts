import type { ApiErrorInfo, EndEventData, RunDetail, RunEvent } from './api-types.js';
import { RUN_FINISHED_STATUSES } from './api-types.js';
import { CliError, ExitCode } from './exit-codes.js';
import { SseParser, type SseEvent } from './sse.js';

/**
 * The server answered an error. `code` is the API's stable error code (`UNKNOWN_SERVICE`,
 * `API_TOKEN_INVALID`, ...) or `HTTP_<status>` when the answer was not the API's error shape
 * (a proxy's page). A refused token (401/403) exits 3, everything else 4.
 */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(code, message, status === 401 || status === 403 ? ExitCode.unreachable : ExitCode.apiError);
    this.name = 'ApiError';
  }
}

/** No answer: connection refused, DNS failure, timeout, or a stream that could not be resumed. Exits 3. */
export class ServerUnreachableError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SERVER_UNREACHABLE', message, ExitCode.unreachable, options);
    this.name = 'ServerUnreachableError';
  }
}

/** A broken event stream worth reconnecting to (network error, idle stream, 502/503/504). */
class StreamInterrupted extends Error {}

export interface ApiClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:8080` (a path prefix behind a proxy is kept). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer`; never part of a message. */
  token: string;
  /** Longest wait for one answer. */
  timeoutMs: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface FollowOptions {
  /** Resume after this event id (as Last-Event-ID); from the start when absent. */
  after?: string;
  onEvent(event: RunEvent): void;
  /** Called before each reconnect attempt, e.g. to say so on stderr. */
  onReconnect?(info: { attempt: number; reason: string }): void;
  /** How long to keep trying to resume a lost stream before giving up (exit 3). Default 60 s. */
  reconnectForMs?: number;
  /** A stream silent for this long is treated as lost (the server pings every 15 s). Default 45 s. */
  idleTimeoutMs?: number;
}

const RETRYABLE_STATUSES = [502, 503, 504];
const EVENT_TYPES = ['run', 'deployment', 'output', 'end'];

/**
 * Client of the management API (docs/API.md): bearer token, a timeout on every request, the
 * API's `{error:{code,message}}` mapped to ApiError, and run events read as Server-Sent Events
 * over a fetch stream, resumed with Last-Event-ID when the connection drops.
 */
export class ApiClient {
  private readonly fetch: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(private readonly options: ApiClientOptions) {
    this.fetch = options.fetch ?? globalThis.fetch;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? Date.now;
  }

  get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  /** POSTs, without a body unless `body` is given (sent as JSON: a rollback's `{ "to": ... }`). */
  post<T>(path: string, options: { timeoutMs?: number; body?: unknown } = {}): Promise<T> {
    return this.request<T>('POST', path, options);
  }

  private async request<T>(method: string, path: string, options: { query?: Record<string, string | number | undefined>; timeoutMs?: number; body?: unknown }): Promise<T> {
    const url = this.url(path, options.query);
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    let response: Response;
    let text: string;
    try {
      const init: RequestInit = { method, headers: this.headers(), signal: AbortSignal.timeout(timeoutMs) };
      if (options.body !== undefined) Object.assign(init, { headers: { ...this.headers(), 'content-type': 'application/json' }, body: JSON.stringify(options.body) });
      response = await this.fetch(url, init);
      text = await response.text();
    } catch (error) {
      throw this.unreachable(url, error, timeoutMs);
    }
    if (!response.ok) throw apiErrorFrom(response, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(response.status, 'INVALID_RESPONSE', `${describeUrl(url)} answered ${response.status} with something that is not JSON: ${snippet(text)}`);
    }
  }

  /**
   * Follows a run's events until its `end` event and returns it. Stored events are replayed
   * first (the server keeps them), then live ones. A dropped connection is resumed from the
   * last event id; only a stream that cannot be resumed within `reconnectForMs` fails.
   */
  async followRunEvents(runId: string, options: FollowOptions): Promise<EndEventData> {
    const reconnectForMs = options.reconnectForMs ?? 60_000;
    let lastId = options.after;
    let connectedOnce = false;
    let failingSince: number | undefined;
    let attempt = 0;
    for (;;) {
      let reason: string;
      try {
        const end = await this.streamOnce(runId, lastId, options.idleTimeoutMs ?? 45_000, {
          connected: () => {
            connectedOnce = true;
            failingSince = undefined;
            attempt = 0;
          },
          event: (event) => {
            if (event.id !== undefined) lastId = event.id;
            options.onEvent(event);
          },
        });
        if (end) return end;
        // Closed without `end`: a finished run has nothing more to say; a running one is resumed.
        const run = await this.get<RunDetail>(`/api/runs/${encodeURIComponent(runId)}`);
        if (RUN_FINISHED_STATUSES.includes(run.status)) return { runId, status: run.status };
        reason = 'the server closed the event stream';
      } catch (error) {
        // The first connection failing is an answer (server down, unknown run): say it at once.
        if (!connectedOnce || !(error instanceof StreamInterrupted || error instanceof ServerUnreachableError)) throw error;
        reason = error.message;
      }
      failingSince ??= this.now();
      if (this.now() - failingSince > reconnectForMs) {
        throw new ServerUnreachableError(`lost the event stream of run ${runId} and could not resume it within ${Math.round(reconnectForMs / 1000)} s: ${reason}`);
      }
      attempt++;
      options.onReconnect?.({ attempt, reason });
      await this.sleep(Math.min(250 * 2 ** attempt, 5_000));
    }
  }

  /** One connection to the event stream: the `end` data, or undefined when it closed without one. */
  private async streamOnce(
    runId: string,
    lastId: string | undefined,
    idleTimeoutMs: number,
    on: { connected(): void; event(event: RunEvent): void },
  ): Promise<EndEventData | undefined> {
    const url = this.url(`/api/runs/${encodeURIComponent(runId)}/events`);
    const controller = new AbortController();
    let idleTimer: NodeJS.Timeout | undefined;
    const resetIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => controller.abort(new StreamInterrupted(`no data for ${Math.round(idleTimeoutMs / 1000)} s`)), idleTimeoutMs);
    };
    resetIdle();
    try {
      let response: Response;
      try {
        const headers: Record<string, string> = { ...this.headers(), accept: 'text/event-stream' };
        if (lastId !== undefined) headers['last-event-id'] = lastId;
        response = await this.fetch(url, { headers, signal: controller.signal });
      } catch (error) {
        if (error instanceof StreamInterrupted) throw error; // the idle timer fired while connecting
        throw this.unreachable(url, error, idleTimeoutMs);
      }
      if (!response.ok) {
        const text = await response.text().catch(() => '');
        const error = apiErrorFrom(response, text);
        if (RETRYABLE_STATUSES.includes(response.status)) throw new StreamInterrupted(error.message);
        throw error;
      }
      if (!response.body) throw new StreamInterrupted('the answer has no body');
      on.connected();
      const parser = new SseParser();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        let chunk: ReadableStreamReadResult<string>;
        try {
          chunk = await reader.read();
        } catch (error) {
          throw new StreamInterrupted(controller.signal.aborted && controller.signal.reason instanceof Error ? controller.signal.reason.message : describeCause(error));
        }
        if (chunk.done) return undefined;
        resetIdle();
        for (const raw of parser.push(chunk.value)) {
          const event = toRunEvent(raw);
          if (!event) continue;
          on.event(event);
          if (event.event === 'end') return event.data;
        }
      }
    } finally {
      clearTimeout(idleTimer);
      // Releases the connection whether the stream ended, failed or was left after `end`.
      controller.abort();
    }
  }

  private url(path: string, query: Record<string, string | number | undefined> = {}): URL {
    const url = new URL(`${this.options.baseUrl}${path}`);
    for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
    return url;
  }

  private headers(): Record<string, string> {
    return { authorization: `Bearer ${this.options.token}`, accept: 'application/json' };
  }

  private unreachable(url: URL, error: unknown, timeoutMs: number): ServerUnreachableError {
    if (error instanceof Error && error.name === 'TimeoutError') {
      return new ServerUnreachableError(`${describeUrl(url)} did not answer within ${Math.round(timeoutMs / 1000)} s`, { cause: error });
    }
    return new ServerUnreachableError(`cannot reach ${describeUrl(url)}: ${describeCause(error)}`, { cause: error });
  }
}

/** The API's error answer as an ApiError, or HTTP_<status> for an answer of another shape. */
function apiErrorFrom(response: Response, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { error?: Partial<ApiErrorInfo> };
    if (body.error && typeof body.error.code === 'string') {
      return new ApiError(response.status, body.error.code, body.error.message ?? body.error.code);
    }
  } catch {
    // not JSON: fall through
  }
  return new ApiError(response.status, `HTTP_${response.status}`, `the server answered ${response.status} ${response.statusText}${text ? `: ${snippet(text)}` : ''}`);
}

function toRunEvent(raw: SseEvent): RunEvent | undefined {
  if (!EVENT_TYPES.includes(raw.event)) return undefined; // types added later are not for this client
  try {
    return { id: raw.id, event: raw.event, data: JSON.parse(raw.data) } as RunEvent;
  } catch {
    throw new CliError('INVALID_RESPONSE', `the server sent a ${raw.event} event whose data is not JSON: ${snippet(raw.data)}`, ExitCode.apiError);
  }
}

/** Origin and path only: never credentials or query strings. */
function describeUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** fetch says only "fetch failed"; the reason (ECONNREFUSED 127.0.0.1:8080) is in its cause. */
function describeCause(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code && !cause.message.includes(code) ? `${code} ${cause.message}` : cause.message;
  }
  return error.message;
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}
