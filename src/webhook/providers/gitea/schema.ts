import { z } from 'zod';

/** Gitea's push payload (Forgejo and Gogs send the same shape): the ref is all the server reads. */
export const pushSchema = z.looseObject({ ref: z.string() });

/** Gitea's package event: a container package's name, version and owner, and where it lives. */
export const packageSchema = z.looseObject({
  action: z.string(),
  package: z.looseObject({
    type: z.string(),
    name: z.string(),
    version: z.string(),
    owner: z.looseObject({ login: z.string() }),
    html_url: z.string().optional(),
  }),
});
