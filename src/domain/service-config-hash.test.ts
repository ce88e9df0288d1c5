import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson, referencedVariables, serviceConfigHash, type ServiceConfigInput } from './service-config-hash.js';
import { sha256hex } from '../util/digest.js';

const sha = sha256hex;
const base: ServiceConfigInput = {
  definition: { image: 'app:${TAG}', environment: { A: '1' }, env_file: ['../../secrets/app.env'], volumes: ['./conf:/etc/app:ro'] },
  shared: { networks: { front: {} } },
  variables: { TAG: '1.0', UNUSED: 'x' },
  inputPaths: ['../../secrets/app.env', './conf'],
  files: { 'podman-compose.yml': 'c1', '../../secrets/app.env': 's1', 'conf/app.ini': 'i1', 'other/x': 'o1' },
  imageId: 'img1',
};
const h = (overrides: Partial<ServiceConfigInput>) => serviceConfigHash({ ...base, ...overrides }, sha);

test('the same inputs give the same hash, whatever the key order', () => {
  assert.equal(h({}), h({ definition: { volumes: ['./conf:/etc/app:ro'], env_file: ['../../secrets/app.env'], environment: { A: '1' }, image: 'app:${TAG}' } }));
  assert.match(h({}), /^v1-[0-9a-f]{32}$/);
});

test('what changes what runs changes the hash', () => {
  const original = h({});
  assert.notEqual(h({ definition: { ...(base.definition as object), environment: { A: '2' } } }), original, 'definition');
  assert.notEqual(h({ variables: { TAG: '2.0' } }), original, 'an interpolated variable');
  assert.notEqual(h({ files: { ...base.files, '../../secrets/app.env': 's2' } }), original, 'env file contents');
  assert.notEqual(h({ files: { ...base.files, 'conf/app.ini': 'i2' } }), original, 'a file under a mounted directory');
  assert.notEqual(h({ imageId: 'img2' }), original, 'the image');
  assert.notEqual(h({ shared: { networks: { back: {} } } }), original, 'shared networks');
});

test('what does not reach the service leaves the hash alone', () => {
  const original = h({});
  assert.equal(h({ variables: { TAG: '1.0', UNUSED: 'y' } }), original, 'a variable it does not use');
  assert.equal(h({ files: { ...base.files, 'other/x': 'o2', 'podman-compose.yml': 'c2' } }), original, 'files of other services');
});

test('a data file the catalog leaves out of files (a writable mount of an untracked file) never enters the hash', () => {
  const withData = { definition: { ...(base.definition as object), volumes: ['./conf:/etc/app:ro', './acme.json:/acme.json'] }, inputPaths: [...base.inputPaths, './acme.json'] };
  // The catalog holds no digest for acme.json, so the container writing it changes nothing.
  assert.equal(h({ ...withData }), h({ ...withData, files: { ...base.files, 'other/x': 'o2' } }));
  assert.notEqual(h({ ...withData, files: { ...base.files, 'acme.json': 'a1' } }), h({ ...withData }), 'once it is an input (tracked, read-only), it counts');
});

test('referenced variables are found in every syntax, escaped dollars are not', () => {
  assert.deepEqual(referencedVariables('$A ${B} ${C:-x} ${D-y} $$E'), ['A', 'B', 'C', 'D']);
});

test('canonical JSON sorts keys deeply', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: 1, c: [2, 1] } }), '{"a":{"c":[2,1],"d":1},"b":1}');
});
