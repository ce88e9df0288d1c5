// The README's first command: the built server on embedded defaults creates the example
// environment repository, prints a secret and a curl, and that curl deploys real services.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EXAMPLE_IMAGE } from '../../src/example/example-repository.js';
import { DEFAULT_ENV_REPO_PATH } from '../../src/config.js';
import { freePort, projectContainers, removeProject, requireEngines, sh, type RunView } from './harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

test('the example: built binary, generated secret, printed curl, real deployment, then a push', { timeout: 300_000 }, async (t) => {
  if (!requireEngines(t)) return;
  assert.ok(existsSync(CLI), 'dist/cli/main.js exists (scripts/test.sh builds it; run `npm run build`)');
  assert.ok(!existsSync(DEFAULT_ENV_REPO_PATH), `${DEFAULT_ENV_REPO_PATH} must not exist for the example mode`);
  assert.equal(sh('npx', ['--no-install', 'gitops-deploy-server', '--version'], { env: { npm_config_yes: 'false' } }), sh('node', ['-p', "require('./package.json').version"], {}));
  sh('bash', [path.join(ROOT, 'scripts', 'build-busybox-image.sh'), EXAMPLE_IMAGE, 'podman']);

  const dataDir = mkdtempSync(path.join(tmpdir(), 'gds-e2e-example-'));
  const port = await freePort();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(WEBHOOK_SECRET|ENV_REPO_|CONTAINER_HOST|DOCKER_HOST|PORT|DATA_DIR)/.test(k)) env[k] = v;
  }
  const child = spawn(process.execPath, [CLI, 'serve'], { cwd: ROOT, env: { ...env, DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let printed = '';
  child.stderr.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  child.stdout.resume();
  t.after(() => {
    child.kill('SIGKILL');
    removeProject('podman', 'hello');
    removeProject('podman', 'worker');
    rmSync(dataDir, { recursive: true, force: true });
  });

  // The banner gives the secret and the curl; use exactly what it printed.
  const deadline = Date.now() + 60_000;
  while (!/curl -i -X POST/.test(printed)) {
    assert.ok(Date.now() < deadline, `no banner within 60 s:\n${printed}`);
    assert.equal(child.exitCode, null, `the server exited:\n${printed}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const curl = /curl -i -X POST -H 'X-Hub-Signature-256: (sha256=[0-9a-f]{64})' (http:\/\/\S+\/deploy-all-changed)/.exec(printed);
  assert.ok(curl, `the banner has a ready-to-paste curl:\n${printed}`);
  assert.match(printed, /webhook secret:\s+[0-9a-f]{48}/);
  const token = /API token: ([0-9a-f]{48})/.exec(printed)?.[1];
  assert.ok(token, `the banner names the dashboard and its token:\n${printed}`);
  const remote = /remote to push:\s+(\S+)/.exec(printed)?.[1];
  assert.ok(remote && existsSync(remote), 'the banner names the example remote');

  const trigger = async () => {
    const response = await fetch(curl[2]!, { method: 'POST', headers: { 'X-Hub-Signature-256': curl[1]! } });
    assert.equal(response.status, 202);
    const { runId } = (await response.json()) as { runId: string };
    for (const until = Date.now() + 120_000; Date.now() < until; await new Promise((r) => setTimeout(r, 250))) {
      const run = (await (await fetch(`http://127.0.0.1:${port}/api/runs/${runId}`, { headers: { authorization: `Bearer ${token}` } })).json()) as RunView;
      if (run.status === 'succeeded' || run.status === 'failed') return run;
    }
    throw new Error(`run ${runId} did not finish`);
  };

  const first = await trigger();
  assert.equal(first.status, 'succeeded', JSON.stringify(first));
  assert.deepEqual(first.deployments.map((d) => [d.service, d.status]).sort(), [['hello', 'succeeded'], ['worker', 'succeeded']]);
  assert.equal(projectContainers('podman', 'worker')[0]?.state, 'running');
  const hello = projectContainers('podman', 'hello')[0]!;
  assert.equal(sh('podman', ['exec', hello.id, 'printenv', 'GREETING']), 'hello from gitops-deploy-server');
  assert.match(await (await fetch('http://127.0.0.1:18080/')).text(), /It works/);

  // The README's next step: clone the remote, change the greeting, push, trigger again.
  const operator = mkdtempSync(path.join(tmpdir(), 'gds-e2e-operator-'));
  try {
    const mine = path.join(operator, 'mine');
    sh('git', ['clone', '-q', remote, mine]);
    sh('bash', ['-c', "echo 'GREETING=changed' > services/hello/.env"], { cwd: mine });
    sh('git', ['-c', 'user.name=op', '-c', 'user.email=op@localhost', 'commit', '-qam', 'new greeting'], { cwd: mine });
    sh('git', ['push', '-q'], { cwd: mine });
  } finally {
    rmSync(operator, { recursive: true, force: true });
  }
  const second = await trigger();
  assert.deepEqual(second.deployments.map((d) => [d.service, d.status, d.reason]), [['hello', 'succeeded', 'changed: .env']]);
  const changed = projectContainers('podman', 'hello')[0]!;
  assert.equal(sh('podman', ['exec', changed.id, 'printenv', 'GREETING']), 'changed');
});
