import type { ContainerState } from './engine-state.js';

/** What a service's last successful deployment left running, as the drift check compares it. */
export interface DeployedContainers {
  /** Image id per compose service (the deployed state's `images`): these services must have a container. */
  images: Readonly<Record<string, string>>;
  /**
   * The configuration hash label per compose service, as first seen after the deployment (the
   * deployment's own state check had just matched them); undefined until then.
   */
  configHashes?: Readonly<Record<string, string>> | undefined;
}

/** Restart policies under which an exit is final: a one-shot that exited 0 did its job. */
const ONE_SHOT_POLICIES = new Set(['no', 'on-failure', '']);

/**
 * Why what runs is no longer what was deployed, one line per finding; empty: no drift. Found:
 * a compose service without a container, a container that is not running (an exit 0 under
 * `restart: no`/`on-failure` is a finished one-shot, as the health gate judges it; under
 * `always`/`unless-stopped` the engine would have started it again, so someone stopped it), a
 * container that runs another image or configuration than recorded, and stray containers of the
 * project that belong to no deployed compose service.
 */
export function detectDrift(deployed: DeployedContainers, actual: readonly ContainerState[]): string[] {
  const reasons: string[] = [];
  const services = Object.keys(deployed.images).sort();
  const sorted = [...actual].sort((a, b) => a.name.localeCompare(b.name));
  for (const service of services) {
    const containers = sorted.filter((c) => c.service === service);
    if (containers.length === 0) {
      reasons.push(`container of ${service} is missing`);
      continue;
    }
    for (const c of containers) {
      const state = stateProblem(c);
      if (state) reasons.push(state);
      if (c.imageId !== deployed.images[service]) reasons.push(`image of ${service} differs from deployed (${c.name} runs ${c.imageId.slice(0, 12)}, deployed ${deployed.images[service]!.slice(0, 12)})`);
      const hash = deployed.configHashes?.[service];
      if (hash !== undefined && c.configHash !== hash) reasons.push(`configuration of ${service} differs from deployed (${c.name} was recreated outside the server)`);
    }
  }
  for (const c of sorted) if (!services.includes(c.service)) reasons.push(`stray container ${c.name} (${c.service ? `compose service ${c.service}` : 'no compose service'}) is not part of the deployment`);
  return reasons;
}

function stateProblem(c: ContainerState): string | undefined {
  if (c.state === 'running') return c.health?.status === 'unhealthy' ? `container ${c.name} is unhealthy` : undefined;
  // Podman says `stopped` for some stopped containers where Docker says `exited`.
  if (c.state === 'exited' || c.state === 'stopped') {
    if (c.exitCode === 0 && ONE_SHOT_POLICIES.has(c.restartPolicy ?? 'no')) return undefined;
    return `container ${c.name} exited (code ${c.exitCode})`;
  }
  if (c.state === 'created' || c.state === 'configured') return `container ${c.name} was created but is not running`;
  return `container ${c.name} is ${c.state}`;
}

/** The configuration hash label of each compose service (its first container's), for the baseline. */
export function configHashesOf(containers: readonly ContainerState[]): Record<string, string> {
  const hashes: Record<string, string> = {};
  for (const c of [...containers].sort((a, b) => a.name.localeCompare(b.name))) {
    if (c.configHash !== undefined) hashes[c.service] ??= c.configHash;
  }
  return hashes;
}

export const HOUR_MS = 3_600_000;

/**
 * The flap limit: whether a drifted service may be healed now, given when it was healed before
 * (epoch ms). More than `maxPerHour` heals within the last hour means the service keeps falling
 * over and healing it only hides that: it is held until the oldest of those heals is an hour old.
 */
export function healVerdict(heals: readonly number[], now: number, maxPerHour: number): { heal: true } | { heal: false; held: string } {
  const recent = recentHeals(heals, now);
  if (recent.length < maxPerHour) return { heal: true };
  return { heal: false, held: `held: healed ${recent.length} time${recent.length === 1 ? '' : 's'} in the last hour` };
}

/** The heals of the last hour (older ones no longer count towards the flap limit). */
export function recentHeals(heals: readonly number[], now: number): number[] {
  return heals.filter((at) => now - at < HOUR_MS);
}

/** A service's current drift episode, as views show it. */
export interface ServiceDrift {
  /** detectDrift's findings at the newest check. */
  reasons: string[];
  /** When the episode began (the first check that found it). */
  since: string;
  /** Why it is not healed: the flap limit (`held: healed 3 times in the last hour`), a pin; null when healing or self-heal is off. */
  held: string | null;
  /** Heals of this service within the last hour. */
  healsLastHour: number;
  /** The run of the newest heal of this episode, if one was queued. */
  healRunId: string | null;
}
