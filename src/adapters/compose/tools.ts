import { COMPOSE_GO, PODMAN_ENV_FILE, PYTHON_DOTENV, PYTHON_DOTENV_BOM } from '../../domain/dotenv.js';
import type { ProcessRunner } from '../process-runner.js';
import type { ComposeTool } from './compose-runtime.js';

export type { ComposeTool } from './compose-runtime.js';

/** `podman-compose 1.3.0`: the tool and version named in doctor, the plan and the deployment output. */
export function describeTool(tool: Pick<ComposeTool, 'name' | 'version'>): string {
  return `${tool.name} ${tool.version}`;
}

/**
 * The version in a version command's output: after `podman-compose version` / `podman-composer
 * version` when it says so (1.0.3 prints podman's version first), else the first `X.Y.Z...`
 * (`v2.26.1`, `1.29.2`).
 */
export function parseToolVersion(output: string): string | undefined {
  return /podman-composer? version\s+v?(\d+\.\d+\.\d+\S*)/i.exec(output)?.[1] ?? /\bv?(\d+\.\d+\.\d+[^\s,]*)/.exec(output)?.[1];
}

/** Whether `version` is at least `major.minor` (an unparsable version counts as older). */
export function versionAtLeast(version: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  return Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor);
}

const fileArgs = (files: readonly string[]) => files.flatMap((f) => ['-f', f]);

/**
 * podman-compose 1.0.x (Debian 12 ships 1.0.3). It reads `.env` with python-dotenv
 * (`dotenv_values`) over the process environment, hands each `env_file` to
 * `podman run --env-file` (rules of its own), and `up -d` never recreates: a container whose
 * configuration changed is restarted as it was, and `up` exits 0. Version and command are
 * filled in by detection; this is the Debian 12 generation.
 */
export const podmanCompose: ComposeTool = podmanComposeGeneration('1.0.3', 'podman-compose');

/**
 * The podman-compose generation of `version`, run as `command`.
 *
 * 1.1 and later (Debian trixie: 1.3.0), as measured on Podman 4.3: the process environment beats
 * `.env` (as Docker Compose); `env_file` is read with python-dotenv and passed as `-e` (the
 * long syntax with `required: false` works); and `up -d` compares one hash of the whole merged
 * compose file with every container's `io.podman.compose.config-hash` label: when any differs
 * it takes the whole project `down` and recreates every container. So the server still removes
 * the changed containers itself, and names on `up` only the services that have no running
 * container: then `up` takes down only those (already gone) and their `depends_on`
 * dependencies, which podman-compose 1.3 cannot leave out, and creates them anew.
 */
export function podmanComposeGeneration(version: string, command: string): ComposeTool {
  const current = versionAtLeast(version, 1, 1);
  return {
    name: 'podman-compose',
    version,
    up: (project, files, services) => ({ command, args: ['-p', project, ...fileArgs(files), 'up', '-d', ...(current ? (services ?? []) : [])] }),
    recreatesChanged: false,
    upNamesServices: current,
    envFileWins: !current,
    dotenv: current ? { interpolation: PYTHON_DOTENV, envFile: PYTHON_DOTENV } : { interpolation: PYTHON_DOTENV, envFile: PODMAN_ENV_FILE },
  };
}

/** Docker Compose v2 reads `.env` and `env_file` with compose-go's dotenv parser; `up` recreates exactly what changed. */
const composeV2 = (version: string, invoke: { command: string; prefix: string[] }, name: string): ComposeTool => ({
  name,
  version,
  up: (project, files) => ({ command: invoke.command, args: [...invoke.prefix, '-p', project, ...fileArgs(files), 'up', '-d', '--remove-orphans'] }),
  recreatesChanged: true,
  upNamesServices: false,
  envFileWins: false,
  dotenv: { interpolation: COMPOSE_GO, envFile: COMPOSE_GO },
});

/**
 * docker-compose 1.x (Debian 12: 1.29.2, Python) reads `.env` and `env_file` with
 * python-dotenv (BOM allowed); a `.env` key without `=` interpolates as the text `None` unless
 * the environment sets it. `up` recreates exactly what changed, as v2 does.
 */
