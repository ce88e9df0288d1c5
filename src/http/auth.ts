import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sha256hex } from '../util/digest.js';
import { AppError } from '../errors.js';

/**
 * A preHandler for the management API. With no token configured the API is off (never open);
 * otherwise the request must carry `Authorization: Bearer <token>`. Digests are compared so the
 * comparison takes the same time whatever the token's length.
 */
export function bearerAuth(token: string | undefined) {
  const expected = token === undefined ? undefined : Buffer.from(sha256hex(token), 'hex');
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (expected === undefined) throw new AppError('API_DISABLED');
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) {
      void reply.header('WWW-Authenticate', 'Bearer realm="gitops-deploy-server"');
      throw new AppError('API_TOKEN_MISSING');
    }
    const given = Buffer.from(sha256hex(match[1]!), 'hex');
    if (!timingSafeEqual(given, expected)) {
      request.log.warn('management API refused: wrong bearer token');
      void reply.header('WWW-Authenticate', 'Bearer realm="gitops-deploy-server", error="invalid_token"');
      throw new AppError('API_TOKEN_INVALID');
    }
  };
}
