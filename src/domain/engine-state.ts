/** One container as the engine reports it, reduced to what deployment checks need. */
export interface ContainerState {
  id: string;
  name: string;
  /** The compose service label (`com.docker.compose.service`). */
  service: string;
  /** running, exited, created, ... */
  state: string;
  exitCode: number;
  /** Image id without the `sha256:` prefix. */
  imageId: string;
  /** The configuration hash label the server put on it (undefined on containers it did not make). */
  configHash: string | undefined;
  /** The image reference it was created from (`registry/name:tag`), when the engine says. */
  imageRef?: string | undefined;
  /** All its labels (image labels included). */
  labels?: Record<string, string>;
  /** How often the engine restarted it (its restart policy at work); a new container starts at 0. */
  restartCount?: number;
  /** `no`, `on-failure`, `always`, `unless-stopped` (an engine's empty name means `no`). */
  restartPolicy?: string;
  /** Its healthcheck (from the compose file or the image); undefined when it has none or it is disabled. */
  healthcheck?: HealthcheckSpec;
  /** The engine's `State.Health`, when it has a healthcheck. */
  health?: HealthState;
}

/** A healthcheck's timing, with the engines' defaults filled in. */
export interface HealthcheckSpec {
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

/** `State.Health`: `starting`, `healthy` or `unhealthy`, and the last probe's output. */
export interface HealthState {
  status: string;
  failingStreak: number;
  /** The newest probe's exit code and output, when a probe ran. */
  lastProbe?: { exitCode: number; output: string };
}

/** One compose service the file asks for. */
export interface ExpectedService {
  name: string;
  /** Image id it must run (unknown for services that build their image). */
  imageId: string | undefined;
  /** Hash of the configuration it must run (see service-config-hash.ts). */
  configHash: string;
}

/**
 * Compares what the compose file asks for with what the engine runs, after an action.
 * Returns the problems found, one line each; empty means the deployment really happened.
 * The configuration hash catches a tool that left an old container running (podman-compose
 * 1.0.3 restarts the old container and exits 0). Containers in `gated` (ids) are left to the
 * health gate to judge by state (domain/settle.ts): a new container that crashed is its failure.
 */
export function checkEngineState(expected: readonly ExpectedService[], actual: readonly ContainerState[], gated: ReadonlySet<string> = new Set()): string[] {
  const problems: string[] = [];
  const names = new Set(expected.map((e) => e.name));
  for (const service of expected) {
    const containers = actual.filter((c) => c.service === service.name);
    if (containers.length === 0) {
      problems.push(`${service.name}: no container was created`);
      continue;
    }
    for (const c of containers) {
      if (c.configHash !== service.configHash) problems.push(`${service.name}: ${c.name} runs an old configuration, it was not recreated`);
      else if (!gated.has(c.id) && c.state !== 'running' && !(c.state === 'exited' && c.exitCode === 0)) {
        problems.push(`${service.name}: ${c.name} is ${c.state}${c.state === 'exited' ? ` with exit code ${c.exitCode}` : ''}`);
      } else if (service.imageId && c.imageId !== service.imageId) {
        problems.push(`${service.name}: ${c.name} runs image ${c.imageId.slice(0, 12)}, not ${service.imageId.slice(0, 12)}`);
      }
    }
  }
  for (const c of actual) if (!names.has(c.service)) problems.push(`${c.name} belongs to no service of the compose file and was not removed`);
  return problems;
}

/** Image id per compose service (the first container's), as recorded on deployments. */
export function imagesByService(containers: readonly ContainerState[]): Record<string, string> {
  const images: Record<string, string> = {};
  for (const c of [...containers].sort((a, b) => a.name.localeCompare(b.name))) images[c.service] ??= c.imageId;
  return images;
}
