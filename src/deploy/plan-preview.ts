import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { planDeployAll, type PlanEntry } from '../domain/plan.js';
import { MISSING_DIGEST, type RuntimeKind, type ServiceSource } from '../domain/types.js';
import type { Repository } from '../ports/repository.js';
import type { ServiceCatalog } from '../ports/service-catalog.js';
import type { Store } from '../ports/store.js';
import type { KeyedMutex } from '../util/concurrency.js';
import { failedInputs, pinsOf, rolledBackInputs } from './rolled-back.js';
import type { ServicesView } from './services-view.js';

/** The key of the fetch lock: one git fetch at a time in the checkout. */
export const FETCH_LOCK = 'git-fetch';

export type PreviewDecision = PlanEntry['decision'] | 'problem';

export interface PlanPreview {
  /** The remote head the plan is for. */
  commit: string;
  /** The commit checked out now (what the services run, if their deployments succeeded). */
  currentCommit: string;
  /** `tool`: the compose tool and version that would run the service (`podman-compose 1.3.0`). */
  services: Array<{ service: string; decision: PreviewDecision; reason: string; changedFiles: string[]; tool?: string }>;
  counts: Record<PreviewDecision, number>;
}

export interface PlanPreviewDeps {
  repository: Repository;
  /** Serialises git fetches (a sync's and previews'): two at once in one repository collide on ref locks. */
  fetchLock: KeyedMutex;
  /** The views' snapshot of the checkout: used when the remote head is what is checked out. */
  view: Pick<ServicesView, 'services'>;
  /** A catalog over another tree (the remote head written out), with that tree's tracked files. */
  catalogFor(root: string, repository: Pick<Repository, 'listTrackedFiles'>): ServiceCatalog;
  store: Pick<Store, 'listDeployedStates' | 'listServiceDeployments' | 'lastDeployments' | 'listPins'>;
  selfService: string;
  /** Why the own service would not be deployed (Pipeline.selfHeld), said in its entry as a run would. */
  selfHeld?: (services: readonly ServiceSource[]) => Promise<string | undefined>;
  /** Scratch space for the written-out tree, removed after each preview. */
  scratchDir: string;
  /** The compose tool and version of a runtime (`podman-compose 1.3.0`), when known. */
  toolOf?: (runtime: RuntimeKind) => Promise<string | undefined>;
}

/**
 * A dry run of deploy-all-changed against the remote head: the same discovery and pure plan as a
 * run, without the sync and the execute stage. The checkout, its index and HEAD are not touched,
 * and the repository lock is never taken: a preview never waits behind a deployment (the remote
 * head is written out into a scratch tree, or the views' snapshot is used when it is checked out).
 */
export async function previewPlan(deps: PlanPreviewDeps): Promise<PlanPreview> {
  const { commit } = await deps.fetchLock.run(FETCH_LOCK, () => deps.repository.fetchUpstream());
  const services = await (async () => {
    const currentCommit = await deps.repository.head();
    if (currentCommit === commit) {
      const snapshot = await deps.view.services();
      if (snapshot.commit === commit) return { currentCommit, services: snapshot.services };
    }
    await mkdir(deps.scratchDir, { recursive: true });
    const tree = await mkdtemp(path.join(deps.scratchDir, 'tree-'));
    try {
      const listing = await deps.repository.materialize(commit, tree);
      return { currentCommit, services: await deps.catalogFor(tree, listing).discover() };
    } finally {
      await rm(tree, { recursive: true, force: true });
    }
  })();
  const deployed = new Map(deps.store.listDeployedStates().map((s) => [s.service, s] as const));
  const byName = new Map(services.services.map((s) => [s.name, s] as const));
  const selfHeld = await deps.selfHeld?.(services.services);
  const entries = planDeployAll({
    services: services.services,
    deployed,
    selfService: deps.selfService,
    rolledBack: rolledBackInputs(deps.store),
    pins: pinsOf(deps.store),
    failed: failedInputs(deps.store),
    ...(selfHeld ? { selfHeld } : {}),
  }).map((entry) => {
    const problem = entry.decision === 'deploy' ? problemOf(byName.get(entry.service)!) : null;
    return problem ? { ...entry, decision: 'problem' as const, reason: `${entry.reason}; will fail: ${problem}` } : entry;
  });
  const counts: Record<PreviewDecision, number> = { deploy: 0, unchanged: 0, self: 0, problem: 0 };
  for (const entry of entries) counts[entry.decision]++;
  const tools = new Map<RuntimeKind, string | undefined>();
  for (const kind of new Set(services.services.map((s) => s.runtime))) tools.set(kind, await deps.toolOf?.(kind).catch(() => undefined));
  const withTools = entries.map((entry) => {
    const tool = tools.get(byName.get(entry.service)?.runtime as RuntimeKind);
    return tool ? { ...entry, tool } : entry;
  });
  return { commit, currentCommit: services.currentCommit, services: withTools, counts };
}

/** Why a deployment of this service would fail before any command runs, or null. */
function problemOf(service: ServiceSource): string | null {
  if (service.problem) return `${service.problem.code}: ${service.problem.message}`;
  const missing = service.requiredEnvFiles.filter((file) => service.files[file] === MISSING_DIGEST);
  return missing.length > 0 ? `ENV_FILE_MISSING: ${missing.join(', ')}` : null;
}
