import type { Store } from '../ports/store.js';

/**
 * The inputs (fingerprint) whose last deployment was rolled back, by service: the own service's
 * self-update (its handoff) and any service's health-gate failure. A run and a plan preview both
 * leave them alone until they change; an explicit deploy tries them again.
 */
export function rolledBackInputs(store: Pick<Store, 'lastDeployments'>): Map<string, string> {
  const held = new Map<string, string>();
  for (const [service, last] of store.lastDeployments()) {
    if (last.status !== 'rolled-back') continue;
    const fingerprint = last.handoff?.fingerprint ?? last.fingerprint;
    if (fingerprint) held.set(service, fingerprint);
  }
  return held;
}
