import { AppError } from '../../../errors.js';
import { readJsonObject } from '../../providers/common.js';
import { callbackSchema } from './schema.js';

/** The image a Docker Hub push callback announces: `docker.io/<repo_name>:<tag>`. */
export function readDockerHubCallback(body: Uint8Array): string[] {
  const parsed = callbackSchema.safeParse(readJsonObject(body));
  if (!parsed.success) throw new AppError('INVALID_JSON', 'The Docker Hub callback has no push_data.tag or repository.repo_name');
  return [`docker.io/${parsed.data.repository.repo_name}:${parsed.data.push_data.tag}`];
}
