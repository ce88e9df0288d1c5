import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COMPOSE_GO, PODMAN_ENV_FILE, PYTHON_DOTENV, PYTHON_DOTENV_BOM } from '../../domain/dotenv.js';
import { AppError } from '../../errors.js';
import type { ProcessRunner } from '../process-runner.js';
import { describeTool, dockerComposeTool, parseToolVersion, podmanCompose, podmanComposeTool, versionAtLeast } from './tools.js';

/** A fake runner answering version commands with what the real tools print (captured on Debian 12 / trixie). */
const runner = (answers: Record<string, string | Error>): ProcessRunner & { calls: string[][] } => {
  const calls: string[][] = [];
  const run = (async (request) => {
    const argv = [request.command, ...request.args];
    calls.push(argv);
    const answer = answers[argv.join(' ')];
    if (answer === undefined || answer instanceof Error) throw answer ?? new AppError('COMMAND_NOT_FOUND', `${request.command} not found`);
    return { exitCode: 0, stdout: answer, stderr: '', output: answer };
  }) as ProcessRunner & { calls: string[][] };
  run.calls = calls;
  return run;
};

const PLUGIN_V2 = { 'docker compose version --short': '2.26.1-4\n' };
const STANDALONE_129 = { 'docker-compose version --short': '1.29.2\n' };
const NO_PLUGIN = { 'docker compose version --short': new AppError('PROCESS_FAILED', "docker: 'compose' is not a docker command.") };
// podman-compose 1.0.3 prints its podman probe first, and spells itself "composer".
const PODMAN_COMPOSE_103 = "['podman', '--version', '']\nusing podman version: 4.3.1\npodman-composer version  1.0.3\npodman --version \npodman version 4.3.1\nexit code: 0\n";
const PODMAN_COMPOSE_130 = 'podman-compose version 1.3.0\npodman version 4.3.1\n';

test('versions are read from what each tool prints', () => {
  assert.equal(parseToolVersion(PODMAN_COMPOSE_103), '1.0.3');
  assert.equal(parseToolVersion(PODMAN_COMPOSE_130), '1.3.0');
  assert.equal(parseToolVersion('Docker Compose version v2.29.0'), '2.29.0');
  assert.equal(parseToolVersion('2.26.1-4'), '2.26.1-4');
  assert.equal(parseToolVersion('no version here'), undefined);
  assert.ok(versionAtLeast('1.3.0', 1, 1) && !versionAtLeast('1.0.3', 1, 1) && versionAtLeast('2.26.1-4', 2, 0) && !versionAtLeast('unknown', 1, 0));
});

test('auto picks `docker compose` where the plugin answers, once, with its version', async () => {
  const run = runner(PLUGIN_V2);
  const tool = dockerComposeTool({ preference: 'auto', run });
  const first = await tool();
  await tool();
  assert.equal(describeTool(first), 'docker compose 2.26.1-4');
  assert.deepEqual(first.up('proj', ['docker-compose.yml', '/data/o.yml']), {
    command: 'docker',
    args: ['compose', '-p', 'proj', '-f', 'docker-compose.yml', '-f', '/data/o.yml', 'up', '-d', '--remove-orphans'],
  });
  assert.equal(run.calls.length, 1, 'detected once');
});

test('auto falls back to docker-compose 1.29 where there is no plugin', async () => {
  const tool = await dockerComposeTool({ preference: 'auto', run: runner({ ...NO_PLUGIN, ...STANDALONE_129 }) })();
  assert.equal(describeTool(tool), 'docker-compose 1.29.2');
  assert.equal(tool.up('p', ['f.yml']).command, 'docker-compose');
  assert.equal(tool.recreatesChanged, true);
  assert.deepEqual(tool.dotenv, { interpolation: PYTHON_DOTENV_BOM, envFile: PYTHON_DOTENV_BOM, unsetInterpolatesAs: 'None' });
});

