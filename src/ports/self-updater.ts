import type { RuntimeKind, ServiceSource } from '../domain/types.js';

/** The server's own container, as found through its compose project's labels. */
export interface ServerInstance {
  containerId: string;
  /** Image id the instance runs: the helper is started from the same image. */
  imageId: string;
}

/**
 * Hands the update of the server's own service to a helper container, which outlives the
 * replacement of the container that starts it.
 */
export interface SelfUpdater {
  /**
   * The running container of the server in the service's compose project (by the project label
   * and the image's server label), or undefined when the server runs elsewhere (then its service
   * is deployed like any other: replacing it does not stop this process).
   */
  findInstance(service: ServiceSource): Promise<ServerInstance | undefined>;
  /** Starts the helper container that carries out the deployment with this id; returns its name. */
  startHelper(instance: ServerInstance, deploymentId: string, runtime: RuntimeKind): Promise<string>;
  /** Whether the helper container of that name still exists (running or not). */
  helperExists(name: string, runtime: RuntimeKind): Promise<boolean>;
}
