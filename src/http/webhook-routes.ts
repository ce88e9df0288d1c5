import { createLogThrottle } from '../logging.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Triggers } from '../deploy/dispatcher.js';
import { isValidServiceName } from '../domain/service-layout.js';
import { AppError } from '../errors.js';
import type { Metrics, WebhookOutcome } from '../ports/metrics.js';
import type { ServiceCatalog } from '../ports/service-catalog.js';
import { readPackageEvent } from '../webhook/package-event.js';
import { equalBytes } from '../webhook/providers/common.js';
import { detectProvider, type WebhookEvent, type WebhookProvider, type WebhookSecrets } from '../webhook/providers/index.js';
import { readDockerHubCallback } from '../webhook/registries/dockerhub/index.js';
import { readHarborEvent } from '../webhook/registries/harbor/index.js';
import type { ReplayGuard } from '../webhook/replay-guard.js';
import type { AuthFailureLimiter } from './auth-failure-limiter.js';

/** What the webhook routes need; every field past the seed's has a default that changes nothing. */
export interface WebhookDeps {
  logger: Logger;
  /** The seed's single secret; `webhookSecrets` wins when given. */
  webhookSecret: string;
  webhookSecrets?: WebhookSecrets;
  webhookMode?: 'compat' | 'strict';
  replayGuard?: ReplayGuard;
  authFailures?: Pick<AuthFailureLimiter, 'retryAfterSeconds' | 'recordFailure'>;
  /** The services whose compose files name an image (registry webhooks name images, not services). */
  servicesForImage?: (reference: string) => Promise<string[]>;
  /** The branch deployed from; a push to another one starts nothing. Unset: no branch filter. */
  trackedBranch?: () => Promise<string>;
  /** Docker Hub's path token; unset: its route answers 404. */
  dockerHubToken?: string | undefined;
  /** Milliseconds since the epoch, for signed timestamps. */
  now?: () => number;
  catalog: Pick<ServiceCatalog, 'has'>;
  triggers: Triggers;
  metrics: Pick<Metrics, 'webhook'>;
}

/** An authenticated webhook: which provider, and what it says. */
interface Verified {
  provider: WebhookProvider;
  event: WebhookEvent;
}

/** Refused webhooks are logged once per window, with a count, however many arrive. */
const REFUSAL_LOG_WINDOW_MS = 10_000;

const WEBHOOK_ROUTES = new Set(['/deploy-all-changed', '/redeploy-and-update/:service', '/redeploy-and-update', '/hooks/dockerhub/:token', '/hooks/harbor']);

function webhookOutcome(status: number): WebhookOutcome {
  if (status === 202) return 'accepted';
  if (status < 300) return 'ignored';
  return status < 500 ? 'rejected' : 'error';
}

const errorBody = (error: AppError) => ({ error: { code: error.code, message: error.message } });
const rawBody = (request: FastifyRequest): Buffer => (Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));
const PONG = { status: 'ignored', reason: 'ping', note: 'pong: ping received; the webhook works' } as const;

/**
 * The webhook routes: every forge's format on the seed's routes, the registries' routes, and the
 * order each request goes through: failed-auth limit (before any HMAC is computed), provider
 * detection and verification over the raw bytes, `strict` mode, the event, the replay guard,
 * then the route's decision.
 */
