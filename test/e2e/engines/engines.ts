// Reads the env file written by scripts/start-test-engines.sh so that
// end-to-end tests can find the real backends (Podman API service, private
// dockerd, local registries, busybox test image).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface TestEngines {
  /** Directory with logs, pid files, registry storage (GDS_ENGINES_DIR). */
  dir: string;
  /** Path of the Podman API socket, e.g. /run/podman/podman.sock. */
  podmanSocket: string;
  /** unix:// URL of the Podman API socket (DOCKER_HOST / CONTAINER_HOST value). */
  podmanHost: string;
  /** Path of the private dockerd socket, e.g. /run/gds-docker.sock. */
  dockerSocket: string;
  /** unix:// URL of the private dockerd (DOCKER_HOST value). */
  dockerHost: string;
  /** Plain-HTTP registry without auth, host:port. */
  registryOpen: string;
  /** Plain-HTTP registry with htpasswd auth, host:port. */
  registryAuth: string;
  registryAuthUser: string;
  registryAuthPassword: string;
  /** Directory holding config.json with the auth registry's credentials (DOCKER_CONFIG). */
  registryAuthDockerConfig: string;
  /** The same config.json, for podman's REGISTRY_AUTH_FILE / --authfile. */
  registryAuthAuthfile: string;
  /** localhost/busybox:test, present in podman storage and in the private dockerd. */
  busyboxImage: string;
}

export function enginesEnvPath(): string {
  return join(process.env["GDS_ENGINES_DIR"] ?? "/tmp/gds-engines", "engines.env");
}

/** Parses `export KEY=VALUE` lines (values are written unquoted, without spaces). */
export function parseEnginesEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw);
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    let v = m[2].trim();
    if (v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")))) {
      v = v.slice(1, -1);
    }
    out[m[1]] = v;
  }
  return out;
}

/**
 * Returns the running test engines, or null when scripts/start-test-engines.sh
 * has not been run (tests should then skip with a clear reason).
 */
export function loadTestEngines(path = enginesEnvPath()): TestEngines | null {
  if (!existsSync(path)) return null;
  const env = parseEnginesEnv(readFileSync(path, "utf8"));
  const get = (k: string): string => {
    const v = env[k];
    if (v === undefined || v === "") throw new Error(`${path}: missing ${k}`);
    return v;
  };
  return {
    dir: get("GDS_ENGINES_DIR"),
    podmanSocket: get("PODMAN_SOCKET"),
    podmanHost: get("PODMAN_HOST"),
    dockerSocket: get("DOCKER_TEST_SOCKET"),
    dockerHost: get("DOCKER_TEST_HOST"),
    registryOpen: get("REGISTRY_OPEN"),
    registryAuth: get("REGISTRY_AUTH"),
    registryAuthUser: get("REGISTRY_AUTH_USER"),
    registryAuthPassword: get("REGISTRY_AUTH_PASSWORD"),
    registryAuthDockerConfig: get("REGISTRY_AUTH_DOCKER_CONFIG"),
    registryAuthAuthfile: get("REGISTRY_AUTH_AUTHFILE"),
    busyboxImage: get("BUSYBOX_IMAGE"),
  };
}

export const SKIP_NO_ENGINES =
  "test engines not running: run scripts/install-system-deps.sh and scripts/start-test-engines.sh (as root)";
