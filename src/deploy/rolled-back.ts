import type { Store } from '../ports/store.js';

/**
 * The inputs (fingerprint) of the own service whose last self-update was rolled back, for the
 * plan: a run and a plan preview both leave them alone until they change.
 */
export function rolledBackInputs(store: Pick<Store, 'listServiceDeployments'>, selfService: string): Map<string, string> {
  const [last] = store.listServiceDeployments(selfService, { limit: 1 }).items;
  return last?.status === 'rolled-back' && last.handoff ? new Map([[selfService, last.handoff.fingerprint]]) : new Map();
}
