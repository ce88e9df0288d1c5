import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics, WebhookOutcome } from '../ports/metrics.js';
import { isValidServiceName } from '../domain/service-layout.js';
import { AppError, isAppError } from '../errors.js';
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

function webhookOutcome(status: number): WebhookOutcome {
  if (status === 202) return 'accepted';
  if (status < 300) return 'ignored';
  return status < 500 ? 'rejected' : 'error';
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

  const requireSignature = async (request: FastifyRequest) => {
    const check = verifySignature(deps.webhookSecret, rawBody(request), request.headers['x-hub-signature-256']);
    if (!check.ok) {
      request.log.warn({ reason: check.reason }, 'webhook refused: bad signature');
      throw new AppError(check.reason === 'missing' ? 'SIGNATURE_MISSING' : 'SIGNATURE_INVALID');
    }
  };

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url;
    if (route !== undefined && WEBHOOK_ROUTES.has(route)) deps.metrics.webhook(route, webhookOutcome(reply.statusCode));
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
