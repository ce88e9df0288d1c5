import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compatOf } from '../compose-runtimes.js';
import type { Runtime, RuntimeRegistry } from '../ports/runtime.js';
import { ComposeRuntime, type ComposeTool } from './compose/compose-runtime.js';
import { podmanCompose } from './compose/tools.js';
import type { EngineCli } from './engine-cli.js';
import { createServiceCatalog } from './service-catalog.js';

function repoWith(files: Record<string, string>): { root: string; dispose: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'gds-compat-'));
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(join(root, file, '..'), { recursive: true });
    writeFileSync(join(root, file), text);
  }
  return { root, dispose: () => rmSync(root, { recursive: true, force: true }) };
}

const LONG_ENV = 'services:\n  app:\n    image: busybox\n    env_file:\n      - path: ./app.env\n        required: false\n';

/** A runtime whose only real part is the compat check: nothing may run. */
function runtimeWith(tool: ComposeTool): ComposeRuntime {
  const never = () => Promise.reject(new Error('nothing may run during a check'));
  return new ComposeRuntime({
    kind: 'podman',
    tool: async () => tool,
    engine: {} as EngineCli,
    run: never,
    authEnv: () => ({}),
    processEnv: {},
    overrideDir: '/nonexistent',
    timeoutMs: 1000,
    stopTimeoutSeconds: 1,
    gate: { settleMs: 0, healthTimeoutMs: 1000 },
  });
}

test('the catalog reports COMPOSE_UNSUPPORTED from the runtime that would run the service, naming service, construct and tool version', async (t) => {
  const { root, dispose } = repoWith({ 'services/old/compose.yaml': LONG_ENV, 'services/plain/compose.yaml': 'services:\n  app:\n    image: busybox\n' });
  t.after(dispose);
  const podman = runtimeWith(podmanCompose);
  const runtimes: RuntimeRegistry = { podman, docker: podman, swarm: podman };
  const catalog = createServiceCatalog({ repoPath: root, servicesDirectory: 'services', defaultRuntime: 'podman', repository: { listTrackedFiles: async () => [] }, compat: compatOf(runtimes) });
  const [old, plain] = await catalog.discover();
  assert.equal(old?.problem?.code, 'COMPOSE_UNSUPPORTED');
  assert.match(old!.problem!.message, /^old: podman-compose 1\.0\.3 cannot run this compose file as written: long-syntax env_file/);
  assert.equal(plain?.problem, undefined);
  const current = runtimeWith({ ...podmanCompose, version: '1.3.0', envFileWins: false });
  assert.equal(await current.checkCompose(old!), undefined, 'podman-compose 1.3 runs it');
});

test('without a compat check, and for a runtime without one, nothing is refused', async (t) => {
  const { root, dispose } = repoWith({ 'services/old/compose.yaml': LONG_ENV });
  t.after(dispose);
  const bare = { kind: 'podman', deploy: () => Promise.reject(new Error('no')), update: () => Promise.reject(new Error('no')) } as Runtime;
  for (const compat of [undefined, compatOf({ podman: bare, docker: bare, swarm: bare })]) {
    const catalog = createServiceCatalog({ repoPath: root, servicesDirectory: 'services', defaultRuntime: 'podman', repository: { listTrackedFiles: async () => [] }, ...(compat ? { compat } : {}) });
    assert.equal((await catalog.discover())[0]?.problem, undefined);
  }
});

test('podman-compose 1.0.3: a referenced variable podman-compose.env sets otherwise than .env is refused; the others are not', async (t) => {
  const { root, dispose } = repoWith({
    'services/web/compose.yaml': 'services:\n  app:\n    image: busybox\n    ports: ["${HOST_PORT}:80"]\n',
    'services/web/.env': 'HOST_PORT=8080\n',
    'services/web/podman-compose.env': 'HOST_PORT=8081\n',
  });
  t.after(dispose);
  const service = { name: 'web', dir: join(root, 'services/web'), composeFile: 'compose.yaml', runtime: 'podman' as const, projectName: 'web', files: {}, fingerprint: '', requiredEnvFiles: [] };
  assert.match((await runtimeWith(podmanCompose).checkCompose(service))?.message ?? '', /HOST_PORT/);
  assert.equal(await runtimeWith({ ...podmanCompose, version: '1.3.0', envFileWins: false }).checkCompose(service), undefined);
});
