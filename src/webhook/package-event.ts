import { z } from 'zod';
import { AppError } from '../errors.js';

/**
 * A registry's "package published" event. GitHub's `package` / `registry_package` webhooks
 * carry `"action": "published"`; the old server's CI sends an empty body. Only `action`
 * decides anything, so the rest of the payload is accepted as it comes.
 */
const packageEventSchema = z.looseObject({ action: z.string().optional() });

export type PackageEventVerdict = { trigger: true } | { trigger: false; note: string };

export function readPackageEvent(body: Uint8Array): PackageEventVerdict {
  const text = Buffer.from(body).toString('utf8').trim();
  if (text === '') return { trigger: true };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AppError('INVALID_JSON');
  }
  const parsed = packageEventSchema.safeParse(json);
  if (!parsed.success) throw new AppError('INVALID_JSON', 'The request body must be a JSON object');
  const action = parsed.data.action;
  if (action === undefined || action === 'published') return { trigger: true };
  return { trigger: false, note: `ignored: action is "${action.slice(0, 64)}", only "published" triggers an update` };
}
