import { z } from 'zod';

/** Bitbucket Cloud's `repo:push`: each change's new head, a branch or a tag (null when deleted). */
export const pushSchema = z.looseObject({
  push: z.looseObject({
    changes: z.array(z.looseObject({ new: z.looseObject({ type: z.string(), name: z.string() }).nullable().optional() })),
  }),
});
