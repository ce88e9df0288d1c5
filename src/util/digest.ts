import { createHash } from 'node:crypto';

/** sha256 hex digest of a text: the hash the domain's pure functions are given. */
export function sha256hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
