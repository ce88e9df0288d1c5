import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contentAddressedName, digestOf, isContentAddressedName, renderStack, stackObjectFiles, withoutDigest } from './swarm-stack.js';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

const document = {
  'x-gitops': { settle: 2 },
  services: {
    web: { image: 'reg:5000/web:1', configs: [{ source: 'web_conf', target: '/web.conf' }], secrets: ['token'] },
    worker: { image: 'reg:5000/worker:1', deploy: { update_config: { failure_action: 'pause', monitor: '3s' } } },
  },
  configs: { web_conf: { file: './web.conf' }, external_one: { external: true }, named: { name: 'fixed', file: 'named.conf' } },
  secrets: { token: { file: '../../secrets/token' } },
};

const input = { stack: 'app', dir: '/repo/services/app', digests: { 'web.conf': SHA_A, 'named.conf': SHA_B, '../../secrets/token': SHA_B }, runningImages: {}, rollback: true };

test('configs and secrets from files get content-addressed names and absolute paths; external and named ones are kept', () => {
  const { document: rendered, objectNames, services } = renderStack(document, input);
  const configs = rendered['configs'] as Record<string, Record<string, unknown>>;
  assert.deepEqual(configs['web_conf'], { file: '/repo/services/app/web.conf', name: `app_web_conf_${SHA_A.slice(0, 12)}` });
  assert.deepEqual(configs['external_one'], { external: true });
  assert.deepEqual(configs['named'], { name: 'fixed', file: '/repo/services/app/named.conf' });
  assert.deepEqual((rendered['secrets'] as Record<string, unknown>)['token'], { file: '/repo/secrets/token', name: `app_token_${SHA_B.slice(0, 12)}` });
  assert.deepEqual(objectNames, [`app_token_${SHA_B.slice(0, 12)}`, `app_web_conf_${SHA_A.slice(0, 12)}`, 'fixed'].sort());
  assert.deepEqual(services, ['web', 'worker']);
  assert.equal(rendered['x-gitops'], undefined, 'the server settings are not handed to docker');
  assert.equal((document.configs.web_conf as Record<string, unknown>)['name'], undefined, 'the parsed document is not modified');
});

test('a changed file changes only the name of its own config', () => {
  const one = renderStack(document, input).document;
  const two = renderStack(document, { ...input, digests: { ...input.digests, 'web.conf': SHA_B } }).document;
  assert.notDeepEqual((one['configs'] as Record<string, unknown>)['web_conf'], (two['configs'] as Record<string, unknown>)['web_conf']);
  assert.deepEqual(one['secrets'], two['secrets']);
  assert.deepEqual((one['services'] as Record<string, unknown>)['worker'], (two['services'] as Record<string, unknown>)['worker']);
});

test('failure_action defaults to rollback (pause with rollback off); a stack file that sets one keeps it', () => {
  const services = (rollback: boolean) => renderStack(document, { ...input, rollback }).document['services'] as Record<string, { deploy: { update_config: Record<string, unknown> } }>;
  assert.equal(services(true)['web']!.deploy.update_config['failure_action'], 'rollback');
  assert.equal(services(false)['web']!.deploy.update_config['failure_action'], 'pause');
  assert.deepEqual(services(true)['worker']!.deploy.update_config, { failure_action: 'pause', monitor: '3s' });
});

test('an image the running service runs pinned stays pinned; another reference is left to docker to resolve', () => {
  const pinned = `reg:5000/web:1@sha256:${SHA_A}`;
  const services = renderStack(document, { ...input, runningImages: { web: pinned, worker: `reg:5000/worker:0@sha256:${SHA_B}` } }).document['services'] as Record<string, { image: string }>;
  assert.equal(services['web']!.image, pinned);
  assert.equal(services['worker']!.image, 'reg:5000/worker:1', 'the stack file names another tag now');
});

test('an input file without a digest is refused', () => {
  assert.throws(() => renderStack(document, { ...input, digests: { 'web.conf': 'missing' } }), /web\.conf cannot be read/);
  assert.throws(() => renderStack({ configs: {} }, input), /no services/);
});

test('names: at most 64 characters, recognisable as the server\'s own', () => {
  const name = contentAddressedName('s'.repeat(60), 'conf', SHA_A);
  assert.equal(name.length, 64);
  assert.ok(name.endsWith(`_${SHA_A.slice(0, 12)}`));
  assert.ok(isContentAddressedName('app', `app_web_conf_${SHA_A.slice(0, 12)}`));
  assert.ok(!isContentAddressedName('app', 'fixed'));
  assert.ok(!isContentAddressedName('app', `other_web_${SHA_A.slice(0, 12)}`));
  assert.deepEqual(stackObjectFiles(document).map((o) => `${o.section}.${o.key}`), ['configs.web_conf', 'configs.named', 'secrets.token']);
  assert.equal(withoutDigest(`r/x:1@sha256:${SHA_A}`), 'r/x:1');
  assert.equal(digestOf(`r/x:1@sha256:${SHA_A}`), `sha256:${SHA_A}`);
  assert.equal(digestOf('r/x:1'), undefined);
});
