import type { ContainerState, HealthcheckSpec } from '../domain/engine-state.js';
import { CONFIG_HASH_LABEL } from '../domain/service-config-hash.js';
import { AppError, isAppError } from '../errors.js';
import type { ProcessRunner } from './process-runner.js';

/**
 * The container engine seen through its CLI (`podman` or `docker`). Both honour the engine
 * socket variables (CONTAINER_HOST, DOCKER_HOST) and both speak to a Podman or a Docker API,
 * so this is how deployments check what really runs. Image references come from compose files:
 * they always follow `--`, so one that starts with `-` is never read as an option.
 */
export class EngineCli {
  constructor(
    private readonly cli: 'podman' | 'docker',
    private readonly run: ProcessRunner,
    private readonly timeoutMs: number,
    /** The engine variables the CLI runs with (DOCKER_HOST: where a Podman API socket behind the docker CLI is). */
    private readonly engineEnv: Record<string, string | undefined> = {},
  ) {}

  private podmanBehindDocker: Promise<boolean> | undefined;

  /** Every container (running or not) labelled with the compose project. */
  async listProjectContainers(project: string): Promise<ContainerState[]> {
    const ids = (
      await this.exec(['ps', '--all', '--quiet', '--no-trunc', '--filter', `label=com.docker.compose.project=${project}`])
    ).stdout
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
    if (ids.length === 0) return [];
    // A container removed between ps and inspect makes inspect fail; ask again once.
    let inspected: string;
    try {
      inspected = (await this.exec(['container', 'inspect', ...ids])).stdout;
    } catch (error) {
      if (!isAppError(error) || error.code !== 'PROCESS_FAILED') throw error;
      return this.listProjectContainers(project);
    }
    return parseInspect(inspected).filter((c) => c.project === project).map(({ project: _p, ...c }) => c);
  }

  /**
   * Whether the server must run healthchecks itself. Podman schedules them with systemd timers,
   * which never fire without systemd (most hosts the server runs on, and its own container), so
   * a container stays `starting` for good; an extra probe where systemd does run them is harmless.
   * dockerd runs its own; the docker CLI pointed at a Podman API socket is asked once.
   */
  drivesHealthchecks(): Promise<boolean> {
    if (this.cli === 'podman') return Promise.resolve(true);
    this.podmanBehindDocker ??= this.exec(['version', '--format', '{{range .Server.Components}}{{.Name}};{{end}}'])
      .then((result) => /Podman Engine/i.test(result.stdout))
      .catch(() => false);
    return this.podmanBehindDocker;
  }

  /** The current state of these containers (the gate's snapshot); containers gone meanwhile are left out. */
  async inspectContainers(ids: readonly string[]): Promise<ContainerState[]> {
    if (ids.length === 0) return [];
    try {
      return parseInspect((await this.exec(['container', 'inspect', ...ids])).stdout).map(({ project: _p, ...c }) => c);
    } catch (error) {
      if (!isAppError(error) || error.code !== 'PROCESS_FAILED') throw error;
      if (ids.length === 1) return [];
      // One of them was removed: ask for each alone.
      return (await Promise.all(ids.map((id) => this.inspectContainers([id])))).flat();
    }
  }

  /** Runs a container's healthcheck once (`podman healthcheck run`); the engine records the result in `State.Health`. */
  async runHealthcheck(containerId: string, timeoutMs: number): Promise<void> {
    // The docker CLI has no such command: behind it, a Podman socket is reached with `podman --remote`.
    const request =
      this.cli === 'podman'
        ? { command: 'podman', args: ['healthcheck', 'run', containerId] }
        : { command: 'podman', args: ['--remote', 'healthcheck', 'run', containerId], env: { CONTAINER_HOST: this.engineEnv['DOCKER_HOST'] || 'unix:///var/run/docker.sock' } };
    // Exit 1 means unhealthy, 125 a container that is not running: both show in the next inspect.
    await this.run({ ...request, timeoutMs, okExitCodes: [0, 1, 125] }).catch((error: unknown) => {
      if (isAppError(error) && (error.code === 'PROCESS_FAILED' || error.code === 'PROCESS_TIMEOUT')) return;
      throw error;
    });
  }

