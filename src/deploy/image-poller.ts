import type { Logger } from 'pino';
import type { ServiceSource } from '../domain/types.js';
import type { Triggers } from './dispatcher.js';

/** One image a service runs now: the reference its compose file names and the digests the engine knows it by. */
export interface RunningImage {
  reference: string;
  /** `name@sha256:…` entries of the running image (RepoDigests); empty when the engine knows none. */
  repoDigests: string[];
}

export interface ImagePollerDeps {
  /** The services of the checkout (the views' snapshot: no discovery per poll). */
  services(): Promise<ServiceSource[]>;
  /** The images an opted-in service's containers run now. */
  runningImages(service: ServiceSource): Promise<RunningImage[]>;
  /** The digest the registry serves for a tag reference now. */
  registryDigest(reference: string): Promise<string>;
  triggers: Pick<Triggers, 'redeployAndUpdate'>;
  /** Whether a lane has a run executing or waiting (`dispatcher.queue.busy`). */
  busy(lane: string): boolean;
  intervalMs: number;
  logger: Logger;
  random?: () => number;
  setTimer?: (callback: () => void, ms: number) => { cancel(): void };
}

const JITTER = 0.1;
const digestOf = (repoDigest: string): string => repoDigest.slice(repoDigest.lastIndexOf('@') + 1);

/**
 * Per-service image polling, for services that opt in (`x-gitops: { poll-images: true }`): on an
 * interval, asks the registry for the digest of each tag the service runs and queues an update of
 * the service (origin `poll`) when it is none of the digests the running image is known by.
 * Digest-pinned references are never asked about (they cannot move), nor images the engine knows
 * no registry digest for (a local build: nothing to compare). The digest an update was queued for
 * is remembered, so a failing pull is not queued again every interval.
 */
export function createImagePoller(deps: ImagePollerDeps): { start(): void; stop(): void; pollOnce(): Promise<string[]> } {
  const random = deps.random ?? Math.random;
  const setTimer = deps.setTimer ?? ((callback, ms) => {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  });
  const queuedFor = new Map<string, string>();
  const failing = new Map<string, string>();
  let timer: { cancel(): void } | undefined;
  let running = false;

  /** One pass over the opted-in services; returns the services it queued an update of. */
  async function pollOnce(): Promise<string[]> {
    const queued: string[] = [];
    let services: ServiceSource[];
    try {
      services = (await deps.services()).filter((s) => s.pollImages && !s.problem);
    } catch (error) {
      deps.logger.warn({ err: error }, 'image polling: the services cannot be read');
      return queued;
    }
    for (const service of services) {
      try {
        for (const image of await deps.runningImages(service)) {
          if (image.reference.includes('@') || image.repoDigests.length === 0) continue;
          const key = `${service.name}\n${image.reference}`;
          let remote: string;
          try {
            remote = await deps.registryDigest(image.reference);
            failing.delete(key);
          } catch (error) {
            const message = (error as Error).message;
            if (failing.get(key) !== message) deps.logger.warn({ service: service.name, image: image.reference, err: error }, 'image polling: the registry cannot be asked');
            failing.set(key, message);
            continue;
          }
          if (image.repoDigests.some((d) => digestOf(d) === remote)) {
            queuedFor.delete(key);
            continue;
          }
          if (queuedFor.get(key) === remote || deps.busy(`update:${service.name}`)) continue;
          const { runId } = deps.triggers.redeployAndUpdate(service.name, 'poll');
          queuedFor.set(key, remote);
          deps.logger.info({ runId, service: service.name, image: image.reference, digest: remote }, 'an image tag moved without a webhook: update queued');
          queued.push(service.name);
          break; // one update pulls every image of the service
        }
      } catch (error) {
        deps.logger.warn({ service: service.name, err: error }, 'image polling: the running images cannot be read');
      }
    }
    return queued;
  }

  const schedule = () => {
    timer = setTimer(() => {
      void pollOnce().finally(() => {
        if (running) schedule();
      });
    }, deps.intervalMs * (1 - JITTER + 2 * JITTER * random()));
  };

  return {
    start() {
      if (running) return;
      running = true;
      schedule();
    },
    stop() {
      running = false;
      timer?.cancel();
      timer = undefined;
    },
    pollOnce,
  };
}
