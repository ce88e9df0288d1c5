// The server's `.env` dialects against the real installed tools: a tricky `.env` (one variable
// per rule), a compose file interpolating each, the tool's own view of the result, and ours
// (readComposeModel with the tool's dialect), compared variable by variable. A tool that is
// missing skips locally and fails under CI=true; Compose v2 is the binary scripts/install-system-deps.sh extracts from trixie.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { parse } from 'yaml';
import { readComposeModel } from '../../src/adapters/compose/compose-file.js';
import { dockerComposeTool, podmanCompose } from '../../src/adapters/compose/tools.js';
import type { ComposeTool } from '../../src/adapters/compose/compose-runtime.js';
import { PODMAN_ENV_FILE } from '../../src/domain/dotenv.js';
import { interpolate } from '../../src/domain/interpolate.js';
import type { ServiceSource } from '../../src/domain/types.js';
import { sh, uid } from './harness.js';

/** One variable per rule; keys A..N. */
const DOTENV = [
  'export A=exported', // export
  "B='single # kept \\n'", // single quotes: # and backslashes literal
  'C="double # kept" # trailing comment', // double quotes keep #, comment after
  'D=inline   # comment', // inline comment after spaces
  'E=a#b', // # without a space before it
  'F="q\\"q b\\\\s n\\nl"', // escapes in double quotes
  'G="multi\nline"', // multi-line quoted value
  'H', // key without =
  'I=', // blank value
  'J   =   spaced   ', // whitespace around = and after the value
  'K=crlf\r', // CRLF line end
  'L=tab\t# comment', // tab before #
  'M=${FROM_ENV}-${A}', // references inside values
  "N='it\\'s'", // escaped single quote
].join('\n') + '\n';
const KEYS = 'ABCDEFGHIJKLMN'.split('');
const COMPOSE = `services:
  s:
    image: "busybox:\${A}"
    environment:
${KEYS.map((k) => `      X_${k}: "[\${${k}}]"`).join('\n')}
`;

/** The tool's environment: ours, without stray A..N, with one variable the .env refers to. */
const ENV: Record<string, string | undefined> = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !KEYS.includes(k))), FROM_ENV: 'env-value' };
for (const k of KEYS) ENV[k] = undefined;

