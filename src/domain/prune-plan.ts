import type { DeployedState } from './types.js';

/**
 * Deployed services whose directory the checkout no longer has: what pruning looks at. The own
 * service is never one (the server does not take itself down).
 */
export function pruneCandidates(deployed: readonly DeployedState[], discovered: ReadonlySet<string>, selfService: string): DeployedState[] {
  return deployed.filter((s) => !discovered.has(s.service) && s.service !== selfService);
}

export interface PruneDecision {
  /** Taken down, each with a tombstone. */
  prune: DeployedState[];
  /** Left running and listed `orphaned`, each with why. */
  orphaned: Array<{ service: string; why: string }>;
  /** Set when the guard refuses the run: nothing is pruned, the run fails with PRUNE_REFUSED. */
  refused?: { count: number; deployed: number; message: string };
}

/**
 * Which candidates go. Only a tracked removal in git proves a service was meant to go (a
 * directory lost from the checkout, or one whose removal cannot be traced, is left alone), and
 * only a stored compose file says how to take it down. The guard: more than one service, and
 * more than `maxFraction` of the deployed ones, going at once looks like a wrong
 * GITOPS_SERVICES_DIRECTORY or a force-pushed empty branch rather than an intent, so nothing goes.
 */
export function decidePrune(input: {
  candidates: readonly DeployedState[];
  /** Candidates whose directory was removed in git between their deployed commit and the synced one. */
  removedInGit: ReadonlySet<string>;
  /** How many services have a deployed state (the candidates included). */
  deployedCount: number;
  /** PRUNE */
  prune: boolean;
  /** PRUNE_MAX_FRACTION, 0 to 1; 1 turns the guard off. */
  maxFraction: number;
}): PruneDecision {
  const prune: DeployedState[] = [];
  const orphaned: PruneDecision['orphaned'] = [];
  for (const state of input.candidates) {
    if (!input.removedInGit.has(state.service)) {
      orphaned.push({ service: state.service, why: 'its directory is gone from the checkout but no removal in git since its deployed commit says so' });
    } else if (!state.compose) {
      orphaned.push({ service: state.service, why: 'removed in git, but it was last deployed before the server kept compose files: take it down by hand' });
    } else if (!input.prune) {
      orphaned.push({ service: state.service, why: 'removed in git; PRUNE=false leaves it running' });
    } else {
      prune.push(state);
    }
  }
  if (prune.length > 1 && input.maxFraction < 1 && prune.length > input.maxFraction * input.deployedCount) {
    const names = prune.map((s) => s.service).sort();
    return {
      prune: [],
      orphaned: [...orphaned, ...prune.map((s) => ({ service: s.service, why: 'removed in git; pruning refused (too many at once)' }))],
      refused: {
        count: prune.length,
        deployed: input.deployedCount,
        message:
          `${prune.length} of ${input.deployedCount} deployed services would be pruned at once (${names.join(', ')}), more than PRUNE_MAX_FRACTION=${input.maxFraction}: ` +
          'nothing was removed or deployed. Check GITOPS_SERVICES_DIRECTORY and the branch; if the removal is meant, raise PRUNE_MAX_FRACTION (1 turns the guard off) or remove fewer services per push',
      },
    };
  }
  return { prune, orphaned };
}
