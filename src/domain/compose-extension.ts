import { globProblem } from './glob.js';
import type { RuntimeKind } from './types.js';

/**
 * The server's own settings in a compose file, under the extension field `x-gitops` (compose
 * tools ignore `x-` keys, so the file stays a valid compose file for every tool):
 *
 *   x-gitops:
 *     poll-images: true   # check the registry for moved tags of this service's images
 *     rollback: false     # a deployment that fails the health gate stays failed (no automatic rollback)
 *     settle: 10          # seconds a container without a healthcheck must keep running (DEPLOY_SETTLE_SECONDS)
 *     ignore: [data/**]   # inputs (globs relative to the service directory) that never cause a redeploy
 *     runtime: swarm      # deploy as a Docker Swarm stack whatever the file's name (podman | docker | swarm)
 *
 * Pure: reads the parsed YAML document.
 */
export interface GitopsExtension {
  pollImages: boolean;
  /** False: a gate failure is not rolled back for this service (ROLLBACK_ON_FAILURE still applies to the others). */
  rollback: boolean;
  /** The health gate's settle window for this service, in seconds; absent: DEPLOY_SETTLE_SECONDS. */
  settleSeconds?: number;
  /** Globs (domain/glob.ts) of input files left out of the fingerprint and the configuration hash. */
  ignore: string[];
  /** The runtime this file is deployed with, overriding the file name's (absent: by name). */
  runtime?: RuntimeKind;
}

/** The longest settle window a compose file may ask for (an hour, DEPLOY_SETTLE_SECONDS's bound too). */
export const MAX_SETTLE_SECONDS = 3_600;

export type GitopsExtensionResult = { ok: true; extension: GitopsExtension } | { ok: false; message: string };

const KNOWN_KEYS = new Set(['poll-images', 'rollback', 'settle', 'ignore', 'runtime']);
const RUNTIMES: readonly RuntimeKind[] = ['podman', 'docker', 'swarm'];

export function readGitopsExtension(document: unknown): GitopsExtensionResult {
  const raw = (document as Record<string, unknown> | null)?.['x-gitops'];
  if (raw === undefined || raw === null) return { ok: true, extension: { pollImages: false, rollback: true, ignore: [] } };
  if (typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, message: 'x-gitops must be a mapping' };
  const entries = raw as Record<string, unknown>;
  // A misspelt key would silently do nothing: say so instead.
  const unknown = Object.keys(entries).filter((key) => !KNOWN_KEYS.has(key));
  if (unknown.length > 0) return { ok: false, message: `x-gitops has unknown keys: ${unknown.join(', ')} (known: ${[...KNOWN_KEYS].join(', ')})` };
  const poll = entries['poll-images'];
  if (poll !== undefined && typeof poll !== 'boolean') return { ok: false, message: 'x-gitops.poll-images must be true or false' };
  const rollback = entries['rollback'];
  if (rollback !== undefined && typeof rollback !== 'boolean') return { ok: false, message: 'x-gitops.rollback must be true or false' };
  const settle = entries['settle'];
  if (settle !== undefined && !(Number.isInteger(settle) && (settle as number) >= 0 && (settle as number) <= MAX_SETTLE_SECONDS)) {
    return { ok: false, message: `x-gitops.settle must be a whole number of seconds from 0 to ${MAX_SETTLE_SECONDS}` };
  }
  const ignore = entries['ignore'] ?? [];
  if (!Array.isArray(ignore) || !ignore.every((glob) => typeof glob === 'string')) return { ok: false, message: 'x-gitops.ignore must be a list of globs (strings)' };
  for (const glob of ignore as string[]) {
    const problem = globProblem(glob);
    if (problem) return { ok: false, message: `x-gitops.ignore: the glob "${glob}" ${problem}` };
  }
  const runtime = entries['runtime'];
  if (runtime !== undefined && !RUNTIMES.includes(runtime as RuntimeKind)) return { ok: false, message: `x-gitops.runtime must be one of ${RUNTIMES.join(', ')}` };
  return {
    ok: true,
    extension: {
      pollImages: poll === true,
      rollback: rollback !== false,
      ...(settle !== undefined ? { settleSeconds: settle as number } : {}),
      ignore: ignore as string[],
      ...(runtime !== undefined ? { runtime: runtime as RuntimeKind } : {}),
    },
  };
}
