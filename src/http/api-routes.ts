import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PlanPreview } from '../deploy/plan-preview.js';
import type { ServiceDrift } from '../domain/drift.js';
import type { RunEventBus } from '../deploy/run-events.js';
import { isValidServiceName } from '../domain/service-layout.js';
import type { RunOrigin, ServiceSource } from '../domain/types.js';
import { findRollbackTarget } from '../deploy/rollback.js';
import { AppError } from '../errors.js';
import type { Store } from '../ports/store.js';
import { bearerAuth } from './auth.js';
import type { OpenStreams } from './open-streams.js';
import { streamRunEvents } from './event-stream.js';
import { describeDeployment, describeGoneServices, describeRun, describeRunSummary, describeServices } from './views.js';

export interface Triggered {
  runId: string;
  coalesced: boolean;
}

/** What the management API needs from the rest of the server. */
export interface ApiDeps {
  apiToken: string | undefined;
  serverName: string;
  version: string;
  /** INSTANCE_LABEL: free text telling instances apart. */
  instanceLabel?: string | undefined;
  startedAt: string;
  store: Store;
  events: Pick<RunEventBus, 'subscribe'>;
  /** The services of the checkout (may be cached briefly) and the commit they were read at. */
  services(): Promise<{ commit: string | null; services: ServiceSource[] }>;
  triggers: {
    deployAllChanged(origin: RunOrigin): Triggered;
    redeployAndUpdate(service: string, origin: RunOrigin): Triggered;
    deployService(service: string, origin: RunOrigin, options?: { force?: boolean }): Triggered;
  };
  previewPlan(): Promise<PlanPreview>;
  /** Why this server leaves its own service alone (the last decision taken, Pipeline.lastSelfHeld), for its stateReason. */
  selfHeld?: () => string | undefined;
  /** Queues a rollback-service run for `target` (a successful deployment's id); without it the rollback routes answer 404. */
  rollbackService?(service: string, target: string, origin: RunOrigin): Triggered;
  /** Services the drift check found drifted (DRIFT_CHECK_SECONDS); without it none is. */
  drift?: () => ReadonlyMap<string, ServiceDrift>;
  /** Interval of the SSE keep-alive comment. */
  heartbeatMs?: number;
  /** The open event streams, ended at shutdown. */
  streams?: OpenStreams;
  /** True while the server drains (shutting down): actions are refused, reads still answer. */
  draining?: () => boolean;
}

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

function queryOf(request: FastifyRequest): Record<string, unknown> {
  return (request.query ?? {}) as Record<string, unknown>;
}

function intParam(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw new AppError('INVALID_QUERY', `${name} must be a whole number from ${min} to ${max}`);
  return n;
}

function idParam(value: unknown, name: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) throw new AppError('INVALID_QUERY', `${name} must be an id from a previous page`);
  return value;
}

function serviceParam(request: FastifyRequest<{ Params: { name: string } }>): string {
  const name = request.params.name;
  if (!isValidServiceName(name)) {
    throw new AppError('INVALID_SERVICE_NAME', 'The service name must be a service directory name: letters, digits, dot, dash, underscore');
  }
  return name;
}

/** A request body as a JSON object (bodies arrive as raw bytes); empty is `{}`. */
/** `force` of a deploy, from the body (`{ "force": true }`) or the query (`?force=true`). */
function forceOf(body: unknown, query: unknown): boolean {
  for (const value of [body, query]) {
    if (value === undefined || value === false || value === 'false') continue;
    if (value === true || value === 'true' || value === '' || value === '1') return true;
    throw new AppError('INVALID_QUERY', 'force must be true or false');
  }
  return false;
}

