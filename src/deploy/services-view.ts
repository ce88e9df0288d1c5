import type { ServiceSource } from '../domain/types.js';
import type { Repository } from '../ports/repository.js';
import type { ServiceCatalog } from '../ports/service-catalog.js';
import type { ReadWriteLock } from '../util/concurrency.js';

export interface ServicesSnapshot {
  /** The commit the services were read at. */
  commit: string | null;
  services: ServiceSource[];
}

export interface ServicesView {
  /** The newest snapshot; read views (API, dashboard) use it. Only the very first call may wait. */
  services(): Promise<ServicesSnapshot>;
  /** The newest snapshot without any I/O, or undefined before the first (metrics). */
  peek(): ServicesSnapshot | undefined;
  /** A run read the whole checkout: its discovery becomes the snapshot. */
  replace(commit: string, services: ServiceSource[]): void;
  /** A one-service run read one service. */
  updateOne(service: ServiceSource): void;
}

/**
 * The services of the checkout for read-only views, as a snapshot keyed on the synced commit:
 * runs hand over what they discovered, and a refresh (which picks up changed secrets) runs in
 * the background when the snapshot is older than `ttlMs`, only when the repository lock is free
 * for readers at once. So a view never waits behind a sync or a deployment: a dashboard, the
 * API and `/metrics` answer from memory while a 15-minute compose run holds the lock.
 */
export function createServicesView(deps: {
  catalog: Pick<ServiceCatalog, 'discover'>;
  repository: Pick<Repository, 'head'>;
  repositoryLock: ReadWriteLock;
  ttlMs: number;
  now?: () => number;
}): ServicesView {
  const now = deps.now ?? Date.now;
  let current: (ServicesSnapshot & { at: number }) | undefined;
  /** The newest refresh failed (the services directory is gone, say): views say so. */
  let failure: { error: unknown; at: number } | undefined;
  let refreshing: Promise<void> | undefined;

  const discover = async (): Promise<ServicesSnapshot> => ({
    commit: await deps.repository.head().catch(() => null),
    services: await deps.catalog.discover(),
  });
  const settle = (snapshot: ServicesSnapshot | undefined, error?: unknown) => {
    if (snapshot) {
      current = { ...snapshot, at: now() };
      failure = undefined;
    } else if (error !== undefined) {
      failure = { error, at: now() };
    }
  };
  /** A refresh that never waits: skipped while a sync holds or awaits the lock. */
  const refreshInBackground = () => {
    refreshing ??= deps.repositoryLock
      .tryRead(discover)
      .then((snapshot) => settle(snapshot), (error: unknown) => settle(undefined, error))
      .finally(() => (refreshing = undefined));
  };

  return {
    async services() {
      const newest = Math.max(current?.at ?? -Infinity, failure?.at ?? -Infinity);
      if (newest === -Infinity) {
        // Nothing read yet (just started): the only read that may wait for the lock.
        try {
          settle(await deps.repositoryLock.read(discover));
        } catch (error) {
          settle(undefined, error);
        }
      } else if (now() - newest >= deps.ttlMs) {
        refreshInBackground();
      }
      if (failure && (!current || failure.at >= current.at)) throw failure.error;
      return { commit: current!.commit, services: current!.services };
    },
    peek() {
      return current ? { commit: current.commit, services: current.services } : undefined;
    },
    replace(commit, services) {
      settle({ commit, services });
    },
    updateOne(service) {
      if (!current) return;
      const services = current.services.filter((s) => s.name !== service.name).concat(service).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      current = { ...current, services };
    },
  };
}
