// The two compose tool generations the e2e suites run against: Debian 12's (on PATH) and the
// current ones from Debian trixie that scripts/install-system-deps.sh extracts side by side
// under /opt/gds-tools. A suite picks one; the server is then configured to run exactly it.
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type ToolGeneration = "current" | "debian12";

export const GDS_TOOLS_DIR = process.env["GDS_TOOLS_DIR"] ?? "/opt/gds-tools";
/** Compose v2 (2.26): the plugin binary, which also runs standalone. */
export const COMPOSE_V2_BIN = join(GDS_TOOLS_DIR, "compose-v2/usr/libexec/docker/cli-plugins/docker-compose");
/** podman-compose 1.3.0: the wrapper that runs the extracted module. */
export const PODMAN_COMPOSE_13_BIN = join(GDS_TOOLS_DIR, "podman-compose-1.3/bin/podman-compose");

export const SKIP_NO_CURRENT_TOOLS = `current compose tools missing under ${GDS_TOOLS_DIR}: run scripts/install-system-deps.sh (as root)`;

/** Whether the current generation is installed (the Debian 12 one is checked by the engines). */
export function currentToolsInstalled(): boolean {
  return existsSync(COMPOSE_V2_BIN) && existsSync(PODMAN_COMPOSE_13_BIN);
}

export interface ToolSelection {
  /** Server settings (PODMAN_COMPOSE_COMMAND, DOCKER_COMPOSE, DOCKER_COMPOSE_COMMAND, DOCKER_CONFIG). */
  env: Record<string, string>;
  /** Removes what the selection created (the private DOCKER_CONFIG). */
  dispose(): void;
}

/**
 * Server settings for one generation and Docker Compose flavour. `plugin` runs `docker compose`:
 * the docker CLI finds Compose v2 through a private DOCKER_CONFIG whose cli-plugins/ holds a
 * link to it (nothing is installed system-wide; Debian 12 has no plugin at all).
 */
export function selectTools(generation: ToolGeneration, docker: "plugin" | "standalone" = "standalone"): ToolSelection {
  if (generation === "debian12") {
    if (docker === "plugin") throw new Error("Debian 12 has no docker compose plugin");
    return { env: { PODMAN_COMPOSE_COMMAND: "podman-compose", DOCKER_COMPOSE: "standalone", DOCKER_COMPOSE_COMMAND: "docker-compose" }, dispose: () => {} };
  }
  const env: Record<string, string> = { PODMAN_COMPOSE_COMMAND: PODMAN_COMPOSE_13_BIN, DOCKER_COMPOSE: docker, DOCKER_COMPOSE_COMMAND: COMPOSE_V2_BIN };
  if (docker === "standalone") return { env, dispose: () => {} };
  const dir = mkdtempSync(join(tmpdir(), "gds-e2e-docker-config-"));
  mkdirSync(join(dir, "cli-plugins"));
  symlinkSync(COMPOSE_V2_BIN, join(dir, "cli-plugins", "docker-compose"));
  return { env: { ...env, DOCKER_CONFIG: dir }, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
