import { readFileSync } from 'node:fs';

/**
 * The package version, from the package.json beside src/ or dist/. A module of its own so that
 * client commands print `--version` without loading the server (fastify, SQLite).
 */
export function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'gitops-deploy-server' && pkg.version) return pkg.version;
  } catch {
    // not found: a packaging problem, reported as an unknown version rather than a crash
  }
  return 'unknown';
}