function jsonBody(raw: unknown): Record<string, unknown> {
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : typeof raw === 'string' ? raw : '';
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AppError('INVALID_JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new AppError('INVALID_QUERY', 'The body must be a JSON object');
  return value as Record<string, unknown>;
}

/**
 * The management API under /api: bearer-token protected, JSON, errors from the catalog.
 * Registered as an encapsulated plugin so the token check applies to these routes only.
 */
export function registerApiRoutes(app: FastifyInstance, deps: ApiDeps): void {
  void app.register(
    async (api) => {
      api.addHook('preHandler', bearerAuth(deps.apiToken));
      // While the server drains, an action would start nothing in it: say so, with a retry hint.
      api.addHook('preHandler', async (request, reply) => {
        if (request.method === 'POST' && deps.draining?.()) {
          return reply.code(503).header('retry-after', '5').send({ error: { code: 'SERVER_STOPPING', message: new AppError('SERVER_STOPPING').message } });
        }
      });

      const findService = async (name: string): Promise<{ service: ServiceSource; commit: string | null }> => {
        const { services, commit } = await deps.services();
        const service = services.find((s) => s.name === name);
        if (!service) throw new AppError('UNKNOWN_SERVICE', `No service directory is named ${name}`);
        return { service, commit };
      };

      /** A service the checkout no longer has but the store knows (orphaned, or removed with its tombstone). */
      const goneService = async (name: string, limit: number, before: string | undefined) => {
        const { services } = await deps.services();
        if (services.some((s) => s.name === name)) return undefined;
        const deployed = deps.store.getDeployedState(name);
        const history = deps.store.listServiceDeployments(name, { limit, ...(before ? { before } : {}) });
        const [newest] = before ? deps.store.listServiceDeployments(name, { limit: 1 }).items : history.items;
        const [summary] = describeGoneServices(new Set(), deployed ? [deployed] : [], new Map(newest ? [[name, newest] as const] : []), { removed: [name] });
        if (!summary) return undefined;
        return {
          service: summary,
          files: [],
          deployed: deployed ? { commit: deployed.commit, deployedAt: deployed.deployedAt, images: deployed.images } : null,
          history: history.items.map(describeDeployment),
          next: history.next,
        };
      };

      api.get('/version', async () => ({
        name: deps.serverName,
        version: deps.version,
        instance: deps.instanceLabel ?? null,
        startedAt: deps.startedAt,
        pid: process.pid,
      }));

      api.get('/services', async (request) => {
        const q = queryOf(request)['q'];
        const needle = typeof q === 'string' ? q.toLowerCase() : '';
        const { services, commit } = await deps.services();
        const shown = needle ? services.filter((s) => s.name.toLowerCase().includes(needle)) : services;
        const [deployed, last] = [deps.store.listDeployedStates(), deps.store.lastDeployments()];
        // Deployed services gone from the checkout and not pruned are listed `orphaned`.
        const orphans = describeGoneServices(new Set(services.map((s) => s.name)), deployed, last).filter((s) => s.name.toLowerCase().includes(needle));
        return {
          commit,
          services: [...describeServices(shown, deployed, last, deps.serverName, deps.store.listPins(), deps.drift?.(), deps.selfHeld?.()), ...orphans],
        };
      });

      api.get<{ Params: { name: string } }>('/services/:name', async (request) => {
        const name = serviceParam(request);
        const query = queryOf(request);
        const limit = intParam(query['limit'], 'limit', 1, 200, 20);
        const before = idParam(query['before'], 'before');
        const gone = await goneService(name, limit, before);
        if (gone) return gone;
        const { service } = await findService(name);
        const deployed = deps.store.getDeployedState(name);
        // Its own newest deployment, not every service's (lastDeployments reads them all).
        const [newest] = deps.store.listServiceDeployments(name, { limit: 1 }).items;
        const last = new Map(newest ? [[name, newest] as const] : []);
        const pin = deps.store.getPin(name);
        const [summary] = describeServices([service], deployed ? [deployed] : [], last, deps.serverName, pin ? [pin] : [], deps.drift?.(), deps.selfHeld?.());
        const history = deps.store.listServiceDeployments(name, { limit, ...(before ? { before } : {}) });
        const paths = [...new Set([...Object.keys(service.files), ...Object.keys(deployed?.files ?? {})])].sort();
        return {
          service: summary,
          files: paths.map((path) => ({
            path,
            digest: service.files[path] ?? null,
            deployedDigest: deployed ? (deployed.files[path] ?? null) : null,
            changed: deployed ? service.files[path] !== deployed.files[path] : false,
          })),
          deployed: deployed ? { commit: deployed.commit, deployedAt: deployed.deployedAt, images: deployed.images } : null,
          history: history.items.map(describeDeployment),
          next: history.next,
        };
      });

      api.get('/runs', async (request) => {
        const query = queryOf(request);
        const limit = intParam(query['limit'], 'limit', 1, 200, 20);
        const before = idParam(query['before'], 'before');
        const page = deps.store.listRuns({ limit, ...(before ? { before } : {}) });
        return { runs: page.items.map(describeRunSummary), next: page.next };
      });

      api.get<{ Params: { id: string } }>('/runs/:id', async (request) => {
        const run = deps.store.getRun(request.params.id);
        if (!run) throw new AppError('RUN_NOT_FOUND');
        return describeRun(run, deps.store.listDeployments(run.id));
      });

      api.get<{ Params: { id: string } }>('/runs/:id/events', async (request, reply) => {
        const run = deps.store.getRun(request.params.id);
        if (!run) throw new AppError('RUN_NOT_FOUND');
        const header = request.headers['last-event-id'];
        const after = intParam(typeof header === 'string' && header !== '' ? header : queryOf(request)['after'], 'Last-Event-ID', 0, Number.MAX_SAFE_INTEGER, 0);
        streamRunEvents(request, reply, run.id, after, { store: deps.store, events: deps.events, heartbeatMs: deps.heartbeatMs ?? 15_000, ...(deps.streams ? { streams: deps.streams } : {}) });
      });

      api.post('/plan', async () => deps.previewPlan());

      api.post('/deploy', async (_request, reply) => {
        const { runId, coalesced } = deps.triggers.deployAllChanged('api');
        return reply.code(202).send({ runId, status: 'queued', coalesced });
      });

      api.post<{ Params: { name: string }; Body: unknown }>('/services/:name/deploy', async (request, reply) => {
        const { service } = await findService(serviceParam(request));
        const force = forceOf(jsonBody(request.body)['force'], queryOf(request)['force']);
        const { runId, coalesced } = deps.triggers.deployService(service.name, 'api', force ? { force } : {});
        return reply.code(202).send({ runId, status: 'queued', coalesced, ...(force ? { force } : {}) });
      });

      // Rollback and pinning (issue 12): an earlier success deployed again; the service is pinned there.
      api.post<{ Params: { name: string }; Body: unknown }>('/services/:name/rollback', async (request, reply) => {
        const { service } = await findService(serviceParam(request));
        const body = jsonBody(request.body);
        const to = body['to'];
        if (to !== undefined && (typeof to !== 'string' || to.length === 0 || to.length > 64)) {
          throw new AppError('INVALID_QUERY', 'The body is {} or { "to": "<deployment id | commit>" }');
        }
        if (service.name === deps.serverName) throw new AppError('ROLLBACK_TARGET_NOT_FOUND', "The server's own service is not rolled back on demand (its self-update rolls itself back); push a revert instead");
        if (!deps.rollbackService) throw new AppError('ROUTE_NOT_FOUND');
        const target = findRollbackTarget(deps.store, service.name, to as string | undefined);
        const { runId, coalesced } = deps.rollbackService(service.name, target.id, 'api');
        return reply.code(202).send({ runId, status: 'queued', coalesced, target: { deploymentId: target.id, commit: target.commit } });
      });

      api.post<{ Params: { name: string } }>('/services/:name/unpin', async (request) => {
        const { service } = await findService(serviceParam(request));
        const pin = deps.store.getPin(service.name);
        deps.store.deletePin(service.name);
        // Nothing is deployed here: the next run (a push, the poller, or POST /api/deploy) brings git's version.
        return { service: service.name, unpinned: pin !== undefined, was: pin ? { commit: pin.commit, reason: pin.reason } : null };
      });

      api.post<{ Params: { name: string } }>('/services/:name/update', async (request, reply) => {
        const { service } = await findService(serviceParam(request));
        const { runId, coalesced } = deps.triggers.redeployAndUpdate(service.name, 'api');
        return reply.code(202).send({ runId, status: 'queued', coalesced });
      });
    },
    { prefix: '/api' },
  );
}
