import { z } from 'zod';

/** Docker Hub's webhook callback: the pushed tag and the repository (`namespace/name`). */
export const callbackSchema = z.looseObject({
  push_data: z.looseObject({ tag: z.string().min(1) }),
  repository: z.looseObject({ repo_name: z.string().min(1) }),
});
