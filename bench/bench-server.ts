// The real server for benchmarks: in this process, real HTTP on a free port, over a real
// environment repository, SQLite in a temporary data directory, logs off. The runtime registry
// is the benchmark's own (usually a fake: the figures are about the server, not the engines).
// Logs are off unless the benchmark passes its own logger.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { loadConfig } from '../src/config.js';
import { startServer, type RunningServer } from '../src/main.js';
import type { RuntimeRegistry } from '../src/ports/runtime.js';
import { EnvRepo } from '../test/e2e/harness.js';

/** `svc-0000` ... : sorted names, so pages and filters are predictable. */
export const benchServiceName = (i: number): string => `svc-${String(i).padStart(4, '0')}`;

/** An environment repository with `count` small Podman services, each with its own `.env`, pushed. */
export function repoWithServices(count: number): EnvRepo {
  const env = new EnvRepo();
  for (let i = 0; i < count; i++) {
    env.write(`services/${benchServiceName(i)}/podman-compose.yml`, 'services:\n  app:\n    image: localhost/busybox:test\n    command: ["sleep", "3600"]\n    environment:\n      MODE: ${MODE}\n');
    env.write(`services/${benchServiceName(i)}/.env`, `MODE=${i}\n`);
  }
  env.push(`${count} services`);
  return env;
}

export async function startBenchServer(options: {
  env: EnvRepo;
  runtimes: RuntimeRegistry;
  webhookSecret: string;
  apiToken?: string;
  /** The server's logger; off unless a benchmark measures what logging costs. */
  logger?: Logger;
  /** Further settings (e.g. WEBHOOK_AUTH_FAILURES_PER_MINUTE). */
  settings?: Record<string, string>;
}): Promise<{ server: RunningServer; dispose(): Promise<void> }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gds-bench-'));
  const server = await startServer(
    loadConfig({
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      ENV_REPO_PATH: options.env.checkout,
      WEBHOOK_SECRET: options.webhookSecret,
      ...(options.apiToken ? { API_TOKEN: options.apiToken } : {}),
      LOG_LEVEL: 'silent',
      ...options.settings,
    }),
    { logger: options.logger ?? pino({ level: 'silent' }), runtimes: options.runtimes },
  );
  return {
    server,
    async dispose() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
