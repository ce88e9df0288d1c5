import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseComposeYaml } from './compose-inputs.js';
import { readGitopsExtension } from './compose-extension.js';

const read = (yaml: string) => {
  const parsed = parseComposeYaml(yaml);
  assert.ok(parsed.ok);
  return readGitopsExtension(parsed.document);
};

describe('readGitopsExtension', () => {
  it('is off without x-gitops, on with poll-images: true', () => {
    assert.deepEqual(read('services: {}\n'), { ok: true, extension: { pollImages: false, rollback: true, ignore: [] } });
    assert.deepEqual(read('x-gitops:\n  poll-images: true\nservices: {}\n'), { ok: true, extension: { pollImages: true, rollback: true, ignore: [] } });
    assert.deepEqual(read('x-gitops:\n  poll-images: false\nservices: {}\n'), { ok: true, extension: { pollImages: false, rollback: true, ignore: [] } });
  });

  it('reads rollback: false as the per-service opt-out of automatic rollback', () => {
    assert.deepEqual(read('x-gitops:\n  rollback: false\nservices: {}\n'), { ok: true, extension: { pollImages: false, rollback: false, ignore: [] } });
    assert.match((read('x-gitops:\n  rollback: no\n') as { message: string }).message, /rollback must be true or false/);
  });

  it('reads settle as whole seconds', () => {
    assert.deepEqual(read('x-gitops:\n  settle: 12\nservices: {}\n'), { ok: true, extension: { pollImages: false, rollback: true, settleSeconds: 12, ignore: [] } });
    assert.deepEqual(read('x-gitops:\n  settle: 0\n  poll-images: true\n'), { ok: true, extension: { pollImages: true, rollback: true, settleSeconds: 0, ignore: [] } });
    for (const bad of ['"5"', '1.5', '-1', '3601', 'true']) {
      assert.match((read(`x-gitops:\n  settle: ${bad}\n`) as { message: string }).message, /settle must be a whole number of seconds from 0 to 3600/, bad);
    }
  });

  it('reads ignore as a list of globs, refusing anything else', () => {
    assert.deepEqual(read('x-gitops:\n  ignore: [data/**, "*.sqlite"]\n'), { ok: true, extension: { pollImages: false, rollback: true, ignore: ['data/**', '*.sqlite'] } });
    assert.match((read('x-gitops:\n  ignore: data/**\n') as { message: string }).message, /ignore must be a list of globs/);
    assert.match((read('x-gitops:\n  ignore: [1]\n') as { message: string }).message, /ignore must be a list of globs/);
    assert.match((read('x-gitops:\n  ignore: ["a[b"]\n') as { message: string }).message, /the glob "a\[b" has an unclosed \[/);
  });

  it('reads runtime: swarm (or podman, docker) over the file name', () => {
    assert.deepEqual(read('x-gitops:\n  runtime: swarm\nservices: {}\n'), { ok: true, extension: { pollImages: false, rollback: true, ignore: [], runtime: 'swarm' } });
    assert.match((read('x-gitops:\n  runtime: kubernetes\n') as { message: string }).message, /runtime must be one of podman, docker, swarm/);
  });

  it('refuses what it does not understand instead of ignoring it', () => {
    assert.match((read('x-gitops: yes\n') as { message: string }).message, /must be a mapping/);
    assert.match((read('x-gitops:\n  poll-image: true\n') as { message: string }).message, /unknown keys: poll-image/);
    assert.match((read('x-gitops:\n  poll-images: "yes"\n') as { message: string }).message, /true or false/);
  });
});
