import type { FileDigests } from './types.js';

/**
 * A service's fingerprint: one digest over the sorted (path, digest) pairs of its inputs, so
 * the order files were read in never matters. `hash` is passed in to keep the domain free of I/O.
 */
export function fingerprintOf(files: FileDigests, hash: (text: string) => string): string {
  const lines = Object.keys(files)
    .sort()
    .map((path) => `${path}\0${files[path]}`);
  return hash(lines.join('\n'));
}

/** Paths whose digest differs between two file maps (added, removed or changed), sorted with the compose file first. */
export function changedFiles(previous: FileDigests, current: FileDigests): string[] {
  const paths = new Set([...Object.keys(previous), ...Object.keys(current)]);
  return [...paths].filter((path) => previous[path] !== current[path]).sort(byInputOrder);
}

/** Compose files first, then the service's own files, then files outside the directory. */
function byInputOrder(a: string, b: string): number {
  const rank = (p: string) => (/(^|\/)(docker-|podman-)?compose\.ya?ml$/.test(p) && !p.includes('/') ? 0 : p.startsWith('../') ? 2 : 1);
  return rank(a) - rank(b) || a.localeCompare(b);
}
