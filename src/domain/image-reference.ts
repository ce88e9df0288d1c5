/**
 * Image references in the one spelling a registry webhook and a compose file can be compared in:
 * `nginx` → `docker.io/library/nginx:latest`, `ghcr.io/Org/app` → `ghcr.io/org/app:latest`.
 * A digest-pinned reference (`…@sha256:…`) is null: it names one image for ever, so no
 * "new version published" can concern it.
 */
export function normaliseImageReference(reference: string): string | null {
  const text = reference.trim();
  if (text === '' || text.includes('@')) return null;
  const slash = text.lastIndexOf('/');
  const colon = text.lastIndexOf(':');
  const hasTag = colon > slash;
  const name = hasTag ? text.slice(0, colon) : text;
  const tag = hasTag ? text.slice(colon + 1) : 'latest';
  if (name === '' || tag === '') return null;
  const parts = name.split('/');
  // The first part is a registry when it looks like a host (a dot, a port, or localhost), as docker decides.
  const first = parts[0]!;
  const hasRegistry = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  let registry = hasRegistry ? first.toLowerCase() : 'docker.io';
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  const path = (hasRegistry ? parts.slice(1) : parts).join('/').toLowerCase();
  const repository = registry === 'docker.io' && !path.includes('/') ? `library/${path}` : path;
  return `${registry}/${repository}:${tag}`;
}
