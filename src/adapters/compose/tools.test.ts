import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COMPOSE_GO, PODMAN_ENV_FILE, PYTHON_DOTENV, PYTHON_DOTENV_BOM } from '../../domain/dotenv.js';
import { AppError } from '../../errors.js';
import type { ProcessRunner } from '../process-runner.js';
import { dockerComposeTool, podmanCompose } from './tools.js';

const runner = (pluginPresent: boolean): ProcessRunner & { calls: string[][] } => {
  const calls: string[][] = [];
  const run = (async (request) => {
    calls.push([request.command, ...request.args]);
    if (!pluginPresent) throw new AppError('PROCESS_FAILED', 'docker: unknown command: compose');
    return { exitCode: 0, stdout: 'Docker Compose version v2.29.0', stderr: '', output: '' };
  }) as ProcessRunner & { calls: string[][] };
  run.calls = calls;
  return run;
};

test('auto picks `docker compose` where the plugin answers, once', async () => {
  const run = runner(true);
  const tool = dockerComposeTool({ preference: 'auto', run });
  const first = await tool();
  await tool();
  assert.equal(first.name, 'docker compose');
  assert.deepEqual(first.up('proj', ['docker-compose.yml', '/data/o.yml']), {
    command: 'docker',
    args: ['compose', '-p', 'proj', '-f', 'docker-compose.yml', '-f', '/data/o.yml', 'up', '-d', '--remove-orphans'],
  });
  assert.equal(run.calls.length, 1, 'detected once');
});

test('auto falls back to docker-compose where there is no plugin', async () => {
  const tool = await dockerComposeTool({ preference: 'auto', run: runner(false) })();
  assert.equal(tool.name, 'docker-compose');
  assert.equal(tool.up('p', ['f.yml']).command, 'docker-compose');
  assert.equal(tool.recreatesChanged, true);
});

test('an explicit preference is used without probing', async () => {
  const run = runner(false);
  assert.equal((await dockerComposeTool({ preference: 'plugin', run })()).name, 'docker compose');
  assert.equal(run.calls.length, 0);
});

test('podman-compose gets every compose file and is known not to recreate by itself', () => {
  assert.deepEqual(podmanCompose.up('proj', ['podman-compose.yml', '/o.yml']).args, ['-p', 'proj', '-f', 'podman-compose.yml', '-f', '/o.yml', 'up', '-d']);
  assert.equal(podmanCompose.recreatesChanged, false);
  assert.equal(podmanCompose.envFileWins, true);
});

test('each tool names the .env rules it really uses', async () => {
  assert.deepEqual(podmanCompose.dotenv, { interpolation: PYTHON_DOTENV, envFile: PODMAN_ENV_FILE });
  const standalone = await dockerComposeTool({ preference: 'standalone', run: runner(false) })();
  assert.deepEqual(standalone.dotenv, { interpolation: PYTHON_DOTENV_BOM, envFile: PYTHON_DOTENV_BOM, unsetInterpolatesAs: 'None' });
  const plugin = await dockerComposeTool({ preference: 'plugin', run: runner(true) })();
  assert.deepEqual(plugin.dotenv, { interpolation: COMPOSE_GO, envFile: COMPOSE_GO });
});
