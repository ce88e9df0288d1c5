/**
 * Whether the server deploys its own service (DEPLOY_SERVER_NAME), and how. Pure.
 *
 * The server knows it runs in a container of its own service when the engine lists a running
 * container of that compose project carrying the server image's label (the self-updater's
 * `findInstance`). Then the own service is replaced through a helper container. Otherwise the
 * server runs somewhere else (on the host, in development, beside the old server during a
 * migration): deploying the service there would start a second deployer on the same engine,
 * answering the same webhooks. So it is left alone, said in its plan entry, unless the operator
 * opts in with SELF_DEPLOY=in-place (deploy it like any other service).
 */

/** SELF_DEPLOY: `container` (default) or `in-place`. */
export type SelfDeployMode = 'container' | 'in-place';

export type SelfDeployDecision =
  /** Replace the server's container through a helper container. */
  | { kind: 'helper' }
  /** Deploy it like any other service (SELF_DEPLOY=in-place, the server runs elsewhere). */
  | { kind: 'in-place' }
  /** Leave it alone, for this reason. */
  | { kind: 'held'; reason: string };

export function decideSelfDeploy(input: { service: string; runsInOwnContainer: boolean; mode: SelfDeployMode }): SelfDeployDecision {
  if (input.runsInOwnContainer) return { kind: 'helper' };
  if (input.mode === 'in-place') return { kind: 'in-place' };
  return { kind: 'held', reason: selfHeldReason(input.service) };
}

/** Why the own service is not deployed, for its plan entry, its deployment's error and the log. */
export function selfHeldReason(service: string): string {
  return `not deployed: this server does not run in a container of ${service}; SELF_DEPLOY=in-place deploys it in place`;
}
