import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { SwarmServiceInspect } from '../domain/swarm-converge.js';
import type { ServiceSource } from '../domain/types.js';
import type { EngineCli } from './engine-cli.js';
import { createRunningImages } from './running-images.js';

test('a Swarm stack runs the digests its service specs pin; a service without a pinned spec is left out', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gds-running-images-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'docker-stack.yml'), 'services:\n  web:\n    image: reg/web:1\n  local:\n    image: localhost/x:1\n  new:\n    image: reg/new:1\n');
  const spec = (name: string, image: string): SwarmServiceInspect => ({ ID: name, Spec: { Name: `app_${name}`, TaskTemplate: { ContainerSpec: { Image: image } } } });
  const engine = {} as EngineCli;
  const running = createRunningImages({
    engines: { podman: engine, docker: engine, swarm: engine },
    processEnv: {},
    swarm: { services: async (stack) => (stack === 'app' ? [spec('web', 'reg/web:1@sha256:abc'), spec('local', 'localhost/x:1')] : []) },
  });
  const service: ServiceSource = { name: 'app', dir, composeFile: 'docker-stack.yml', runtime: 'swarm', projectName: 'app', files: {}, fingerprint: '', requiredEnvFiles: [] };
  assert.deepEqual(await running(service), [{ reference: 'reg/web:1', repoDigests: ['reg/web:1@sha256:abc'] }]);
});
