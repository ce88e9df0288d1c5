import type { DeployedCompose, RuntimeKind, ServiceSource } from '../domain/types.js';
import type { ContainerState } from '../domain/engine-state.js';

/** Streams the compose tool's output while a deployment runs. */
export type OutputSink = (chunk: string) => void;

export interface ActionContext {
  output: OutputSink;
  /** Aborted when the server shuts down. */
  signal?: AbortSignal;
  /** Recreate every container of the service, changed or not (`deploy <service> --force`). */
  force?: true;
}

export interface DeployResult {
  /** Image id per compose service as running after the action. */
  images: Record<string, string>;
  /** Names of the containers the action created or recreated, which the health gate waited on. */
  gated: string[];
}

export interface UpdateResult {
  imagesBefore: Record<string, string>;
  imagesAfter: Record<string, string>;
  /** Compose services whose containers were recreated because their image changed. */
  recreated: string[];
  /** Names of the containers the action created or recreated, which the health gate waited on. */
  gated: string[];
}

/**
 * A compose tool plus the engine it drives. Every method checks the engine's real state
 * before it returns: a call that resolves means the containers of every compose service
 * exist, run, and use the current configuration, and that each container the call created or
 * recreated is settled (healthy, or running through the settle window, or a one-shot that
 * exited 0). A container that is not rejects with `CONTAINER_UNHEALTHY`, `CONTAINER_EXITED` or
 * `CONTAINER_RESTARTING`, whose `details` carry `output` (its last log lines and probe output)
 * and `imagesBefore` (image id per compose service before the call, for a rollback).
 */
export interface Runtime {
  readonly kind: RuntimeKind;
  /** Brings the service up to its compose file, recreating what changed. */
  deploy(service: ServiceSource, ctx: ActionContext): Promise<DeployResult>;
  /** Pulls the service's images and recreates only the containers whose image changed. */
  update(service: ServiceSource, ctx: ActionContext): Promise<UpdateResult>;
  /**
   * A construct of the service's compose file that this runtime's tool version cannot run as
   * written (`COMPOSE_UNSUPPORTED`), or undefined. Touches nothing; the catalog reports it.
   */
  checkCompose?(service: ServiceSource): Promise<{ code: 'COMPOSE_UNSUPPORTED'; message: string } | undefined>;

  /** The service's containers as its engine runs them now (the drift check); without it the service is not checked. */
  containers?(service: ServiceSource): Promise<ContainerState[]>;
  /** The compose tool and version that runs this runtime's services (`podman-compose 1.3.0`), for the plan and doctor. */
  describeTool?(): Promise<string>;
  /**
   * Takes a removed service down with the compose file it was last deployed with: stops and
   * removes its containers and networks, keeps its volumes (named volumes hold data). Resolves
   * only once the engine has no container or network of the project left. Optional so that
   * runtimes which cannot remove (test doubles) still type; pruning then fails that service.
   */
  down?(target: DeployedCompose & { service: string }, ctx: ActionContext): Promise<void>;
}

/** One runtime per kind, chosen per service by its `runtime` field. */
export type RuntimeRegistry = Record<RuntimeKind, Runtime>;