  /** The local image id for a reference, without `sha256:`, or undefined when it is not present. */
  async imageId(reference: string): Promise<string | undefined> {
    try {
      const out = await this.exec(['image', 'inspect', '--format', '{{.Id}}', '--', reference]);
      return stripDigestPrefix(out.stdout.trim().split('\n')[0] ?? '') || undefined;
    } catch (error) {
      if (isAppError(error) && error.code === 'PROCESS_FAILED') return undefined;
      throw error;
    }
  }

  /** The registry digests (`name@sha256:…`) an image was pulled or pushed as; empty for a local build. */
  async repoDigests(imageId: string): Promise<string[]> {
    const out = await this.exec(['image', 'inspect', '--format', '{{json .RepoDigests}}', imageId]);
    return (JSON.parse(out.stdout.trim().split('\n')[0] || 'null') as string[] | null) ?? [];
  }

  /** Pulls one image; credentials come from `env` (REGISTRY_AUTH_FILE / DOCKER_CONFIG). */
  async pull(reference: string, env: Record<string, string>, output: (chunk: string) => void, signal?: AbortSignal): Promise<void> {
    try {
      await this.run({ command: this.cli, args: ['pull', '--', reference], env, timeoutMs: this.timeoutMs, onOutput: output, ...(signal ? { signal } : {}) });
    } catch (error) {
      if (isAppError(error) && error.code === 'PROCESS_FAILED') {
        throw new AppError('PULL_FAILED', `pulling ${reference} failed`, { details: error.details, cause: error });
      }
      throw error;
    }
  }

  /** Points `reference` at a local image id again (a rollback to the image that ran before). */
  async tag(imageId: string, reference: string): Promise<void> {
    await this.exec(['tag', '--', imageId, reference]);
  }

  /** Starts a detached container; `args` are the `run` options, image and command. Returns its id. */
  async runDetached(args: readonly string[]): Promise<string> {
    return (await this.exec(['run', '--detach', ...args])).stdout.trim().split('\n').pop() ?? '';
  }

  /** Whether a container of that name or id exists (running or not). */
  async containerExists(nameOrId: string): Promise<boolean> {
    const ids = (await this.exec(['ps', '--all', '--quiet', '--filter', `name=^${nameOrId}$`])).stdout.trim();
    return ids !== '';
  }

  /** Runs a command in a running container; resolves to its exit code (never throws on a non-zero exit). */
  async execIn(containerId: string, argv: readonly string[], timeoutMs: number): Promise<{ exitCode: number; output: string }> {
    try {
      const result = await this.run({ command: this.cli, args: ['exec', containerId, ...argv], timeoutMs });
      return { exitCode: 0, output: result.output };
    } catch (error) {
      if (isAppError(error) && (error.code === 'PROCESS_FAILED' || error.code === 'PROCESS_TIMEOUT')) {
        return { exitCode: Number(error.details?.['exitCode'] ?? 1) || 1, output: String(error.details?.['output'] ?? '') };
      }
      throw error;
    }
  }

  /** The last lines a container wrote, for error messages; empty when they cannot be read. */
  async logsTail(containerId: string, lines: number): Promise<string> {
    try {
      return (await this.run({ command: this.cli, args: ['logs', '--tail', String(lines), containerId], timeoutMs: 10_000 })).output;
    } catch {
      return '';
    }
  }

  /** Stops (politely, then by force after `stopTimeoutSeconds`) and removes containers. */
  async removeContainers(ids: readonly string[], stopTimeoutSeconds: number, output: (chunk: string) => void, signal?: AbortSignal): Promise<void> {
    if (ids.length === 0) return;
    const abort = signal ? { signal } : {};
    await this.run({ command: this.cli, args: ['stop', '--time', String(stopTimeoutSeconds), ...ids], timeoutMs: this.timeoutMs, onOutput: output, okExitCodes: [0, 1, 125], ...abort });
    await this.run({ command: this.cli, args: ['rm', '--force', ...ids], timeoutMs: this.timeoutMs, onOutput: output, ...abort });
  }

