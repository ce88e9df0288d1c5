import type { ContainerState, HealthcheckSpec } from './engine-state.js';

/**
 * The health gate's decision for one container a deployment created or recreated: settled,
 * still waiting, or failed (with the catalog code the runtime throws). Pure: it reads one inspect
 * snapshot and the time since the gate began, so the loop (adapters/health-gate.ts) only polls.
 *
 * - With a healthcheck: settled when the engine says `healthy`; failed when `unhealthy`, or when
 *   still `starting` past the healthcheck's own deadline.
 * - Without one: settled when still running, never restarted, once the settle window has passed.
 * - One-shot: exited 0 under restart `no` / `on-failure` is settled (the engine will not start it again).
 * - Any restart of a new container is a crash loop; an exit the policy restarts counts as one.
 */
export type SettleVerdict =
  | { kind: 'settled'; reason: string }
  | { kind: 'waiting'; reason: string }
  | { kind: 'failed'; code: GateFailureCode; reason: string };

export type GateFailureCode = 'CONTAINER_UNHEALTHY' | 'CONTAINER_EXITED' | 'CONTAINER_RESTARTING';

export interface SettleRules {
  /** How long a container without a healthcheck must keep running (DEPLOY_SETTLE_SECONDS or `x-gitops: { settle }`). */
  settleMs: number;
  /** Upper bound of any wait (DEPLOY_HEALTH_TIMEOUT_SECONDS). */
  healthTimeoutMs: number;
}

/** Policies under which the engine leaves an exited container alone. */
const ONE_SHOT_POLICIES = new Set(['', 'no', 'on-failure']);

/**
 * How long a healthcheck may take to say `healthy`: its start period, then `retries` probes an
 * interval apart, the last of which may run for its whole timeout. Bounded by `capMs`.
 */
export function healthDeadlineMs(spec: HealthcheckSpec, capMs: number): number {
  return Math.min(spec.startPeriodMs + spec.intervalMs * spec.retries + spec.timeoutMs, capMs);
}

/** How long the gate may wait for this container at most (a deadline of its own). */
export function containerDeadlineMs(container: Pick<ContainerState, 'healthcheck'>, rules: SettleRules): number {
  return container.healthcheck ? healthDeadlineMs(container.healthcheck, rules.healthTimeoutMs) : Math.min(rules.settleMs, rules.healthTimeoutMs);
}

export function settleVerdict(c: ContainerState, elapsedMs: number, rules: SettleRules): SettleVerdict {
  const policy = c.restartPolicy ?? 'no';
  const restarts = c.restartCount ?? 0;
  const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  if (c.state === 'restarting' || restarts > 0) {
    const times = restarts === 0 ? 'is restarting' : `was restarted ${restarts} time${restarts === 1 ? '' : 's'}`;
    const exit = c.state === 'running' ? '' : `, last exit code ${c.exitCode}`;
    return { kind: 'failed', code: 'CONTAINER_RESTARTING', reason: `${c.name} ${times} (restart: ${policy}${exit})` };
  }
  if (c.state === 'exited' || c.state === 'stopped' || c.state === 'dead') {
    if (!ONE_SHOT_POLICIES.has(policy)) {
      // The engine is about to start it again: the same crash loop, caught before its first restart.
      return { kind: 'failed', code: 'CONTAINER_RESTARTING', reason: `${c.name} exited with code ${c.exitCode} and restart: ${policy} starts it again` };
    }
    if (c.exitCode === 0) return { kind: 'settled', reason: `${c.name} ran once and exited 0` };
    if (policy === 'on-failure') return { kind: 'failed', code: 'CONTAINER_RESTARTING', reason: `${c.name} exited with code ${c.exitCode} and restart: on-failure starts it again` };
    return { kind: 'failed', code: 'CONTAINER_EXITED', reason: `${c.name} exited with code ${c.exitCode}` };
  }
  const deadline = containerDeadlineMs(c, rules);
  if (c.state !== 'running') {
    if (elapsedMs >= Math.max(deadline, rules.settleMs)) {
      return { kind: 'failed', code: 'CONTAINER_UNHEALTHY', reason: `${c.name} is still ${c.state} after ${seconds(elapsedMs)}` };
    }
    return { kind: 'waiting', reason: `${c.name} is ${c.state}` };
  }
  if (c.healthcheck) {
    const status = c.health?.status ?? 'starting';
    if (status === 'healthy') return { kind: 'settled', reason: `${c.name} is healthy` };
    if (status === 'unhealthy') return { kind: 'failed', code: 'CONTAINER_UNHEALTHY', reason: `${c.name} is unhealthy${probeSaid(c)}` };
    if (elapsedMs >= deadline) {
      return { kind: 'failed', code: 'CONTAINER_UNHEALTHY', reason: `${c.name} did not become healthy within ${seconds(deadline)}${probeSaid(c)}` };
    }
    return { kind: 'waiting', reason: `${c.name} is ${status || 'starting'}` };
  }
  if (elapsedMs >= deadline) return { kind: 'settled', reason: `${c.name} kept running through the ${seconds(deadline)} settle window` };
  return { kind: 'waiting', reason: `${c.name} must keep running for ${seconds(deadline)}` };
}

function probeSaid(c: ContainerState): string {
  const probe = c.health?.lastProbe;
  if (!probe) return '';
  const line = probe.output.trim().split('\n').pop()?.slice(0, 200);
  return ` (last probe: exit ${probe.exitCode}${line ? `: ${line}` : ''})`;
}