const composeV1 = (version: string, command: string): ComposeTool => ({
  name: 'docker-compose',
  version,
  up: (project, files) => ({ command, args: ['-p', project, ...fileArgs(files), 'up', '-d', '--remove-orphans'] }),
  recreatesChanged: true,
  upNamesServices: false,
  envFileWins: false,
  dotenv: { interpolation: PYTHON_DOTENV_BOM, envFile: PYTHON_DOTENV_BOM, unsetInterpolatesAs: 'None' },
});

/**
 * `docker-compose` run as a standalone command: 1.29 (Python) or Compose v2's binary under that
 * name (trixie ships both as the plugin; it runs standalone too). The version says which.
 */
export function dockerComposeStandaloneGeneration(version: string, command: string): ComposeTool {
  return versionAtLeast(version, 2, 0) ? composeV2(version, { command, prefix: [] }, 'docker-compose') : composeV1(version, command);
}

/** `docker compose` (the CLI plugin, always Compose v2). */
export function dockerComposePluginGeneration(version: string): ComposeTool {
  return composeV2(version, { command: 'docker', prefix: ['compose'] }, 'docker compose');
}

const PROBE_TIMEOUT_MS = 15_000;
const UNKNOWN = 'unknown';

/** Runs a version command; the version, or undefined when it fails or says none. */
async function probeVersion(run: ProcessRunner, command: string, args: string[]): Promise<string | undefined> {
  try {
    const result = await run({ command, args, timeoutMs: PROBE_TIMEOUT_MS });
    return parseToolVersion(`${result.stdout}\n${result.output}`);
  } catch {
    return undefined;
  }
}

/**
 * A detector that asks the tool its version once and remembers the answer. A failed probe (the
 * tool missing, a hung engine) is not remembered: the fallback generation is used for this call
 * and the next one asks again, so installing the tool needs no restart.
 */
function detectOnce(probe: () => Promise<ComposeTool | undefined>, fallback: () => ComposeTool): () => Promise<ComposeTool> {
  let detected: Promise<ComposeTool | undefined> | undefined;
  return async () => {
    detected ??= probe();
    const tool = await detected;
    if (tool) return tool;
    detected = undefined;
    return fallback();
  };
}

/**
 * podman-compose as PODMAN_COMPOSE_COMMAND names it, its generation detected once from
 * `podman-compose version`. Unknown version (not installed yet): the Debian 12 behaviour.
 */
export function podmanComposeTool(options: { command?: string; run: ProcessRunner }): () => Promise<ComposeTool> {
  const command = options.command ?? 'podman-compose';
  return detectOnce(
    async () => {
      const version = await probeVersion(options.run, command, ['version']);
      return version ? podmanComposeGeneration(version, command) : undefined;
    },
    () => podmanComposeGeneration(UNKNOWN, command),
  );
}

/**
 * Docker Compose as DOCKER_COMPOSE chooses it: `docker compose` (the v2 plugin) where it
 * answers, else the standalone command (DOCKER_COMPOSE_COMMAND, default `docker-compose`:
 * Debian 12 has only 1.29). Detected once, with the version.
 */
export function dockerComposeTool(options: { preference: 'auto' | 'plugin' | 'standalone'; standaloneCommand?: string; run: ProcessRunner }): () => Promise<ComposeTool> {
  const command = options.standaloneCommand ?? 'docker-compose';
  const plugin = () => probeVersion(options.run, 'docker', ['compose', 'version', '--short']);
  const standalone = () => probeVersion(options.run, command, ['version', '--short']);
  if (options.preference === 'plugin') {
    return detectOnce(async () => mapDefined(await plugin(), dockerComposePluginGeneration), () => dockerComposePluginGeneration(UNKNOWN));
  }
  const standaloneTool = async () => mapDefined(await standalone(), (v) => dockerComposeStandaloneGeneration(v, command));
  // An unknown standalone version is taken for 1.29: the only one a Debian 12 host has.
  const fallback = () => dockerComposeStandaloneGeneration(UNKNOWN, command);
  if (options.preference === 'standalone') return detectOnce(standaloneTool, fallback);
  return detectOnce(async () => mapDefined(await plugin(), dockerComposePluginGeneration) ?? (await standaloneTool()), fallback);
}

const mapDefined = <T, U>(value: T | undefined, f: (value: T) => U): U | undefined => (value === undefined ? undefined : f(value));
