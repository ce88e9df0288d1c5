import type { ContainerState } from '../domain/engine-state.js';

/**
 * What the self-update helper needs from a container engine: read a project's containers, look
 * up and re-point image tags, and probe a container from inside. The engine CLI adapter
 * (`adapters/engine-cli.ts`) provides it for Podman and Docker.
 */
export interface ContainerEngine {
  /** Every container (running or not) labelled with the compose project. */
  listProjectContainers(project: string): Promise<ContainerState[]>;
  /** The local image id for a reference, or undefined when it is not present. */
  imageId(reference: string): Promise<string | undefined>;
  /** Points `reference` at a local image id again (a rollback to the image that ran before). */
  tag(imageId: string, reference: string): Promise<void>;
  /** Runs a command in a running container; resolves to its exit code (never throws on a non-zero exit). */
  execIn(containerId: string, argv: readonly string[], timeoutMs: number): Promise<{ exitCode: number; output: string }>;
  /** The last lines a container wrote; empty when they cannot be read. */
  logsTail(containerId: string, lines: number): Promise<string>;
}
