import type { DriftDetails } from '../notify/outcome.js';
import type { Logger } from 'pino';
import { configHashesOf, detectDrift, healVerdict, recentHeals, type ServiceDrift } from '../domain/drift.js';
import type { ContainerState } from '../domain/engine-state.js';
import { FAILED_DEPLOYMENT_STATUSES, type ServiceSource } from '../domain/types.js';
import type { DeploymentRecord, Store } from '../ports/store.js';
import { Semaphore } from '../util/concurrency.js';
import { createPollLoop, type SetTimer } from '../util/poll-loop.js';

/** What a drift notification says: the service drifted, or it keeps drifting and is held from healing. */
export type DriftNotice = DriftDetails;

export interface DriftWatchDeps {
  /** The services of the checkout (the views' snapshot: no discovery per check). */
  services(): Promise<ServiceSource[]>;
  store: Pick<Store, 'getDeployedState' | 'listServiceDeployments' | 'getPin' | 'getDriftBaseline' | 'saveDriftBaseline'>;
  /** The project's containers as the engine reports them (one engine call per service); undefined: not known, not checked. */
  containers(service: ServiceSource): Promise<ContainerState[] | undefined>;
  /** DEPLOY_SERVER_NAME: the server's own container is never judged (or healed) by itself. */
  selfService: string;
  /** SELF_HEAL: queue a redeploy of the service (origin `heal`); undefined: drift is only shown and notified. */
  heal?: {
    maxPerHour: number;
    deployService(service: string): { runId: string };
    /** Whether a redeploy of the service is running or waiting (its lane). */
    busy(service: string): boolean;
  };
  notify(notice: DriftNotice): void;
  /** Counted by the metrics (`gds_drift_heals_total`). */
  onHeal?(service: string): void;
  /** DRIFT_CHECK_SECONDS; undefined: only after runs. */
  intervalMs: number | undefined;
  /** Engine calls at once (default 4): a check of 100 services stays cheap. */
  concurrency?: number;
  logger: Logger;
  now?: () => number;
  random?: () => number;
  setTimer?: SetTimer;
}

/** A deployment that is still going on: its service is not judged until it ends. */
const OPEN_STATUSES = new Set(['queued', 'running', 'handed-off']);

interface Episode extends ServiceDrift {
  deployedAt: string;
  notified: Set<DriftNotice['kind']>;
}

/**
 * The drift check: compares, per deployed service, what the engine runs with what the service's
 * last successful deployment left (domain/drift.ts), on an interval and after every run. A
 * service with a deployment queued or running is skipped, and a result is dropped when the
 * service's newest deployment changed during the engine call (a deployment started meanwhile),
 * so a check never judges a half-done deployment. Services whose newest deployment failed are
 * not judged either: their failure is what they show. Each drift episode (from the first check
 * that finds it to the first that finds none) is notified once; with self-heal the service is
 * redeployed (origin `heal`) unless the flap limit holds it, which is notified once too.
 *
 * The configuration labels are compared with those the first clean check after a deployment saw
 * (the deployment's own state check had just matched them), kept in the store so a restart
 * still compares them. Episodes and heal times are in memory: after a restart an episode still
 * going on is notified again, and the flap count starts at 0.
 */
