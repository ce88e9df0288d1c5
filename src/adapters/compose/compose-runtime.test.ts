import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { ServiceSource } from '../../domain/types.js';
import { AppError, isAppError } from '../../errors.js';
import type { EngineCli } from '../engine-cli.js';
import type { ProcessRunner } from '../process-runner.js';
import { ComposeRuntime, type ComposeTool } from './compose-runtime.js';
import { dockerComposePluginGeneration, podmanCompose, podmanComposeGeneration } from './tools.js';

/** A service whose `up` is the fake runner: the runtime's redaction is what is under test. */
function runtimeWith(run: ProcessRunner): { runtime: ComposeRuntime; service: ServiceSource; dispose: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'gds-compose-runtime-'));
  writeFileSync(path.join(dir, 'compose.yaml'), 'services:\n  app:\n    image: localhost/app\n    environment:\n      API_TOKEN: ${API_TOKEN}\n      DB: ${DB}\n');
  writeFileSync(path.join(dir, '.env'), 'API_TOKEN=abc\nDB=postgres\n');
  const engine = { listProjectContainers: async () => [], imageId: async () => 'image-1', removeContainers: async () => undefined } as unknown as EngineCli;
  const runtime = new ComposeRuntime({
    kind: 'podman',
    tool: async () => podmanCompose,
    engine,
    run,
    authEnv: () => ({}),
    registrySecrets: () => ['registry-password'],
    processEnv: {},
    overrideDir: path.join(dir, 'overrides'),
    timeoutMs: 1_000,
    stopTimeoutSeconds: 1,
    gate: { settleMs: 0, healthTimeoutMs: 1_000 },
  });
  const service: ServiceSource = { name: 'svc', dir, composeFile: 'compose.yaml', runtime: 'podman', projectName: 'svc', files: {}, fingerprint: '', requiredEnvFiles: [] };
  return { runtime, service, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

test('output and errors of an action are redacted: secret keys and registry credentials masked, ordinary values kept', async (t) => {
  const echoed = 'podman run -e API_TOKEN=abc -e DB=postgres --creds registry-password\n';
  const { runtime, service, dispose } = runtimeWith(async (request) => {
    request.onOutput?.(echoed);
    throw new AppError('PROCESS_FAILED', 'podman-compose up exited 1', { details: { output: `${echoed}Error: bad registry-password`, exitCode: 1 } });
  });
  t.after(dispose);
  const output: string[] = [];
  await assert.rejects(runtime.deploy(service, { output: (chunk) => output.push(chunk) }), (error: unknown) => {
    assert.ok(isAppError(error) && error.code === 'COMPOSE_FAILED', String(error));
    assert.equal(error.message, 'podman-compose up failed: Error: bad ***');
    assert.equal(error.details?.['output'], 'podman run -e API_TOKEN=*** -e DB=postgres --creds ***\nError: bad ***');
    return true;
  });
  assert.match(output.join(''), /^podman run -e API_TOKEN=\*\*\* -e DB=postgres --creds \*\*\*$/m);
  assert.ok(!output.join('').includes('registry-password'));
});

test('an unexpected error is redacted too, as INTERNAL', async (t) => {
  const { runtime, service, dispose } = runtimeWith(async () => {
    throw new TypeError('cannot read token abc of registry-password');
  });
  t.after(dispose);
  await assert.rejects(runtime.deploy(service, { output: () => undefined }), (error: unknown) => {
    assert.ok(isAppError(error) && error.code === 'INTERNAL', String(error));
    assert.equal(error.message, 'cannot read token *** of ***');
    return true;
  });
});

test('podman-compose: a stray container started by hand (no configuration label) is removed before up', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gds-compose-runtime-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'compose.yaml'), 'services:\n  app:\n    image: localhost/app\n');
  const stray = { id: 'stray-id', name: 'svc-debug', service: 'debug', state: 'running', exitCode: 0, imageId: 'image-1', configHash: undefined };
  const removed: string[][] = [];
  const engine = {
    listProjectContainers: async () => [stray],
    imageId: async () => 'image-1',
    removeContainers: async (ids: string[]) => void removed.push(ids),
  } as unknown as EngineCli;
  const runtime = new ComposeRuntime({
    kind: 'podman', tool: async () => podmanCompose, engine,
    // `up` fails: what was removed before it is what this test is about.
    run: async () => { throw new AppError('PROCESS_FAILED', 'up failed', { details: { output: 'Error: stop here', exitCode: 1 } }); },
    authEnv: () => ({}), registrySecrets: () => [], processEnv: {}, overrideDir: path.join(dir, 'overrides'),
    timeoutMs: 1_000, stopTimeoutSeconds: 1, gate: { settleMs: 0, healthTimeoutMs: 1_000 },
  });
  const service: ServiceSource = { name: 'svc', dir, composeFile: 'compose.yaml', runtime: 'podman', projectName: 'svc', files: {}, fingerprint: '', requiredEnvFiles: [] };
  await assert.rejects(runtime.deploy(service, { output: () => undefined }), (error: unknown) => isAppError(error) && error.code === 'COMPOSE_FAILED');
  assert.deepEqual(removed, [['stray-id']]);
});

test('forced: Docker Compose is told --force-recreate; podman-compose has every container of the project removed and every service named to up', async (t) => {
  const kept = { id: 'c-app', name: 'svc-app-1', service: 'app', state: 'running', exitCode: 0, imageId: 'image-1', configHash: 'whatever' };
  const forced = async (tool: ComposeTool) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gds-compose-force-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(path.join(dir, 'compose.yaml'), 'services:\n  app:\n    image: localhost/app\n');
    const removed: string[][] = [];
    const argv: Array<readonly string[]> = [];
    const engine = { listProjectContainers: async () => [kept], imageId: async () => 'image-1', removeContainers: async (ids: string[]) => void removed.push(ids) } as unknown as EngineCli;
    const runtime = new ComposeRuntime({
      kind: 'podman', tool: async () => tool, engine, authEnv: () => ({}), registrySecrets: () => [], processEnv: {},
      overrideDir: path.join(dir, 'overrides'), timeoutMs: 1_000, stopTimeoutSeconds: 1, gate: { settleMs: 0, healthTimeoutMs: 1_000 },
      // Stops right after up was asked for: what it was asked is under test.
      run: async (request) => {
        argv.push(request.args);
        throw new AppError('PROCESS_FAILED', 'stop here', { details: { output: '', exitCode: 1 } });
      },
    });
    const service: ServiceSource = { name: 'svc', dir, composeFile: 'compose.yaml', runtime: 'podman', projectName: 'svc', files: {}, fingerprint: '', requiredEnvFiles: [] };
    await assert.rejects(runtime.deploy(service, { output: () => undefined, force: true }));
    return { removed, argv };
  };
  const docker = await forced(dockerComposePluginGeneration('2.26.1'));
  assert.equal(docker.argv[0]?.at(-1), '--force-recreate', JSON.stringify(docker.argv));
  assert.deepEqual(docker.removed, [], 'Docker Compose recreates them itself');
  const podman = await forced(podmanComposeGeneration('1.3.0', 'podman-compose'));
  assert.deepEqual(podman.removed, [['c-app']], 'the running, unchanged container is removed too');
  assert.equal(podman.argv[0]?.includes('--force-recreate'), false);
  assert.equal(podman.argv[0]?.at(-1), 'app', 'up names every compose service (1.3 names what it creates)');
});