function available(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

/** Like requireEngines: a missing tool skips locally and fails under CI=true. */
function requireTool(t: TestContext, command: string, args: string[]): boolean {
  if (available(command, args)) return true;
  if (process.env['CI']) throw new Error(`CI=true but ${command} is not installed`);
  t.skip(`${command} is not installed`);
  return false;
}

function project(t: TestContext): ServiceSource {
  const dir = mkdtempSync(path.join(tmpdir(), 'gds-dotenv-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, '.env'), DOTENV);
  writeFileSync(path.join(dir, 'compose.yaml'), COMPOSE);
  return { name: 'dotenv', dir, composeFile: 'compose.yaml', runtime: 'docker', projectName: `dotenv-${uid()}`, files: {}, fingerprint: '', requiredEnvFiles: [], untrackedInputs: [] };
}

/** Our view: every X_k and the image, as readComposeModel resolves them with the tool's dialect. */
async function ours(service: ServiceSource, tool: Pick<ComposeTool, 'envFileWins' | 'dotenv'>): Promise<{ values: Record<string, string>; image: string | undefined }> {
  const model = await readComposeModel(service, ENV, { envFileWins: tool.envFileWins, dotenv: tool.dotenv });
  return { values: Object.fromEntries(KEYS.map((k) => [k, interpolate(`[\${${k}}]`, model.variables)])), image: model.services[0]!.image };
}

function assertSame(tool: string, theirs: Record<string, string>, mine: Record<string, string>): void {
  for (const k of KEYS) assert.equal(mine[k], theirs[k], `${tool}: variable ${k} (${JSON.stringify(DOTENV.split('\n')[KEYS.indexOf(k)])})`);
}

/** The ComposeTool the server uses for that preference (an explicit one never runs the probe). */
const configuredTool = (preference: 'plugin' | 'standalone') => dockerComposeTool({ preference, run: () => Promise.reject(new Error('not probed')) })();

const fromConfig = (text: string) => {
  const config = parse(text) as { services: { s: { image: string; environment: Record<string, string> } } };
  return { values: Object.fromEntries(KEYS.map((k) => [k, config.services.s.environment[`X_${k}`]!])), image: config.services.s.image };
};

test('docker-compose 1.29 interpolates .env as our python-dotenv dialect says', async (t) => {
  if (!requireTool(t, 'docker-compose', ['version'])) return;
  const service = project(t);
  const theirs = fromConfig(sh('docker-compose', ['-f', 'compose.yaml', 'config'], { cwd: service.dir, env: ENV }));
  const mine = await ours(service, await configuredTool('standalone'));
  assertSame('docker-compose', theirs.values, mine.values);
  assert.equal(mine.image, theirs.image);
});

test('podman-compose 1.0.3 interpolates .env as our python-dotenv dialect says', async (t) => {
  if (!requireTool(t, 'podman-compose', ['version'])) return;
  const service = project(t);
  // 1.0.3 has no `config`; --dry-run prints the `podman run` it would run (it still creates the network).
  t.after(() => void available('podman', ['network', 'rm', '-f', `${service.projectName}_default`]));
  const output = sh('podman-compose', ['--dry-run', '-p', service.projectName, '-f', 'compose.yaml', 'up', '-d'], { cwd: service.dir, env: ENV });
  const run = output.slice(output.indexOf('podman run '));
  const values: Record<string, string> = {};
  for (const piece of run.split(/ -e (?=X_[A-N]=)/).slice(1)) {
    const match = /^X_([A-N])=(\[[\s\S]*?\])(?: --|$)/.exec(piece);
    assert.ok(match, `cannot read ${JSON.stringify(piece)}`);
    values[match[1]!] = match[2]!;
  }
  const mine = await ours(service, podmanCompose);
  assertSame('podman-compose', values, mine.values);
  assert.match(run, new RegExp(` ${mine.image?.replace('.', '\\.')}\\s*$`), 'the image podman-compose runs');
});

test('podman --env-file (podman-compose 1.0.3 env_file) reads values as our dialect says', async (t) => {
  if (!requireTool(t, 'podman', ['--version'])) return;
  const service = project(t);
  const file = path.join(service.dir, 'app.env');
  writeFileSync(file, DOTENV.replace('H\n', 'FROM_ENV\n'));
  const printed = sh('podman', ['run', '--rm', '--env-file', file, 'localhost/busybox:test', 'env', '-0'], { env: ENV });
  const theirs = Object.fromEntries(printed.split('\0').filter(Boolean).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  const mine = PODMAN_ENV_FILE.parse(DOTENV.replace('H\n', 'FROM_ENV\n'), ENV);
  for (const [key, value] of Object.entries(mine)) assert.equal(theirs[key], value, `podman --env-file: ${JSON.stringify(key)}`);
  const shown = new Set(['PATH', 'HOSTNAME', 'HOME', 'TERM', 'container']);
  assert.deepEqual(Object.keys(theirs).filter((k) => !shown.has(k)).sort(), Object.keys(mine).sort());
});

/** Compose v2, extracted side by side by scripts/install-system-deps.sh (the system's docker-compose stays 1.29). */
const COMPOSE_V2 = process.env['GDS_COMPOSE_V2'] ?? '/opt/gds-tools/compose-v2/usr/libexec/docker/cli-plugins/docker-compose';

test('docker compose v2 interpolates .env as our compose-go dialect says', async (t) => {
  if (!requireTool(t, COMPOSE_V2, ['version'])) return;
  const service = project(t);
  const theirs = fromConfig(sh(COMPOSE_V2, ['-f', 'compose.yaml', 'config'], { cwd: service.dir, env: ENV }));
  const mine = await ours(service, await configuredTool('plugin'));
  assertSame('docker compose', theirs.values, mine.values);
  assert.equal(mine.image, theirs.image);
});
