import { readFileSync } from 'node:fs';

/**
 * The package version, read from package.json next to src/ or dist/. Kept here rather than
 * imported from ../main.js so that client commands do not load the whole server (fastify,
 * SQLite) just to print `--version`.
 */
export function cliVersion(): string {
  for (const relative of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'gitops-deploy-server' && pkg.version) return pkg.version;
    } catch {
      // try the next location
    }
  }
  return 'unknown';
}