test('an explicit preference probes only its own command', async () => {
  const run = runner({ ...PLUGIN_V2, ...STANDALONE_129 });
  assert.equal(describeTool(await dockerComposeTool({ preference: 'plugin', run })()), 'docker compose 2.26.1-4');
  assert.deepEqual(run.calls, [['docker', 'compose', 'version', '--short']]);
  const standalone = runner({ ...PLUGIN_V2, ...STANDALONE_129 });
  assert.equal(describeTool(await dockerComposeTool({ preference: 'standalone', run: standalone })()), 'docker-compose 1.29.2');
  assert.deepEqual(standalone.calls, [['docker-compose', 'version', '--short']]);
});

test('DOCKER_COMPOSE_COMMAND pointing at Compose v2 gets the v2 rules under the standalone name', async () => {
  const command = '/opt/gds-tools/compose-v2/usr/libexec/docker/cli-plugins/docker-compose';
  const tool = await dockerComposeTool({ preference: 'standalone', standaloneCommand: command, run: runner({ [`${command} version --short`]: '2.26.1-4' }) })();
  assert.equal(describeTool(tool), 'docker-compose 2.26.1-4');
  assert.deepEqual(tool.dotenv, { interpolation: COMPOSE_GO, envFile: COMPOSE_GO });
  assert.deepEqual(tool.up('p', ['f.yml']), { command, args: ['-p', 'p', '-f', 'f.yml', 'up', '-d', '--remove-orphans'] });
});

test('podman-compose 1.0.3: every file, no service list, .env beats the environment, env_file through podman', async () => {
  const tool = await podmanComposeTool({ run: runner({ 'podman-compose version': PODMAN_COMPOSE_103 }) })();
  assert.equal(describeTool(tool), 'podman-compose 1.0.3');
  assert.deepEqual(tool.up('proj', ['podman-compose.yml', '/o.yml'], ['web']).args, ['-p', 'proj', '-f', 'podman-compose.yml', '-f', '/o.yml', 'up', '-d']);
  assert.equal(tool.recreatesChanged, false);
  assert.equal(tool.upNamesServices, false);
  assert.equal(tool.envFileWins, true);
  assert.deepEqual(tool.dotenv, { interpolation: PYTHON_DOTENV, envFile: PODMAN_ENV_FILE });
  assert.deepEqual(podmanCompose, { ...tool, up: podmanCompose.up }, 'the exported constant is the Debian 12 generation');
});

test('podman-compose 1.3.0 (measured): the environment beats .env, env_file via python-dotenv, up names the services to create', async () => {
  const command = '/opt/gds-tools/podman-compose-1.3/bin/podman-compose';
  const tool = await podmanComposeTool({ command, run: runner({ [`${command} version`]: PODMAN_COMPOSE_130 }) })();
  assert.equal(describeTool(tool), 'podman-compose 1.3.0');
  assert.deepEqual(tool.up('proj', ['podman-compose.yml'], ['web']), { command, args: ['-p', 'proj', '-f', 'podman-compose.yml', 'up', '-d', 'web'] });
  assert.equal(tool.recreatesChanged, false, 'its up recreates the whole project, so the server still removes the changed containers');
  assert.equal(tool.upNamesServices, true);
  assert.equal(tool.envFileWins, false);
  assert.deepEqual(tool.dotenv, { interpolation: PYTHON_DOTENV, envFile: PYTHON_DOTENV });
});

test('a failed version probe is not remembered: unknown now, detected on the next call', async () => {
  const answers: Record<string, string | Error> = {};
  const run = runner(answers);
  const tool = podmanComposeTool({ run });
  const before = await tool();
  assert.equal(describeTool(before), 'podman-compose unknown');
  assert.equal(before.envFileWins, true, 'an unknown podman-compose is taken for Debian 12 1.0.3');
  answers['podman-compose version'] = PODMAN_COMPOSE_130;
  assert.equal(describeTool(await tool()), 'podman-compose 1.3.0');
  await tool();
  assert.equal(run.calls.length, 2);
});
