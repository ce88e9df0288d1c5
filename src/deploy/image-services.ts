import type { Logger } from 'pino';
import { normaliseImageReference } from '../domain/image-reference.js';
import type { ServiceSource } from '../domain/types.js';

/**
 * Which services run a published image, for registry webhooks that name the image rather than
 * the service. Each service's compose file is read the way its deployment reads it (`.env`
 * interpolation), so `image: ${REGISTRY}/app:${TAG}` matches what it resolves to; a service
 * that cannot be read, or pins its image by digest, matches nothing.
 */
export function createImageServices(deps: {
  /** The services of the checkout (the views' snapshot: no hashing per request). */
  services: () => Promise<ServiceSource[]>;
  /** The image references a service's compose file names, interpolated. */
  imagesOf: (service: ServiceSource) => Promise<(string | undefined)[]>;
  logger: Logger;
}): { servicesForImage(reference: string): Promise<string[]> } {
  return {
    async servicesForImage(reference) {
      const wanted = normaliseImageReference(reference);
      if (wanted === null) return [];
      const matched: string[] = [];
      for (const service of await deps.services()) {
        if (service.problem) continue;
        let images: (string | undefined)[];
        try {
          images = await deps.imagesOf(service);
        } catch (error) {
          deps.logger.warn({ service: service.name, err: error }, 'image match: the compose file cannot be read; the service is left out');
          continue;
        }
        if (images.some((image) => image !== undefined && normaliseImageReference(image) === wanted)) matched.push(service.name);
      }
      return matched.sort();
    },
  };
}
