import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics, WebhookOutcome } from '../ports/metrics.js';
import { isValidServiceName } from '../domain/service-layout.js';
import { AppError, errorCatalog, isAppError } from '../errors.js';
import { createLogThrottle } from '../logging.js';
import type { ServiceCatalog } from '../ports/service-catalog.js';
import { readPackageEvent } from '../webhook/package-event.js';
import { verifySignature } from '../webhook/signature.js';
import { registerApiRoutes, type ApiDeps } from './api-routes.js';
import { registerDashboard } from './dashboard-assets.js';

/** What the routes need from the rest of the server. */
export interface ServerDeps extends ApiDeps {
  logger: Logger;
  webhookSecret: string;
  maxBodyBytes: number;
  catalog: Pick<ServiceCatalog, 'has'>;
  metrics: Pick<Metrics, 'webhook' | 'render' | 'contentType'>;
  /** Directory of the dashboard's files; the default is the one shipped beside the server. */
  dashboardDir?: string;
}

const WEBHOOK_ROUTES = new Set(['/deploy-all-changed', '/redeploy-and-update/:service']);
/** Refused signatures are logged once per window, with a count, however many arrive. */
const REFUSED_SIGNATURE_LOG_WINDOW_MS = 10_000;
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

function webhookOutcome(status: number): WebhookOutcome {
  if (status === 202) return 'accepted';
  if (status < 300) return 'ignored';
  return status < 500 ? 'rejected' : 'error';
}

/** Builds the HTTP server without listening, so tests drive it with inject(). */
export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Fastify's two lines per request at info are replaced by one, at a level chosen below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.maxBodyBytes,
    // Service names come from the path; keep the raw text so `%2F` is refused rather than decoded into a path.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
    // Answered below instead, in the catalog's shape and with a retry hint.
    return503OnClosing: false,
    // Closing comes last in the shutdown order (runs drained, streams ended): a slow request
    // still open then (a plan preview's fetch) must not hold the process.
    forceCloseConnections: true,
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

  const rawBody = (request: FastifyRequest): Buffer => (Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));

  // Anyone can send bad signatures as fast as the network allows; the log must not grow as fast.
  const refusedSignatures = createLogThrottle<{ reason: string; route: string | undefined; ip: string }>({
    log: (data, message) => deps.logger.warn(data, message),
    message: 'webhook refused: bad signature',
    windowMs: REFUSED_SIGNATURE_LOG_WINDOW_MS,
  });
  app.addHook('onClose', async () => refusedSignatures.flush());
  /** Requests already logged by the throttle, left out of the request log. */
  const refused = new WeakSet<FastifyRequest>();
  /** The run a request queued, for its log line. */
  const queuedRuns = new WeakMap<FastifyRequest, string>();

  // Answered here rather than thrown: a flood of bad signatures should cost no stack trace
  // and no trip through the error handler per request.
  const requireSignature = async (request: FastifyRequest, reply: FastifyReply) => {
    const check = verifySignature(deps.webhookSecret, rawBody(request), request.headers['x-hub-signature-256']);
    if (!check.ok) {
      refused.add(request);
      refusedSignatures.hit({ reason: check.reason, route: request.routeOptions.url, ip: request.ip });
      const code = check.reason === 'missing' ? 'SIGNATURE_MISSING' : 'SIGNATURE_INVALID';
      return reply.code(errorCatalog[code].status).send({ error: { code, message: errorCatalog[code].message } });
    }
  };

  app.addHook('preSerialization', async (request, _reply, payload) => {
    const runId = (payload as { runId?: unknown } | null)?.runId;
    if (typeof runId === 'string') queuedRuns.set(request, runId);
    return payload;
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url;
    if (route !== undefined && WEBHOOK_ROUTES.has(route)) deps.metrics.webhook(route, webhookOutcome(reply.statusCode));
    if (refused.has(request)) return;
    const level = requestLogLevel(request.method, reply.statusCode);
    if (!deps.logger.isLevelEnabled(level)) return;
    const runId = queuedRuns.get(request);
    request.log[level](
      {
        method: request.method,
        route: route ?? null,
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

  // GitHub sends a signed `ping` when a webhook is created; answering it deploys nothing.
  const isPing = (request: FastifyRequest) => request.headers['x-github-event'] === 'ping';

  app.post('/deploy-all-changed', { preHandler: requireSignature }, async (request, reply) => {
    if (isPing(request)) return reply.code(200).send({ status: 'ignored', note: 'ping received; the webhook works' });
    const { runId } = deps.triggers.deployAllChanged('webhook');
    return reply.code(202).send({ runId, status: 'queued' });
  });

  app.post<{ Params: { service: string } }>(
    '/redeploy-and-update/:service',
    { preHandler: requireSignature },
    async (request, reply) => {
      const name = serviceNameFromUrl(request.url);
      if (isPing(request)) return reply.code(200).send({ status: 'ignored', note: 'ping received; the webhook works' });
      const verdict = readPackageEvent(rawBody(request));
      if (!verdict.trigger) return reply.code(200).send({ status: 'ignored', note: verdict.note });
      if (!(await deps.catalog.has(name))) throw new AppError('UNKNOWN_SERVICE', `No service directory is named ${name}`);
      const { runId } = deps.triggers.redeployAndUpdate(name, 'webhook');
      return reply.code(202).send({ runId, status: 'queued' });
    },
  );

  registerApiRoutes(app, deps);
  registerDashboard(app, deps.dashboardDir);

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(errorBody(new AppError('ROUTE_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`)));
  });

  app.setErrorHandler((error: unknown, request, reply) => sendError(error, request, reply));
  return app;
}

/**
 * The service name exactly as it stands in the request path. Taken from the raw URL so an
 * encoded slash or dot-segment (`%2F`, `%2e%2e`) is refused instead of being decoded into a path.
 */
function serviceNameFromUrl(url: string): string {
  const raw = url.split('?')[0]!.slice('/redeploy-and-update/'.length).replace(/\/$/, '');
  if (!isValidServiceName(raw)) {
    throw new AppError('INVALID_SERVICE_NAME', 'The service name must be a service directory name: letters, digits, dot, dash, underscore');
  }
  return raw;
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
