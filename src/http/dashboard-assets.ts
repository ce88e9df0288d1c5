import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Where the dashboard's files sit: beside this module, in src/ and (copied by the build) in dist/. */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('./dashboard/', import.meta.url));

/**
 * Serves the dashboard: `/` is its page, `/assets/<file>` its scripts and styles. The files are
 * read once at start-up; only names found then are served, so no request path reaches the disk.
 */
export function registerDashboard(app: FastifyInstance, dir: string = DEFAULT_DASHBOARD_DIR): void {
  const security = {
    // The page loads only its own scripts and talks only to this server.
    'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
  const files = new Map<string, { body: Buffer; type: string; etag: string }>();
  if (existsSync(dir)) {
    for (const name of readdirSync(dir)) {
      const type = CONTENT_TYPES[path.extname(name)];
      if (!type) continue;
      const body = readFileSync(path.join(dir, name));
      files.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` });
    }
  }
  /** Revalidated on every load (a new server version must not meet old scripts), answered 304 when unchanged. */
  const send = (request: FastifyRequest, reply: FastifyReply, file: { body: Buffer; type: string; etag: string }) => {
    void reply.headers({ ...security, 'content-type': file.type, 'cache-control': 'no-cache', etag: file.etag });
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
    return reply.send(file.body);
  };

  app.get('/', async (request, reply) => {
    const page = files.get('index.html');
    if (!page) throw new AppError('ROUTE_NOT_FOUND', 'The dashboard files are missing from this build');
    return send(request, reply, page);
  });

  app.get<{ Params: { file: string } }>('/assets/:file', async (request, reply) => {
    const file = files.get(request.params.file);
    if (!file || request.params.file === 'index.html') throw new AppError('ROUTE_NOT_FOUND', `No dashboard asset ${request.params.file}`);
    return send(request, reply, file);
  });
}
