import { z } from 'zod';

/** The parts of GitHub's push payload the server reads. */
export const pushSchema = z.looseObject({ ref: z.string().optional() });

/** `package` and `registry_package` events: the action, and where the published image lives. */
export const packageSchema = z.looseObject({
  action: z.string().optional(),
  package: z.unknown().optional(),
  registry_package: z.unknown().optional(),
});

export const packageDetailSchema = z.looseObject({
  name: z.string().optional(),
  namespace: z.string().optional(),
  owner: z.looseObject({ login: z.string().optional() }).optional(),
  package_type: z.string().optional(),
  package_version: z
    .looseObject({
      package_url: z.string().optional(),
      container_metadata: z
        .looseObject({
          tag: z.looseObject({ name: z.string().optional() }).optional(),
          labels: z.looseObject({ image_url: z.string().optional() }).optional(),
        })
        .optional(),
    })
    .optional(),
});
