import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ProcessRunner } from '../adapters/process-runner.js';

/** The image the example services run; `scripts/build-example-image.sh` builds it from busybox-static. */
export const EXAMPLE_IMAGE = 'localhost/busybox:example';

const HELLO_COMPOSE = `# A tiny web server: edit www/index.html or .env, push, and trigger a deploy.
services:
  web:
    image: ${EXAMPLE_IMAGE}
    command: ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]
    ports:
      - "18080:8080"
    environment:
      GREETING: \${GREETING}
    env_file:
      - ../../secrets/hello.env
    volumes:
      - ./www:/www:ro
`;

const WORKER_COMPOSE = `services:
  worker:
    image: ${EXAMPLE_IMAGE}
    command: ["sh", "-c", "while true; do echo \\"tick $$INTERVAL\\"; sleep $$INTERVAL; done"]
    environment:
      INTERVAL: "30"
`;

const FILES: Record<string, string> = {
  '.gitignore': 'secrets/\n',
  'README.md': '# Example environment repository\n\nOne directory per service under `services/`. Secrets go in `secrets/` (git-ignored).\n',
  'services/hello/podman-compose.yml': HELLO_COMPOSE,
  'services/hello/.env': 'GREETING=hello from gitops-deploy-server\n',
  'services/hello/www/index.html': '<h1>It works</h1>\n<p>Deployed by gitops-deploy-server.</p>\n',
  'services/worker/podman-compose.yml': WORKER_COMPOSE,
};

/**
 * Creates the example environment repository under `baseDir` once: a bare remote (what an
 * operator clones and pushes to) and the server's checkout of it, plus an ignored secret file.
 * Returns the remote's path. An existing example is left as it is.
 */
export async function ensureExampleRepository(options: { baseDir: string; checkoutPath: string; run: ProcessRunner }): Promise<{ remotePath: string; created: boolean }> {
  const remotePath = path.join(options.baseDir, 'remote.git');
  const checkout = options.checkoutPath;
  if (existsSync(path.join(checkout, '.git'))) return { remotePath, created: false };
  const git = (cwd: string, ...args: string[]) =>
    options.run({
      command: 'git',
      args: ['-c', 'user.name=gitops-deploy-server', '-c', 'user.email=gitops-deploy-server@localhost', ...args],
      cwd,
      timeoutMs: 30_000,
    });
  mkdirSync(options.baseDir, { recursive: true });
  await git(options.baseDir, 'init', '--quiet', '--bare', '-b', 'main', remotePath);
  mkdirSync(checkout, { recursive: true });
  await git(checkout, 'init', '--quiet', '-b', 'main');
  for (const [file, text] of Object.entries(FILES)) {
    mkdirSync(path.dirname(path.join(checkout, file)), { recursive: true });
    writeFileSync(path.join(checkout, file), text);
  }
  mkdirSync(path.join(checkout, 'secrets'), { recursive: true });
  writeFileSync(path.join(checkout, 'secrets', 'hello.env'), 'API_KEY=example-not-a-real-secret\n', { mode: 0o600 });
  await git(checkout, 'add', '--all');
  await git(checkout, 'commit', '--quiet', '-m', 'Example environment repository');
  await git(checkout, 'remote', 'add', 'origin', remotePath);
  await git(checkout, 'push', '--quiet', '-u', 'origin', 'main');
  return { remotePath, created: true };
}
