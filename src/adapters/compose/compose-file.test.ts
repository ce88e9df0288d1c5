import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { ServiceSource } from '../../domain/types.js';
import { isAppError } from '../../errors.js';
import { interpolationEnv, interpolationVariables, readComposeModel } from './compose-file.js';
import { dockerComposeTool, podmanCompose } from './tools.js';

function serviceWith(files: Record<string, string>): { service: ServiceSource; dispose: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'gds-compose-file-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const service: ServiceSource = { name: 'svc', dir, composeFile: 'compose.yaml', runtime: 'podman', projectName: 'svc', files: {}, fingerprint: '', requiredEnvFiles: [], untrackedInputs: [] };
  return { service, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

test('interpolation precedence, the same for every tool: podman-compose.env over .env over the environment', async (t) => {
  const { service, dispose } = serviceWith({
    'compose.yaml': 'services:\n  app:\n    image: busybox:${TAG}\n    ports: ["${HOST_PORT}:80"]\n',
    '.env': 'TAG=from-dotenv\nHOST_PORT=8080\nBARE\n',
    'podman-compose.env': 'HOST_PORT=8081\n',
  });
  t.after(dispose);
  for (const tool of [podmanCompose, await dockerComposeTool({ preference: 'standalone', run: async () => { throw new Error('not called'); } })()]) {
    const model = await readComposeModel(service, { TAG: 'from-env', HOST_PORT: '1', BARE: 'env-bare', PATH: '/bin' }, { dotenv: tool.dotenv, envFileWins: tool.envFileWins });
    assert.equal(model.services[0]!.image, 'busybox:from-dotenv', tool.name);
    assert.equal(model.variables['HOST_PORT'], '8081', tool.name);
    assert.equal(model.variables['BARE'], tool.envFileWins ? undefined : 'env-bare', `${tool.name}: a key without = in .env`);
    assert.deepEqual(model.interpolationFiles['podman-compose.env'], { HOST_PORT: '8081' });
    assert.equal(interpolationEnv(model.variables)['HOST_PORT'], '8081', 'what the tool gets in its environment');
  }
});

test('a key without = that the environment does not set: what the tool makes of it', () => {
  assert.deepEqual(interpolationVariables({}, [{ values: { K: undefined } }], 'None'), { K: 'None' });
  assert.deepEqual(interpolationVariables({ K: 'env' }, [{ values: { K: undefined } }], 'None'), { K: 'env' });
  assert.deepEqual(interpolationVariables({ K: 'env' }, [{ values: { K: undefined }, bareKeysUnset: true }]), { K: undefined }, 'podman-compose 1.0 .env');
  assert.deepEqual(interpolationVariables({}, [{ values: { K: undefined } }]), { K: undefined });
  assert.deepEqual(interpolationEnv({ K: undefined, L: 'x' }), { L: 'x' });
});

test('the image, interpolation variables and redacted values follow the tool\'s .env rules', async (t) => {
  const { service, dispose } = serviceWith({
    'compose.yaml': 'services:\n  app:\n    image: busybox:${TAG}\n    env_file: app.env\n',
    '.env': 'TAG=1.36   # pinned\nTOKEN="s3cret-value" # quoted\n',
    'app.env': 'API_KEY="quoted-key"\n',
  });
  t.after(dispose);
  for (const tool of [podmanCompose, await dockerComposeTool({ preference: 'standalone', run: async () => { throw new Error('not called'); } })()]) {
    const model = await readComposeModel(service, {}, { dotenv: tool.dotenv });
    assert.equal(model.services[0]!.image, 'busybox:1.36', tool.name);
    assert.equal(model.variables['TOKEN'], 's3cret-value', tool.name);
  }
  // podman --env-file keeps quotes: the container sees `"quoted-key"`, which is what must be redacted.
  assert.ok((await readComposeModel(service, {}, { dotenv: podmanCompose.dotenv })).secretValues.includes('"quoted-key"'));
});

test('an env file that became a FIFO fails the model with INPUT_FILE_INVALID instead of blocking', { timeout: 5_000 }, async (t) => {
  const { service, dispose } = serviceWith({ 'compose.yaml': 'services:\n  app:\n    image: busybox\n' });
  t.after(dispose);
  execFileSync('mkfifo', [path.join(service.dir, '.env')]);
  await assert.rejects(readComposeModel(service, {}), (error: unknown) => isAppError(error) && error.code === 'INPUT_FILE_INVALID' && /\.env is a FIFO/.test(error.message));
});

test('secret values: untracked env files, secret keys, server environment; ordinary tracked values stay readable', async (t) => {
  const { service: base, dispose } = serviceWith({
    'compose.yaml': [
      'services:',
      '  app:',
      '    image: busybox',
      '    env_file: secret.env',
      '    environment:',
      '      POSTGRES_DB: ${POSTGRES_DB}',
      '      FROM_ENV: ${FROM_SERVER}',
      '      DB_PASSWORD: ${DB_PW}',
      '    volumes:',
      '      - ${DATA_DIR}:/var/lib/postgresql/data',
      '',
    ].join('\n'),
    '.env': 'POSTGRES_DB=postgres\nDATA_DIR=./data\nAPI_TOKEN=abc\nDB_PW=plain-looking\nWORKERS=30\n',
    'secret.env': 'SESSION_VALUE=untracked-value\n',
  });
  t.after(dispose);
  const service = { ...base, untrackedInputs: ['secret.env'] };
  const model = await readComposeModel(service, { FROM_SERVER: 'server-value', UNUSED: 'never-referenced' });
  assert.deepEqual([...model.secretValues].sort(), ['abc', 'plain-looking', 'server-value', 'untracked-value']);
  // The same env file, tracked: only its secret-looking keys would count (none here).
  assert.ok(!(await readComposeModel(base, { FROM_SERVER: 'server-value' })).secretValues.includes('untracked-value'));
});
