import type { RuntimeKind, ServiceSource } from '../domain/types.js';
import { HELPER_LABEL, SERVER_LABEL } from '../domain/server-labels.js';
import type { SelfUpdater, ServerInstance } from '../ports/self-updater.js';
import type { EngineCli } from './engine-cli.js';

/**
 * Finds the server's container through its compose project's labels (never by reading its own
 * hostname or cgroup, which differ between Podman and Docker and break under user namespaces)
 * and starts helper containers with the engine CLI.
 */
export function createSelfUpdater(deps: {
  engines: Record<RuntimeKind, EngineCli>;
  /**
   * What the helper is told through its environment: the server's own non-secret settings
   * (data directory, repository path, engine socket, ...). Secrets are never passed: the helper
   * needs none, and `run` options are visible to anyone who can inspect the container.
   */
  helperEnv: Record<string, string>;
}): SelfUpdater {
  return {
    async findInstance(service: ServiceSource): Promise<ServerInstance | undefined> {
      const containers = await deps.engines[service.runtime].listProjectContainers(service.projectName);
      const server = containers.find((c) => c.state === 'running' && c.labels?.[SERVER_LABEL] === 'true');
      return server ? { containerId: server.id, imageId: server.imageId } : undefined;
    },

    async startHelper(instance: ServerInstance, deploymentId: string, runtime: RuntimeKind): Promise<string> {
      const name = `gds-self-update-${deploymentId.replace(/[^a-zA-Z0-9_.-]/g, '')}`.toLowerCase();
      const env = Object.entries(deps.helperEnv).flatMap(([key, value]) => ['--env', `${key}=${value}`]);
      await deps.engines[runtime].runDetached([
        '--rm',
        '--name',
        name,
        '--label',
        `${HELPER_LABEL}=${deploymentId}`,
        // The same mounts as the server: engine socket, repository, data directory.
        '--volumes-from',
        instance.containerId,
        // It talks to the engine through the socket only, and checks /health with exec.
        '--network',
        'none',
        ...env,
        instance.imageId,
        'self-update',
        '--deployment',
        deploymentId,
      ]);
      return name;
    },

    helperExists(name: string, runtime: RuntimeKind): Promise<boolean> {
      return deps.engines[runtime].containerExists(name);
    },
  };
}
