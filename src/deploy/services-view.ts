import type { ServiceSource } from '../domain/types.js';
import type { Repository } from '../ports/repository.js';
import type { ServiceCatalog } from '../ports/service-catalog.js';
import type { ReadWriteLock } from '../util/concurrency.js';

export interface ServicesSnapshot {
  commit: string | null;
  services: ServiceSource[];
}

/**
 * The services of the checkout for read-only views (API, dashboard, metrics). Discovery reads and
 * hashes every input file, so a snapshot is shared for `ttlMs` and concurrent callers share one
 * discovery: ten open dashboards polling cost one discovery per interval, not ten.
 */
export function createServicesView(deps: {
  catalog: Pick<ServiceCatalog, 'discover'>;
  repository: Pick<Repository, 'head'>;
  repositoryLock: ReadWriteLock;
  ttlMs: number;
  now?: () => number;
}): { services(): Promise<ServicesSnapshot>; invalidate(): void } {
  const now = deps.now ?? Date.now;
  let cached: { at: number; snapshot: Promise<ServicesSnapshot> } | undefined;
  const read = () =>
    deps.repositoryLock.read(async () => ({
      commit: await deps.repository.head().catch(() => null),
      services: await deps.catalog.discover(),
    }));
  return {
    services() {
      if (cached && now() - cached.at < deps.ttlMs) return cached.snapshot;
      const entry = { at: now(), snapshot: read() };
      cached = entry;
      // A failed read is not kept: the next caller tries again.
      entry.snapshot.catch(() => {
        if (cached === entry) cached = undefined;
      });
      return entry.snapshot;
    },
    invalidate() {
      cached = undefined;
    },
  };
}
