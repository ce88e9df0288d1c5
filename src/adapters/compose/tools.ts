import { COMPOSE_GO, PODMAN_ENV_FILE, PYTHON_DOTENV, PYTHON_DOTENV_BOM } from '../../domain/dotenv.js';
import type { ProcessRunner } from '../process-runner.js';
import type { ComposeTool } from './compose-runtime.js';

/**
 * podman-compose (Debian 12 ships 1.0.3). It reads `.env` with python-dotenv (`dotenv_values`)
 * but hands each `env_file` to `podman run --env-file`, which has rules of its own.
 */
export const podmanCompose: ComposeTool = {
  name: 'podman-compose',
  version: '1.0.3',
  up: (project, files) => ({ command: 'podman-compose', args: ['-p', project, ...files.flatMap((f) => ['-f', f]), 'up', '-d'] }),
  recreatesChanged: false,
  envFileWins: true,
  dotenv: { interpolation: PYTHON_DOTENV, envFile: PODMAN_ENV_FILE },
};

/** Docker Compose v2 reads `.env` and `env_file` with compose-go's dotenv parser. */
const dockerComposePlugin: ComposeTool = {
  name: 'docker compose',
  version: '2',
  up: (project, files) => ({ command: 'docker', args: ['compose', '-p', project, ...files.flatMap((f) => ['-f', f]), 'up', '-d', '--remove-orphans'] }),
  recreatesChanged: true,
  envFileWins: false,
  dotenv: { interpolation: COMPOSE_GO, envFile: COMPOSE_GO },
};

/**
 * docker-compose 1.29 reads `.env` and `env_file` with python-dotenv (BOM allowed); a `.env`
 * key without `=` interpolates as the text `None` unless the environment sets it.
 */
const dockerComposeStandalone: ComposeTool = {
  name: 'docker-compose',
  version: '1.29.2',
  up: (project, files) => ({ command: 'docker-compose', args: ['-p', project, ...files.flatMap((f) => ['-f', f]), 'up', '-d', '--remove-orphans'] }),
  recreatesChanged: true,
  envFileWins: false,
  dotenv: { interpolation: PYTHON_DOTENV_BOM, envFile: PYTHON_DOTENV_BOM, unsetInterpolatesAs: 'None' },
};

/**
 * Docker Compose v2 (`docker compose`) where the plugin exists, else the standalone
 * `docker-compose` (Debian 12 has only 1.29). Detected once, on first use.
 */
export function dockerComposeTool(options: { preference: 'auto' | 'plugin' | 'standalone'; run: ProcessRunner }): () => Promise<ComposeTool> {
  let detected: Promise<ComposeTool> | undefined;
  return () => {
    if (options.preference === 'plugin') return Promise.resolve(dockerComposePlugin);
    if (options.preference === 'standalone') return Promise.resolve(dockerComposeStandalone);
    detected ??= options
      .run({ command: 'docker', args: ['compose', 'version'], timeoutMs: 15_000 })
      .then(() => dockerComposePlugin)
      .catch(() => dockerComposeStandalone);
    return detected;
  };
}
