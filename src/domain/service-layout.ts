import { posix } from 'node:path';
import type { RuntimeKind } from './types.js';

/** Compose file names a service directory may hold, in the order compose itself prefers them. */
export const COMPOSE_FILE_NAMES = [
  'compose.yaml',
  'compose.yml',
  'docker-compose.yaml',
  'docker-compose.yml',
  'podman-compose.yaml',
  'podman-compose.yml',
  // A Docker Swarm stack (runtime `swarm`); a directory holds one of these or a compose file.
  'docker-stack.yaml',
  'docker-stack.yml',
] as const;

/** Env files compose reads for interpolation, beside the compose file (podman-compose reads the second). */
export const INTERPOLATION_ENV_FILES = ['.env', 'podman-compose.env'] as const;

/**
 * The seed's rule: a `podman-compose.*` file means Podman, a `docker-compose.*` file means
 * Docker; a neutral `compose.*` file uses the configured default. A `docker-stack.*` file is a
 * Docker Swarm stack. A compose file's `x-gitops: { runtime }` overrides the name (the catalog).
 */
export function runtimeForComposeFile(fileName: string, defaultRuntime: RuntimeKind): RuntimeKind {
  if (fileName.startsWith('docker-stack.')) return 'swarm';
  if (fileName.startsWith('podman-compose.')) return 'podman';
  if (fileName.startsWith('docker-compose.')) return 'docker';
  return defaultRuntime;
}

/**
 * Service directory names a request may name: the characters compose and every file system
 * accept, no leading dot or dash (hidden directories and option-like names are never services).
 */
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isValidServiceName(name: string): boolean {
  return SERVICE_NAME.test(name) && !name.includes('..');
}

/**
 * Compose project names must be lowercase letters, digits, dashes and underscores and start
 * with a letter or digit. Directory names are mapped onto that, keeping distinct names apart
 * with a short hash when the mapping had to change something.
 */
export function composeProjectName(directoryName: string, hash: (text: string) => string): string {
  const lowered = directoryName.toLowerCase();
  let name = lowered.replace(/[^a-z0-9_-]/g, '-').replace(/^[^a-z0-9]+/, '');
  if (name === '') name = 'service';
  if (name !== directoryName) name = `${name}-${hash(directoryName).slice(0, 6)}`;
  return name;
}

/**
 * The key under which a file the compose file names is kept in a service's `files`: relative to
 * the service directory in normal form (`./a/../b` is `b`), or absolute when written absolute.
 */
export function inputFileKey(written: string): string {
  const slashed = written.replace(/\\/g, '/');
  if (slashed.startsWith('/')) return posix.normalize(slashed);
  const normal = posix.normalize(slashed).replace(/\/+$/, '');
  return normal === '' ? '.' : normal;
}
