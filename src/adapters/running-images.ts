import type { RuntimeKind, ServiceSource } from '../domain/types.js';
import type { RunningImage } from '../deploy/image-poller.js';
import { readComposeModel } from './compose/compose-file.js';
import type { EngineCli } from './engine-cli.js';
import { stackServiceKey } from '../domain/swarm-converge.js';
import type { SwarmCli } from './swarm/swarm-cli.js';

/**
 * What an opted-in service runs now, for the image poller: each compose service's image
 * reference (interpolated as a deployment reads it) with the registry digests of the image its
 * container runs, read from the service's engine. A compose service without a container yet
 * (never deployed) is left out: the next deployment pulls it anyway.
 */
export function createRunningImages(deps: {
  engines: Record<RuntimeKind, Pick<EngineCli, 'listProjectContainers' | 'repoDigests'>>;
  processEnv: Record<string, string | undefined>;
  /** Swarm stacks: a service's running image is the digest its spec pins, read from the manager. */
  swarm?: Pick<SwarmCli, 'services'>;
}): (service: ServiceSource) => Promise<RunningImage[]> {
  return async (service) => {
    const engine = deps.engines[service.runtime];
    const model = await readComposeModel(service, deps.processEnv);
    if (service.runtime === 'swarm') {
      if (!deps.swarm) return [];
      const specs = new Map((await deps.swarm.services(service.projectName)).map((s) => [stackServiceKey(service.projectName, s.Spec.Name), s.Spec.TaskTemplate?.ContainerSpec?.['Image']] as const));
      return model.services.flatMap((s) => {
        const pinned = specs.get(s.name);
        return s.image !== undefined && typeof pinned === 'string' && pinned.includes('@') ? [{ reference: s.image, repoDigests: [pinned] }] : [];
      });
    }
    const containers = await engine.listProjectContainers(service.projectName);
    const images: RunningImage[] = [];
    for (const composeService of model.services) {
      if (composeService.image === undefined) continue;
      const container = containers.find((c) => c.service === composeService.name);
      if (!container) continue;
      images.push({ reference: composeService.image, repoDigests: await engine.repoDigests(container.imageId) });
    }
    return images;
  };
}