export function createDriftWatch(deps: DriftWatchDeps) {
  const now = deps.now ?? Date.now;
  const slots = new Semaphore(deps.concurrency ?? 4);
  const episodes = new Map<string, Episode>();
  const heals = new Map<string, number[]>();
  const failing = new Map<string, string>();
  let checking: Promise<void> | undefined;
  let again = false;
  /** After stop (shutdown) no check starts, and one under way records nothing more. */
  let stopped = false;

  const newest = (service: string): DeploymentRecord | undefined => deps.store.listServiceDeployments(service, { limit: 1 }).items[0];
  const judged = (d: DeploymentRecord | undefined) => !d || !(OPEN_STATUSES.has(d.status) || (FAILED_DEPLOYMENT_STATUSES.has(d.status) && d.status !== 'rolled-back'));

  const end = (service: string, why: string) => {
    if (!episodes.delete(service)) return;
    deps.logger.info({ service, why }, 'drift ended');
  };

  async function checkService(service: ServiceSource): Promise<void> {
    if (stopped) return;
    const deployed = deps.store.getDeployedState(service.name);
    const before = newest(service.name);
    if (!deployed) return end(service.name, 'no deployed state');
    if (!judged(before)) {
      // A failure shows as failed; a deployment under way is judged after it.
      if (before && !OPEN_STATUSES.has(before.status)) end(service.name, `its newest deployment ${before.status}`);
      return;
    }
    let containers: ContainerState[] | undefined;
    try {
      containers = await deps.containers(service);
      if (!containers) return;
      failing.delete(service.name);
    } catch (error) {
      const message = (error as Error).message;
      if (failing.get(service.name) !== message) deps.logger.warn({ service: service.name, err: error }, 'drift check: the engine cannot be asked; trying again next time');
      failing.set(service.name, message);
      return;
    }
    if (stopped) return;
    // A deployment that started (or ended) during the engine call makes this reading stale.
    const after = newest(service.name);
    if (after?.id !== before?.id || after?.status !== before?.status || deps.store.getDeployedState(service.name)?.deployedAt !== deployed.deployedAt) return;

    const baseline = deps.store.getDriftBaseline(service.name);
    const hashes = baseline?.deployedAt === deployed.deployedAt ? baseline.configHashes : undefined;
    const reasons = detectDrift({ images: deployed.images, configHashes: hashes }, containers);
    if (reasons.length === 0) {
      if (!hashes) deps.store.saveDriftBaseline(service.name, deployed.deployedAt, configHashesOf(containers));
      return end(service.name, 'the engine runs what was deployed');
    }

    const at = now();
    let episode = episodes.get(service.name);
    if (!episode || episode.deployedAt !== deployed.deployedAt) {
      episode = { reasons, since: new Date(at).toISOString(), held: null, healsLastHour: 0, healRunId: null, deployedAt: deployed.deployedAt, notified: new Set() };
      episodes.set(service.name, episode);
      deps.logger.warn({ service: service.name, reasons }, 'drift found: the engine does not run what was deployed');
    }
    episode.reasons = reasons;
    if (deps.heal) heal(service, episode, at);
    const kind = episode.held && episode.held.startsWith('held:') ? 'held' : 'drifted';
    // Once per episode; a hold after the first notice is said once more.
    if (!episode.notified.has('drifted') || (kind === 'held' && !episode.notified.has('held'))) {
      episode.notified.add('drifted');
      if (kind === 'held') episode.notified.add('held');
      deps.notify({ kind, service: service.name, reasons, since: episode.since, commit: deployed.commit, healRunId: episode.healRunId, held: episode.held });
    }
  }

  function heal(service: ServiceSource, episode: Episode, at: number): void {
    const healer = deps.heal!;
    const past = recentHeals(heals.get(service.name) ?? [], at);
    heals.set(service.name, past);
    episode.healsLastHour = past.length;
    const pin = deps.store.getPin(service.name);
    if (pin) {
      // A redeploy would put git's inputs in place and end the pin: the operator decides.
      episode.held = `not healed: pinned to ${pin.commit ? pin.commit.slice(0, 12) : 'an earlier deployment'}`;
      return;
    }
    if (healer.busy(service.name)) return;
    const verdict = healVerdict(past, at, healer.maxPerHour);
    if (!verdict.heal) {
      if (episode.held !== verdict.held) deps.logger.warn({ service: service.name, held: verdict.held }, 'drift: not healed, the flap limit holds it');
      episode.held = verdict.held;
      return;
    }
    const { runId } = healer.deployService(service.name);
    past.push(at);
    episode.held = null;
    episode.healsLastHour = past.length;
    episode.healRunId = runId;
    deps.onHeal?.(service.name);
    deps.logger.info({ service: service.name, runId, reasons: episode.reasons }, 'drift: redeploying the service (self-heal)');
  }

  async function checkAll(): Promise<void> {
    let services: ServiceSource[];
    try {
      services = (await deps.services()).filter((s) => !s.problem && s.name !== deps.selfService);
    } catch (error) {
      deps.logger.warn({ err: error }, 'drift check: the services cannot be read');
      return;
    }
    const names = new Set(services.map((s) => s.name));
    for (const name of episodes.keys()) if (!names.has(name)) end(name, 'no longer a service of the checkout');
    await Promise.all(services.map((s) => slots.run(() => checkService(s).catch((error: unknown) => deps.logger.warn({ service: s.name, err: error }, 'drift check failed')))));
  }

  /** One check at a time; a request during a check runs one more after it (runs end in bursts). */
  function check(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (checking) {
      again = true;
      return checking;
    }
    checking = (async () => {
      do {
        again = false;
        await checkAll();
      } while (again);
    })().finally(() => (checking = undefined));
    return checking;
  }

  const loop = deps.intervalMs === undefined ? undefined : createPollLoop({
    intervalMs: deps.intervalMs,
    poll: check,
    ...(deps.random ? { random: deps.random } : {}),
    ...(deps.setTimer ? { setTimer: deps.setTimer } : {}),
  });

  return {
    /** Checks every interval (first after one interval) until `stop`. */
    start: () => loop?.start(),
    stop: () => {
      stopped = true;
      loop?.stop();
    },
    /** A run ended: what it deployed (or left alone) is checked now. */
    afterRun: () => void check(),
    /** One full check (tests, and the after-run hook). */
    check,
    /** The services drifted now, for views and metrics (no I/O). */
    drift(): ReadonlyMap<string, ServiceDrift> {
      const at = now();
      return new Map(
        [...episodes].map(([name, e]) => [name, { reasons: e.reasons, since: e.since, held: e.held, healsLastHour: recentHeals(heals.get(name) ?? [], at).length, healRunId: e.healRunId }] as const),
      );
    },
  };
}

export type DriftWatch = ReturnType<typeof createDriftWatch>;
