import assert from 'node:assert/strict';
import { test } from 'node:test';
import { composeEnvironment, fromServerEnvironment, referencedNames, secretValues } from './secret-values.js';

test('untracked env files are secret as a whole; tracked ones only under secret-looking keys', () => {
  const secrets = secretValues({
    envFiles: [
      { tracked: true, values: { POSTGRES_DB: 'postgres', DATA_DIR: './data', PROJECT: 'myproj', WORKERS: '30', API_TOKEN: 'abc', UNSET: undefined } },
      { tracked: false, values: { SESSION_VALUE: 'from-the-secrets-dir', DEBUG: '1' } },
    ],
    environment: [],
    fromServer: [],
  });
  assert.deepEqual(secrets.sort(), ['1', 'abc', 'from-the-secrets-dir']);
});

test('compose environment entries under secret keys, and URL passwords under any key', () => {
  const secrets = secretValues({
    envFiles: [{ tracked: true, values: { DATABASE_URL: 'postgres://app:hunter2@db:5432/app', PLAIN_URL: 'https://example.com/a:b@c' } }],
    environment: [['POSTGRES_PASSWORD', 'pw'], ['POSTGRES_USER', 'app'], ['EMPTY_TOKEN', ''], ['UNSET_SECRET', undefined]],
    fromServer: [],
  });
  assert.deepEqual(secrets.sort(), ['hunter2', 'pw']);
});

test('values interpolation took from the server environment are secret, whatever their key', () => {
  assert.deepEqual(secretValues({ envFiles: [], environment: [], fromServer: ['server-value', ''] }), ['server-value']);
});

test('compose environment: lists, mappings, bare keys, interpolation', () => {
  const document = {
    services: {
      app: { environment: ['API_TOKEN=${TOKEN}', 'BARE_PASSWORD', 'PLAIN=x'] },
      db: { environment: { POSTGRES_PASSWORD: '${PW:-fallback}', NUMBER: 5, NULLED_SECRET: null } },
      other: null,
    },
  };
  const variables = { TOKEN: 't0k', BARE_PASSWORD: 'bare', NULLED_SECRET: 'nulled' };
  assert.deepEqual(composeEnvironment(document, variables), [
    ['API_TOKEN', 't0k'],
    ['BARE_PASSWORD', 'bare'],
    ['PLAIN', 'x'],
    ['POSTGRES_PASSWORD', 'fallback'],
    ['NUMBER', '5'],
    ['NULLED_SECRET', 'nulled'],
  ]);
  assert.deepEqual(composeEnvironment(null, {}), []);
});

test('referenced names: braced, bare, with defaults; $$ is a literal dollar', () => {
  assert.deepEqual([...referencedNames('a ${ONE} $TWO ${THREE:-x} ${FOUR-y} $$NOT $$ ${ bad}')].sort(), ['FOUR', 'ONE', 'THREE', 'TWO']);
});

test('from the server environment: only names the files refer to, and only where the environment\'s value is used', () => {
  const environment = { FROM_SERVER: 'srv-secret', PATH: '/usr/bin', LOST: 'env-lost', IN_DOTENV: 'env-value' };
  assert.deepEqual(
    fromServerEnvironment({
      composeText: 'image: x\nenvironment:\n  A: ${FROM_SERVER}\n  B: ${LOST}\n  C: ${NOT_SET}\n',
      envFileTexts: ['DB_URL=postgres://u:${IN_DOTENV}@db/x\n'],
      environment,
      // LOST: a .env key won over the environment (podman-compose 1.0.3): the environment's value is not used.
      variables: { FROM_SERVER: 'srv-secret', LOST: 'from-dotenv', PATH: '/usr/bin' },
    }).sort(),
    ['env-value', 'srv-secret'],
  );
});
