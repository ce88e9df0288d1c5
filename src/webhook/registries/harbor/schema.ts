import { z } from 'zod';

/** Harbor's webhook: the event type, and the artifacts it concerns with their full references. */
export const eventSchema = z.looseObject({
  type: z.string(),
  event_data: z.looseObject({ resources: z.array(z.looseObject({ resource_url: z.string().optional(), tag: z.string().optional() })).optional() }).optional(),
});
