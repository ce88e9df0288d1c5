import { inputFileKey } from './service-layout.js';
import type { FileDigests } from './types.js';

/** The container label that carries a compose service's configuration hash. */
export const CONFIG_HASH_LABEL = 'io.gitops-deploy-server.config-hash';
/** Bumped when the hash's inputs change, so containers made under the old rule are recreated once. */
const HASH_VERSION = 'v1';

export interface ServiceConfigInput {
  /** The compose service's own mapping, as written. */
  definition: unknown;
  /** Top-level sections other than `services` (networks, volumes, configs, secrets): shared by all. */
  shared: unknown;
  /** Variables interpolation resolves from (after the tool's precedence rules). */
  variables: Readonly<Record<string, string | undefined>>;
  /** Env files and bind-mount sources of this compose service, as written. */
  inputPaths: readonly string[];
  /**
   * The service's file digests (ServiceSource.files). Only these count: a bind source absent from
   * them (a data file the container writes, an `x-gitops.ignore` match) adds its path, never its content.
   */
  files: FileDigests;
  /** The image id the container must run, when known. */
  imageId: string | undefined;
}

/**
 * A digest of everything that decides what one compose service's container runs: its
 * definition, the variables it interpolates, the contents of its env files and of the files it
 * bind-mounts, and its image id. Put on the container as a label, it tells which containers of a
 * changed stack really changed (podman-compose cannot tell), and makes Docker Compose recreate a
 * container whose mounted config file changed (Compose itself never looks at file contents).
 */
export function serviceConfigHash(input: ServiceConfigInput, hash: (text: string) => string): string {
  const definition = canonicalJson(input.definition);
  const referenced = referencedVariables(definition).map((name) => [name, input.variables[name] ?? null]);
  const digests = input.inputPaths.map((written) => {
    const key = inputFileKey(written);
    // A bind-mounted directory counts by the files under it that the fingerprint holds.
    const inside = Object.keys(input.files).filter((k) => k === key || k.startsWith(`${key}/`)).sort();
    return [key, inside.map((k) => `${k}=${input.files[k]}`)];
  });
  const text = canonicalJson([HASH_VERSION, definition, canonicalJson(input.shared), referenced, digests, input.imageId ?? null]);
  return `${HASH_VERSION}-${hash(text).slice(0, 32)}`;
}

/** Names of the variables a text interpolates (`$VAR`, `${VAR}`, `${VAR:-x}`), `$$` excluded. */
export function referencedVariables(text: string): string[] {
  const names = new Set<string>();
  for (const match of text.matchAll(/\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))/g)) {
    const name = match[1] ?? match[2];
    if (name) names.add(name);
  }
  return [...names].sort();
}

/** JSON with object keys sorted, so equal documents give equal text whatever the key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  ) ?? 'null';
}
