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
}

/** One compose service the file asks for. */
export interface ExpectedService {
  name: string;
  /** Image id it must run (unknown for services that build their image). */
  imageId: string | undefined;
}

/**
 * Compares what the compose file asks for with what the engine runs, after an action.
 * `replaced` holds ids of containers that the action removed: any of them still present means
 * the tool brought back an old container (podman-compose 1.0.3 does this and exits 0).
 * Returns the problems found, one line each; empty means the deployment really happened.
 */
export function checkEngineState(expected: readonly ExpectedService[], actual: readonly ContainerState[], replaced: ReadonlySet<string> = new Set()): string[] {
  const problems: string[] = [];
  for (const service of expected) {
    const containers = actual.filter((c) => c.service === service.name);
    if (containers.length === 0) {
      problems.push(`${service.name}: no container was created`);
      continue;
    }
    for (const c of containers) {
      if (replaced.has(c.id)) problems.push(`${service.name}: ${c.name} is the old container, it was not recreated`);
      else if (c.state !== 'running' && !(c.state === 'exited' && c.exitCode === 0)) {
        problems.push(`${service.name}: ${c.name} is ${c.state}${c.state === 'exited' ? ` with exit code ${c.exitCode}` : ''}`);
      } else if (service.imageId && c.imageId !== service.imageId) {
        problems.push(`${service.name}: ${c.name} runs image ${c.imageId.slice(0, 12)}, not ${service.imageId.slice(0, 12)}`);
      }
    }
  }
  return problems;
}

/** Image id per compose service (the first container's), as recorded on deployments. */
export function imagesByService(containers: readonly ContainerState[]): Record<string, string> {
  const images: Record<string, string> = {};
  for (const c of [...containers].sort((a, b) => a.name.localeCompare(b.name))) images[c.service] ??= c.imageId;
  return images;
}
