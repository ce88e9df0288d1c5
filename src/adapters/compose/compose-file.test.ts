import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { ServiceSource } from '../../domain/types.js';
import { readComposeModel } from './compose-file.js';
import { dockerComposeTool, podmanCompose } from './tools.js';

function serviceWith(files: Record<string, string>): { service: ServiceSource; dispose: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'gds-compose-file-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const service: ServiceSource = { name: 'svc', dir, composeFile: 'compose.yaml', runtime: 'podman', projectName: 'svc', files: {}, fingerprint: '', requiredEnvFiles: [] };
  return { service, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

test('image interpolation: the environment beats .env unless the tool loads .env over it', async (t) => {
  const { service, dispose } = serviceWith({ 'compose.yaml': 'services:\n  app:\n    image: busybox:${TAG}\n', '.env': 'TAG=from-file\n' });
  t.after(dispose);
  const env = { TAG: 'from-env' };
  assert.equal((await readComposeModel(service, env)).services[0]!.image, 'busybox:from-env');
  assert.equal((await readComposeModel(service, env, { envFileWins: true })).services[0]!.image, 'busybox:from-file');
  assert.equal((await readComposeModel(service, {}, { envFileWins: true })).services[0]!.image, 'busybox:from-file');
});

test('podman-compose 1.0.3 loads .env over the environment; Docker Compose does not', async () => {
  assert.equal(podmanCompose.envFileWins, true);
  const docker = await dockerComposeTool({ preference: 'standalone', run: async () => { throw new Error('not called'); } })();
  assert.equal(docker.envFileWins, false);
});