export function registerWebhookRoutes(app: FastifyInstance, deps: WebhookDeps): void {
  const secrets: WebhookSecrets = deps.webhookSecrets ?? { current: deps.webhookSecret };
  const mode = deps.webhookMode ?? 'compat';
  const now = deps.now ?? Date.now;
  const verified = new WeakMap<FastifyRequest, Verified>();

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url;
    if (route !== undefined && WEBHOOK_ROUTES.has(route)) deps.metrics.webhook(route, webhookOutcome(reply.statusCode));
  });

  // Anyone can send bad signatures as fast as the network allows; the log must not grow as fast.
  const refusals = createLogThrottle({ log: (data, message) => deps.logger.warn(data, message), message: 'webhook refused', windowMs: REFUSAL_LOG_WINDOW_MS });
  app.addHook('onClose', async () => refusals.flush());

  /** Refuses an address over its failure budget before any work; true when the reply was sent. */
  const limited = (request: FastifyRequest, reply: FastifyReply): boolean => {
    const retryAfter = deps.authFailures?.retryAfterSeconds(request.ip) ?? null;
    if (retryAfter === null) return false;
    // Counted by the refusals' throttle, not logged one by one: a flood is what is limited here.
    request.quietLog = true;
    refusals.hit({ code: 'WEBHOOK_RATE_LIMITED', address: request.ip, route: request.routeOptions.url, retryAfter });
    void reply.code(429).header('retry-after', String(retryAfter)).send(errorBody(new AppError('WEBHOOK_RATE_LIMITED')));
    return true;
  };


  /**
   * Answers a refused webhook at once, rather than throwing: a flood of bad signatures costs no
   * stack trace and no trip through the error handler per request.
   */
  const refuse = (request: FastifyRequest, reply: FastifyReply, error: AppError, log: Record<string, unknown>): FastifyReply => {
    deps.authFailures?.recordFailure(request.ip);
    request.quietLog = true;
    refusals.hit({ ...log, code: error.code, address: request.ip, route: request.routeOptions.url });
    return reply.code(error.status).send(errorBody(error));
  };

  /** Logs which secret matched: during a rotation the operator watches `previous` disappear. */
  const logMatched = (request: FastifyRequest, provider: string, matched: 'current' | 'previous') => {
    if (matched === 'previous') request.log.warn({ provider, secret: 'previous' }, 'webhook authenticated with the previous secret; move this sender to WEBHOOK_SECRET');
    // During a rotation every match is logged, so the operator sees which senders have moved.
    else if (secrets.previous) request.log.info({ provider, secret: 'current' }, 'webhook authenticated with the current secret');
    else request.log.debug({ provider, secret: 'current' }, 'webhook authenticated');
  };

  /** The replay guard's answer, sent when it is a duplicate; true when the reply was sent. */
  const replayed = (request: FastifyRequest, reply: FastifyReply, provider: string, deliveryId: string | null): boolean => {
    if (!deps.replayGuard) return false;
    const redeliver = (request.query as Record<string, unknown> | undefined)?.['redeliver'] === '1';
    const verdict = deps.replayGuard.check(provider, deliveryId, { redeliver });
    if (verdict === 'duplicate') {
      request.log.info({ provider, deliveryId }, 'webhook delivery seen before: nothing started (add ?redeliver=1 to run it again)');
      void reply.code(200).send({ status: 'duplicate', deliveryId });
      return true;
    }
    if (verdict === 'redelivery') request.log.warn({ provider, deliveryId }, 'webhook delivery seen before, run again on purpose (?redeliver=1)');
    return false;
  };

  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    if (limited(request, reply)) return reply;
    const body = rawBody(request);
    const payload = { headers: request.headers, body: formPayload(request, body) };
    const provider = detectProvider(request.headers);
    const check = provider.verify({ headers: request.headers, body }, secrets, now());
    if (!check.ok) {
      const code = check.reason === 'missing' ? 'SIGNATURE_MISSING' : check.reason === 'stale' ? 'SIGNATURE_STALE' : 'SIGNATURE_INVALID';
      const message = code === 'SIGNATURE_MISSING' && provider.name !== 'github' ? `The ${provider.name} request carries no signature or token` : undefined;
      return refuse(request, reply, new AppError(code, message), { provider: provider.name, reason: check.reason });
    }
    if (mode === 'strict' && provider.scheme === 'signature') {
      const why =
        body.toString('utf8').trim() === ''
          ? 'WEBHOOK_MODE=strict: a signature over an empty body authorises every trigger for ever once it leaks (a CI log); sign with Standard Webhooks (a signed timestamp) instead'
          : `WEBHOOK_MODE=strict: ${provider.name} signs the body only, with no timestamp, so a captured request can be replayed; use Standard Webhooks or a forge token`;
      return refuse(request, reply, new AppError('WEBHOOK_SCHEME_REFUSED', why), { provider: provider.name, reason: 'scheme' });
    }
    logMatched(request, provider.name, check.matched);
    const event = provider.readEvent(payload);
    if (replayed(request, reply, provider.name, event.deliveryId)) return reply;
    verified.set(request, { provider, event });
    return undefined;
  };

  const verifiedOf = (request: FastifyRequest): Verified => verified.get(request)!;

  /** A push elsewhere than the deployed branch, or an event that is no push: the reason it starts nothing. */
  const ignoredPush = async (request: FastifyRequest, event: WebhookEvent): Promise<string | undefined> => {
    if (event.kind === 'tag') return 'tag';
    if (event.kind === 'other' || event.kind === 'package') return 'event';
    if (event.branch === null || !deps.trackedBranch) return undefined;
    let tracked: string;
    try {
      tracked = await deps.trackedBranch();
    } catch (error) {
      // The run reports the broken checkout; the filter must not swallow the trigger.
      request.log.warn({ err: error }, 'the tracked branch cannot be read; the push is not filtered');
      return undefined;
    }
    return event.branch === tracked ? undefined : 'branch';
  };

  app.post('/deploy-all-changed', { preHandler: authenticate }, async (request, reply) => {
    const { event } = verifiedOf(request);
    if (event.kind === 'ping') return reply.code(200).send(PONG);
    const reason = await ignoredPush(request, event);
    if (reason !== undefined) {
      const note = reason === 'branch' ? `a push to ${event.branch}; this server deploys another branch` : reason === 'tag' ? 'a tag moves no branch' : 'not a push event';
      return reply.code(200).send({ status: 'ignored', reason, note });
    }
    const { runId } = deps.triggers.deployAllChanged('webhook');
    return reply.code(202).send({ runId, status: 'queued' });
  });

  app.post<{ Params: { service: string } }>('/redeploy-and-update/:service', { preHandler: authenticate }, async (request, reply) => {
    const name = serviceNameFromUrl(request.url);
    const { provider, event } = verifiedOf(request);
    if (event.kind === 'ping') return reply.code(200).send(PONG);
    if (event.kind === 'other') return reply.code(200).send({ status: 'ignored', reason: 'event', note: 'not a package or push event' });
    if (event.kind === 'package' && event.published === false) return reply.code(200).send({ status: 'ignored', reason: 'action', note: 'ignored: the package event is not a publication' });
    // The seed's rule for bodies without a forge event: `action`, when present, must be "published".
    if (event.kind !== 'package' && (provider.name === 'github' || provider.name === 'standard-webhooks')) {
      const verdict = readPackageEvent(rawBody(request));
      if (!verdict.trigger) return reply.code(200).send({ status: 'ignored', note: verdict.note });
    }
    if (!(await deps.catalog.has(name))) throw new AppError('UNKNOWN_SERVICE', `No service directory is named ${name}`);
    const { runId } = deps.triggers.redeployAndUpdate(name, 'webhook');
    return reply.code(202).send({ runId, status: 'queued' });
  });

  /** Updates every service that runs one of the images; says which matched. */
  const updateByImage = async (reply: FastifyReply, images: string[]) => {
    if (images.length === 0) return reply.code(200).send({ status: 'ignored', runIds: [], services: [], note: 'the payload names no image' });
    const services = new Set<string>();
    for (const image of images) for (const service of (await deps.servicesForImage?.(image)) ?? []) services.add(service);
    const matched = [...services].sort();
    if (matched.length === 0) return reply.code(200).send({ status: 'ignored', runIds: [], services: [], images, note: 'no service uses these images (digest-pinned references never match)' });
    const runIds = matched.map((service) => deps.triggers.redeployAndUpdate(service, 'webhook').runId);
    return reply.code(202).send({ status: 'queued', runIds, services: matched, images });
  };

  app.post('/redeploy-and-update', { preHandler: authenticate }, async (request, reply) => {
    // `/redeploy-and-update/` (and `/.`, normalised to it) names an empty service, not no service.
    if (request.url.split('?')[0] !== '/redeploy-and-update') serviceNameFromUrl(request.url);
    const { event } = verifiedOf(request);
    if (event.kind === 'ping') return reply.code(200).send(PONG);
    if (event.kind !== 'package' || event.published === false) return reply.code(200).send({ status: 'ignored', runIds: [], services: [], note: 'not a package publication' });
    return updateByImage(reply, event.images ?? []);
  });

  // Docker Hub cannot sign: a long random token in the path stands for the signature.
  app.post<{ Params: { token: string } }>('/hooks/dockerhub/:token', async (request, reply) => {
    if (deps.dockerHubToken === undefined) throw new AppError('ROUTE_NOT_FOUND', 'The Docker Hub route is off: set DOCKERHUB_WEBHOOK_TOKEN');
    if (limited(request, reply)) return reply;
    if (!equalBytes(Buffer.from(request.params.token), Buffer.from(deps.dockerHubToken))) return refuse(request, reply, new AppError('WEBHOOK_TOKEN_INVALID'), { provider: 'dockerhub' });
    return updateByImage(reply, readDockerHubCallback(rawBody(request)));
  });

  // Harbor sends the "Auth Header" configured on its webhook as `Authorization`: the shared secret, bare or as a bearer token.
  app.post('/hooks/harbor', async (request, reply) => {
    if (limited(request, reply)) return reply;
    const header = request.headers.authorization;
    const given = typeof header === 'string' ? header.replace(/^Bearer\s+/i, '') : '';
    const matches = (secret: string | undefined) => secret !== undefined && secret !== '' && given !== '' && equalBytes(Buffer.from(given), Buffer.from(secret));
    if (!matches(secrets.current) && !matches(secrets.previous)) return refuse(request, reply, new AppError(given === '' ? 'SIGNATURE_MISSING' : 'WEBHOOK_TOKEN_INVALID', given === '' ? 'The Harbor request has no Authorization header' : undefined), { provider: 'harbor' });
    logMatched(request, 'harbor', matches(secrets.current) ? 'current' : 'previous');
    const event = readHarborEvent(rawBody(request));
    if (event.images.length === 0) return reply.code(200).send({ status: 'ignored', runIds: [], services: [], note: `a ${event.type.slice(0, 40)} event publishes no image` });
    return updateByImage(reply, event.images);
  });
}

/**
 * The JSON a form-encoded delivery carries in its `payload` field (GitHub's and Gitea's
 * `application/x-www-form-urlencoded` option); the signature still covers the raw bytes.
 */
function formPayload(request: FastifyRequest, body: Buffer): Buffer {
  if (!String(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return body;
  const payload = new URLSearchParams(body.toString('utf8')).get('payload');
  return payload === null ? Buffer.alloc(0) : Buffer.from(payload, 'utf8');
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
