import type { ContainerState } from '../../domain/engine-state.js';
import type { EngineCli } from '../engine-cli.js';

/** What an update does with one image reference before pulling it. */
export type Freshness =
  /** The registry serves the digest the running image was pulled as: no pull, nothing to recreate. */
  | { kind: 'unchanged'; digest: string }
  /** `repo@sha256:…` / `repo:tag@sha256:…` names one image for ever: never updated. */
  | { kind: 'pinned' }
  /** Pull it (moved, never pulled, or the registry could not be asked: `note` says why). */
  | { kind: 'pull'; note?: string };

export interface FreshnessDeps {
  engine: Pick<EngineCli, 'imageId' | 'repoDigests'>;
  /** The digest the registry serves for a tag now (one manifest HEAD, with the pull's credentials). */
  registryDigest: (reference: string, authEnv: Record<string, string>) => Promise<string>;
}

/** `repo@sha256:…`, with or without a tag before it. */
export const isDigestPinned = (reference: string): boolean => /@sha256:[0-9a-f]{64}$/i.test(reference.trim());

/**
 * Decides, before an update pulls `reference`, whether there is anything to pull. Unchanged only
 * when every container running the reference runs one image, the local tag still points at it,
 * and the registry's digest for the tag is one of that image's RepoDigests: otherwise pulling is
 * what compose would need anyway, and a registry that cannot be asked must not block an update.
 */
export async function imageFreshness(deps: FreshnessDeps, reference: string, running: readonly ContainerState[], authEnv: Record<string, string>): Promise<Freshness> {
  if (isDigestPinned(reference)) return { kind: 'pinned' };
  const ids = [...new Set(running.map((c) => c.imageId))];
  if (ids.length !== 1) return { kind: 'pull' };
  const [runningId] = ids as [string];
  if ((await deps.engine.imageId(reference)) !== runningId) return { kind: 'pull' };
  const known = await deps.engine.repoDigests(runningId).catch(() => [] as string[]);
  if (known.length === 0) return { kind: 'pull' };
  let remote: string;
  try {
    remote = await deps.registryDigest(reference, authEnv);
  } catch (error) {
    return { kind: 'pull', note: `the registry cannot be asked for the digest of ${reference} (${(error as Error).message}); pulling` };
  }
  return known.some((d) => d.slice(d.lastIndexOf('@') + 1) === remote) ? { kind: 'unchanged', digest: remote } : { kind: 'pull' };
}
