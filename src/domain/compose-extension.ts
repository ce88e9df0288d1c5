/**
 * The server's own settings in a compose file, under the extension field `x-gitops` (compose
 * tools ignore `x-` keys, so the file stays a valid compose file for every tool):
 *
 *   x-gitops:
 *     poll-images: true   # check the registry for moved tags of this service's images
 *     rollback: false     # a deployment that fails the health gate stays failed (no automatic rollback)
 *
 * Pure: reads the parsed YAML document.
 */
export interface GitopsExtension {
  pollImages: boolean;
  /** False: a gate failure is not rolled back for this service (ROLLBACK_ON_FAILURE still applies to the others). */
  rollback: boolean;
}

export type GitopsExtensionResult = { ok: true; extension: GitopsExtension } | { ok: false; message: string };

const KNOWN_KEYS = new Set(['poll-images', 'rollback']);

export function readGitopsExtension(document: unknown): GitopsExtensionResult {
  const raw = (document as Record<string, unknown> | null)?.['x-gitops'];
  if (raw === undefined || raw === null) return { ok: true, extension: { pollImages: false, rollback: true } };
  if (typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, message: 'x-gitops must be a mapping' };
  const entries = raw as Record<string, unknown>;
  // A misspelt key would silently do nothing: say so instead.
  const unknown = Object.keys(entries).filter((key) => !KNOWN_KEYS.has(key));
  if (unknown.length > 0) return { ok: false, message: `x-gitops has unknown keys: ${unknown.join(', ')} (known: ${[...KNOWN_KEYS].join(', ')})` };
  const poll = entries['poll-images'];
  if (poll !== undefined && typeof poll !== 'boolean') return { ok: false, message: 'x-gitops.poll-images must be true or false' };
  const rollback = entries['rollback'];
  if (rollback !== undefined && typeof rollback !== 'boolean') return { ok: false, message: 'x-gitops.rollback must be true or false' };
  return { ok: true, extension: { pollImages: poll === true, rollback: rollback !== false } };
}