  /** Names of the networks labelled with the compose project (both compose tools label theirs). */
  async listProjectNetworks(project: string): Promise<string[]> {
    const listing = (await this.exec(['network', 'ls', '--quiet', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Name}}'])).stdout;
    return listing.split('\n').map((s) => s.trim()).filter(Boolean);
  }

  /** Removes networks (their containers must be gone). */
  async removeNetworks(names: readonly string[], output: (chunk: string) => void, signal?: AbortSignal): Promise<void> {
    if (names.length === 0) return;
    await this.run({ command: this.cli, args: ['network', 'rm', ...names], timeoutMs: this.timeoutMs, onOutput: output, ...(signal ? { signal } : {}) });
  }

  private exec(args: string[]) {
    return this.run({ command: this.cli, args, timeoutMs: this.timeoutMs }).catch((error: unknown) => {
      if (isAppError(error) && error.code === 'PROCESS_FAILED' && /cannot connect|connection refused|no such file or directory.*sock|is the docker daemon running/i.test(String(error.details?.['stderr'] ?? ''))) {
        throw new AppError('ENGINE_UNAVAILABLE', `${this.cli} cannot reach its engine: ${String(error.details?.['stderr']).trim().split('\n').pop()}`, { details: error.details });
      }
      throw error;
    });
  }
}

function stripDigestPrefix(id: string): string {
  return id.startsWith('sha256:') ? id.slice(7) : id;
}

/** Reads `container inspect` JSON from either engine (Podman's and Docker's shapes differ slightly). */
export function parseInspect(json: string): Array<ContainerState & { project: string }> {
  const parsed = JSON.parse(json) as Array<{
    Id: string;
    Name: string;
    Image: string;
    RestartCount?: number;
    State?: { Status?: string; ExitCode?: number; Health?: InspectHealth | null; Healthcheck?: InspectHealth | null };
    Config?: { Labels?: Record<string, string> | null; Image?: string; Healthcheck?: InspectHealthcheck | null };
    HostConfig?: { RestartPolicy?: { Name?: string } | null };
  }>;
  return parsed.map((c) => ({
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    service: c.Config?.Labels?.['com.docker.compose.service'] ?? '',
    project: c.Config?.Labels?.['com.docker.compose.project'] ?? '',
    state: c.State?.Status ?? 'unknown',
    exitCode: c.State?.ExitCode ?? 0,
    imageId: stripDigestPrefix(c.Image),
    imageRef: c.Config?.Image,
    labels: c.Config?.Labels ?? {},
    configHash: c.Config?.Labels?.[CONFIG_HASH_LABEL],
    restartCount: c.RestartCount ?? 0,
    restartPolicy: c.HostConfig?.RestartPolicy?.Name || 'no',
    ...healthOf(c.Config?.Healthcheck, c.State?.Health ?? c.State?.Healthcheck),
  }));
}

interface InspectHealth {
  Status?: string;
  FailingStreak?: number;
  Log?: Array<{ ExitCode?: number; Output?: string }> | null;
}
interface InspectHealthcheck {
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
}

/** Durations are nanoseconds; 0 or absent means the engine default (Docker and Podman agree: 30 s, 30 s, 3, 0). */
function healthOf(config: InspectHealthcheck | null | undefined, state: InspectHealth | null | undefined): Pick<ContainerState, 'healthcheck' | 'health'> {
  const test = config?.Test ?? [];
  if (test.length === 0 || test[0] === 'NONE') return {};
  const ms = (ns: number | undefined, fallback: number) => (ns && ns > 0 ? Math.round(ns / 1e6) : fallback);
  const healthcheck: HealthcheckSpec = {
    intervalMs: ms(config?.Interval, 30_000),
    timeoutMs: ms(config?.Timeout, 30_000),
    retries: config?.Retries && config.Retries > 0 ? config.Retries : 3,
    startPeriodMs: ms(config?.StartPeriod, 0),
  };
  const last = state?.Log?.at(-1);
  return {
    healthcheck,
    health: {
      status: state?.Status || 'starting',
      failingStreak: state?.FailingStreak ?? 0,
      ...(last ? { lastProbe: { exitCode: last.ExitCode ?? 0, output: last.Output ?? '' } } : {}),
    },
  };
}
