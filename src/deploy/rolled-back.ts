import type { FailedInputs } from '../domain/plan.js';
import { holdsFailedInputs } from '../domain/retry-policy.js';
import type { ServicePin } from '../domain/types.js';
import type { Store } from '../ports/store.js';

/**
 * The inputs (fingerprint) of the own service whose last self-update was rolled back, for the
 * plan: a run and a plan preview both leave them alone until they change. (Other services are
 * held by their pin, which an unpin can lift.)
 */
export function rolledBackInputs(store: Pick<Store, 'lastDeployments'>): Map<string, string> {
  const held = new Map<string, string>();
  for (const [service, last] of store.lastDeployments()) {
    if (last.status === 'rolled-back' && last.handoff) held.set(service, last.handoff.fingerprint);
  }
  return held;
}

/** The pinned services, by name, for the plan. */
export function pinsOf(store: Pick<Store, 'listPins'>): Map<string, ServicePin> {
  return new Map(store.listPins().map((pin) => [pin.service, pin] as const));
}

/**
 * The inputs each service's newest deployment failed with deterministically (recorded on the
 * failure), for the plan: a run and a plan preview leave them alone until they change. Not held:
 * transient failures (the engine or a registry was away; the next run may well succeed, and the
 * retry scheduler tries too), pull failures (registry and credentials are not inputs) and
 * interrupted deployments (the next instance retries them).
 */
export function failedInputs(store: Pick<Store, 'lastDeployments'>): Map<string, FailedInputs> {
  const held = new Map<string, FailedInputs>();
  for (const [service, last] of store.lastDeployments()) {
    if (last.status !== 'failed' || !last.fingerprint) continue;
    if (!holdsFailedInputs({ code: last.errorCode ?? 'INTERNAL', message: last.error ?? '' })) continue;
    held.set(service, { fingerprint: last.fingerprint, commit: last.commit });
  }
  return held;
}
