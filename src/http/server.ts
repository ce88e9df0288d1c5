import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics } from '../ports/metrics.js';
import { AppError, isAppError } from '../errors.js';
import type { ServiceCatalog } from '../ports/service-catalog.js';
import { registerApiRoutes, type ApiDeps } from './api-routes.js';
import { registerDashboard } from './dashboard-assets.js';
import { registerWebhookRoutes, type WebhookDeps } from './webhook-routes.js';

/** What the routes need from the rest of the server. */
export interface ServerDeps extends ApiDeps, Omit<WebhookDeps, 'logger' | 'catalog' | 'triggers' | 'metrics'> {
  logger: Logger;
  /** Fastify's `trustProxy` (TRUST_PROXY): which proxy's X-Forwarded-For gives the client address. */
  trustProxy?: boolean | string | number;
  maxBodyBytes: number;
  catalog: Pick<ServiceCatalog, 'has'>;
  metrics: Pick<Metrics, 'webhook' | 'render' | 'contentType'>;
  /** Directory of the dashboard's files; the default is the one shipped beside the server. */
  dashboardDir?: string;
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Reads (a run polled by the CLI or the dashboard, health checks, scrapes, assets, streams) are
 * debug: one followed run would otherwise write a line per poll. Webhooks and API actions are
 * what an operator looks for: info, warn when refused, error when the server failed.
 */
function requestLogLevel(method: string, status: number): 'debug' | 'info' | 'warn' | 'error' {
  if (status >= 500) return 'error';
  if (READ_METHODS.has(method)) return 'debug';
  return status >= 400 ? 'warn' : 'info';
}

/** Builds the HTTP server without listening, so tests drive it with inject(). */
export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.maxBodyBytes,
    // Service names come from the path; keep the raw text so `%2F` is refused rather than decoded into a path.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
    // Answered below instead, in the catalog's shape and with a retry hint.
    return503OnClosing: false,
    // Fastify's two lines per request at info are replaced by one, at a level chosen below.
    logController: new LogController({ disableRequestLogging: true }),
    // Closing comes last in the shutdown order (runs drained, streams ended): idle keep-alive
    // connections must not hold it; a request still running is answered first.
    forceCloseConnections: 'idle',
    // A hop count is accepted at run time (proxy-addr); Fastify's types only list the other forms.
    trustProxy: (deps.trustProxy ?? false) as boolean | string,
  });

  // A request that reaches a stopping server (a self-update replacing it, a restart) is told to
  // come back: the next instance takes it, and nothing is half-accepted by this one.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (closing) return reply.code(503).header('retry-after', '5').header('connection', 'close').send(errorBody(new AppError('SERVER_STOPPING')));
  });

  // Every body is kept as the exact bytes received: the signature is computed over them.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  /** The run a request queued, for its log line. */
  const queuedRuns = new WeakMap<FastifyRequest, string>();
  app.decorateRequest('quietLog', false);
  app.addHook('preSerialization', async (request, _reply, payload) => {
    const runId = (payload as { runId?: unknown } | null)?.runId;
    if (typeof runId === 'string') queuedRuns.set(request, runId);
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    // Refused webhooks are logged by their own throttle: a flood must not become a flood of lines.
    if (request.quietLog) return;
    const level = requestLogLevel(request.method, reply.statusCode);
    if (!deps.logger.isLevelEnabled(level)) return;
    const runId = queuedRuns.get(request);
    request.log[level](
      {
        method: request.method,
        route: request.routeOptions.url ?? null,
        url: request.url,
        status: reply.statusCode,
        responseTimeMs: Math.round(reply.elapsedTime * 10) / 10,
        ...(runId === undefined ? {} : { runId }),
      },
      'request completed',
    );
  });

  app.get('/health', async () => ({
    status: 'ok',
    name: deps.serverName,
    version: deps.version,
    instance: deps.instanceLabel ?? null,
    startedAt: deps.startedAt,
  }));

  app.get('/metrics', async (_request, reply) => reply.header('content-type', deps.metrics.contentType).send(await deps.metrics.render()));

  registerWebhookRoutes(app, deps);
  registerApiRoutes(app, deps);
  registerDashboard(app, deps.dashboardDir);

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(errorBody(new AppError('ROUTE_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`)));
  });

  app.setErrorHandler((error: unknown, request, reply) => sendError(error, request, reply));
  return app;
}

function errorBody(error: AppError): { error: { code: string; message: string } } {
  return { error: { code: error.code, message: error.message } };
}

function sendError(thrown: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  let error: AppError;
  if (isAppError(thrown)) error = thrown;
  else if (isFastifyError(thrown, 'FST_ERR_CTP_BODY_TOO_LARGE')) error = new AppError('PAYLOAD_TOO_LARGE');
  else if (isFastifyError(thrown) && typeof thrown.statusCode === 'number' && thrown.statusCode < 500) {
    return reply.code(thrown.statusCode).send({ error: { code: thrown.code, message: thrown.message } });
  } else {
    request.log.error({ err: thrown }, 'request failed');
    error = new AppError('INTERNAL');
  }
  return reply.code(error.status).send(errorBody(error));
}

function isFastifyError(value: unknown, code?: string): value is { code: string; statusCode?: number; message: string } {
  return typeof value === 'object' && value !== null && typeof (value as { code?: unknown }).code === 'string' && (code === undefined || (value as { code: string }).code === code);
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the request was logged elsewhere (a throttled refusal): the request log skips it. */
    quietLog: boolean;
  }
}
