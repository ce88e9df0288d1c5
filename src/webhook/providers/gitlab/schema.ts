import { z } from 'zod';

/** GitLab's push and tag push payloads: `object_kind` and the ref. */
export const pushSchema = z.looseObject({ object_kind: z.string().optional(), ref: z.string() });
