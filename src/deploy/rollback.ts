import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { RuntimeKind, ServiceSource } from '../domain/types.js';
import { AppError } from '../errors.js';
import type { Repository } from '../ports/repository.js';
import type { ActionContext, RuntimeRegistry } from '../ports/runtime.js';
import type { ServiceCatalog } from '../ports/service-catalog.js';
import type { DeploymentRecord, Store } from '../ports/store.js';

/** The health gate's codes (set by the runtime after `up`): the failures a rollback answers. */
export const GATE_FAILURE_CODES: ReadonlySet<string> = new Set(['CONTAINER_UNHEALTHY', 'CONTAINER_EXITED', 'CONTAINER_RESTARTING']);

/** What a rollback needs from an engine to put an image back under its reference. */
export interface RollbackEngine {
  /** The local image id for a reference (or an id), or undefined when it is not present. */
  imageId(reference: string): Promise<string | undefined>;
  tag(imageId: string, reference: string): Promise<void>;
  /** Pulls a reference (with the server's registry credentials). */
  pull(reference: string, output: (chunk: string) => void, signal?: AbortSignal): Promise<void>;
}

export interface RollbackDeps {
  repository: Pick<Repository, 'head' | 'materialize'>;
  /** A catalog over another tree (an earlier commit written out). */
  catalogFor(root: string, listing: Pick<Repository, 'listTrackedFiles'>): Pick<ServiceCatalog, 'find'>;
  runtimes: RuntimeRegistry;
  engines: Record<RuntimeKind, RollbackEngine>;
  /** The image reference per compose service, as the service's compose file names it. */
  imageReferences(service: ServiceSource): Promise<Record<string, string>>;
  /**
   * Where earlier commits are written out, one directory per service. Inside the repository
   * mount (like the self-update helper's), so bind-mount paths resolve on the host; kept after
   * the rollback because the containers' bind mounts point into it.
   */
  treesDir: string;
}

/** Where to go back to: a successful deployment's commit and the image ids it ran. */
export interface RollbackTarget {
  commit: string | null;
  /** Image id per compose service. */
  images: Record<string, string>;
}

/**
 * Puts a service back as it ran at `target`: its tracked files as of that commit (the untracked
 * files, secrets, as they are now), each image reference pointing at the image id it ran, then
 * converges with the runtime (which passes the health gate again). Returns the inputs deployed
 * and the images running. Throws what the runtime throws: the caller records a failed rollback.
 */
export async function rollBackService(
  deps: RollbackDeps,
  service: ServiceSource,
  target: RollbackTarget,
  ctx: ActionContext,
): Promise<{ service: ServiceSource; images: Record<string, string> }> {
  let previous = service;
  const head = await deps.repository.head();
  if (target.commit && target.commit !== head) {
    const dir = path.join(deps.treesDir, service.name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const listing = await deps.repository.materialize(target.commit, dir);
    const found = await deps.catalogFor(dir, listing).find(service.name);
    if (!found) throw new AppError('UNKNOWN_SERVICE', `${service.name} does not exist at ${target.commit}`);
    ctx.output(`inputs of ${target.commit.slice(0, 12)} written out (secrets as they are now)\n`);
    previous = found;
  }
  await restoreImages(deps, previous, target.images, ctx);
  const { images } = await deps.runtimes[previous.runtime].deploy(previous, ctx);
  return { service: previous, images };
}

/**
 * Points each compose service's image reference at the id it ran. An id the engine no longer
 * has (pruned) is said, and the reference is pulled instead: a digest, or a tag moved back.
 */
async function restoreImages(deps: RollbackDeps, service: ServiceSource, images: Record<string, string>, ctx: ActionContext): Promise<void> {
  const engine = deps.engines[service.runtime];
  const references = await deps.imageReferences(service);
  for (const [composeService, imageId] of Object.entries(images)) {
    const reference = references[composeService];
    if (!reference || !imageId) continue;
    const now = await engine.imageId(reference);
    if (now === imageId) continue;
    if ((await engine.imageId(imageId)) === imageId) {
      ctx.output(`tagging ${imageId.slice(0, 12)} as ${reference} again\n`);
      await engine.tag(imageId, reference);
    } else {
      ctx.output(`image ${imageId.slice(0, 12)} that ${composeService} ran is gone (pruned by the engine); pulling ${reference} instead\n`);
      await engine.pull(reference, ctx.output, ctx.signal);
    }
  }
}

/**
 * The successful deployment a rollback of `service` deploys again: the one named by `to` (a
 * deployment id, or a commit or its prefix of at least 7 hex digits; the newest such), or by
 * default the newest success whose inputs differ from what runs now (the one before the current).
 */
export function findRollbackTarget(
  store: Pick<Store, 'listServiceDeployments' | 'getDeployedState'>,
  service: string,
  to?: string,
): DeploymentRecord {
  const current = store.getDeployedState(service);
  const wanted = to?.trim().toLowerCase();
  const byCommit = wanted !== undefined && /^[0-9a-f]{7,40}$/.test(wanted);
  let before: string | undefined;
  for (;;) {
    const page = store.listServiceDeployments(service, { limit: 200, ...(before ? { before } : {}) });
    for (const d of page.items) {
      if (d.status !== 'succeeded' || d.action === 'skip' || d.commit === null) continue;
      if (wanted !== undefined) {
        if (d.id === to || (byCommit && d.commit.startsWith(wanted))) return d;
      } else if (!current || (d.fingerprint ?? d.commit) !== (d.fingerprint ? current.fingerprint : current.commit)) {
        return d;
      }
    }
    if (!page.next) break;
    before = page.next;
  }
  throw new AppError(
    'ROLLBACK_TARGET_NOT_FOUND',
    wanted !== undefined ? `No successful deployment of ${service} has the id or commit ${to}` : `${service} has no earlier successful deployment to roll back to`,
  );
}
