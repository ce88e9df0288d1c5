import { AppError } from '../../../errors.js';
import { readJsonObject } from '../../providers/common.js';
import { eventSchema } from './schema.js';

/** A Harbor event: PUSH_ARTIFACT names the pushed images in `resource_url`; other types name none. */
export function readHarborEvent(body: Uint8Array): { type: string; images: string[] } {
  const parsed = eventSchema.safeParse(readJsonObject(body));
  if (!parsed.success) throw new AppError('INVALID_JSON', 'The Harbor event has no type');
  if (parsed.data.type !== 'PUSH_ARTIFACT') return { type: parsed.data.type, images: [] };
  const images = (parsed.data.event_data?.resources ?? []).map((r) => r.resource_url).filter((url): url is string => typeof url === 'string' && url !== '');
  return { type: parsed.data.type, images };
}
