// End to end: what `serve` writes, as an operator piping it into jq sees it. The real CLI as a
// child process over a real (empty) environment repository; no engine is needed: no service
// is deployed. Every line on stdout and stderr is one JSON object, polling writes nothing at
// info, a webhook writes one line with its run id, and SIGTERM is logged, not printed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { signBody } from '../../src/webhook/signature.js';
import { E2E_API_TOKEN, EnvRepo, freePort } from './harness.js';

const PROJECT_ROOT = path.resolve(import.meta.dirname, '../..');
const SECRET = 'serve-logs-secret-0123456789abcdef';

test('serve: JSON lines only, reads at debug, one line per webhook, the shutdown logged', { timeout: 120_000 }, async (t) => {
  const repo = new EnvRepo();
  repo.write('services/.gitkeep', '');
  repo.push('empty');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gds-e2e-serve-logs-'));
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
    cwd: PROJECT_ROOT,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: process.env['HOME'] ?? '/root',
      DATA_DIR: dataDir,
      ENV_REPO_PATH: repo.checkout,
      WEBHOOK_SECRET: SECRET,
      API_TOKEN: E2E_API_TOKEN,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => void (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => void (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    repo.dispose();
  });
  const show = () => `--- stdout ---\n${stdout.slice(-4_000)}\n--- stderr ---\n${stderr.slice(-4_000)}`;
  const lines = () => stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
  const base = `http://127.0.0.1:${port}`;
  const auth = { authorization: `Bearer ${E2E_API_TOKEN}` };

  const deadline = Date.now() + 60_000;
  while (!lines().some((l) => l['msg'] === 'listening')) {
    if (Date.now() > deadline || child.exitCode !== null) assert.fail(`the server did not start\n${show()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const webhook = await fetch(`${base}/deploy-all-changed`, { method: 'POST', headers: { 'x-hub-signature-256': signBody(SECRET, new Uint8Array()) } });
  assert.equal(webhook.status, 202);
  const { runId } = (await webhook.json()) as { runId: string };
  const requestLines = () => lines().filter((l) => l['msg'] === 'request completed');
  while (requestLines().length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(requestLines().length, 1, show());
  assert.equal(requestLines()[0]!['runId'], runId);
  assert.equal(requestLines()[0]!['status'], 202);

  // The run syncs the checkout (the services directory exists from then on); polled as the CLI does.
  for (;;) {
    const run = (await (await fetch(`${base}/api/runs/${runId}`, { headers: auth })).json()) as { status: string };
    if (run.status !== 'queued' && run.status !== 'running') break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const before = lines().length;
  for (let i = 0; i < 20; i++) {
    assert.equal((await fetch(`${base}/health`)).status, 200);
    const services = await fetch(`${base}/api/services`, { headers: auth });
    assert.equal(services.status, 200, `${await services.text()}\n${show()}`);
  }
  // Only what the reads themselves log counts: the run's own last line may land in this window.
  assert.deepEqual(lines().slice(before).filter((l) => l['msg'] !== 'run finished'), [], 'reads log nothing at info');
  assert.equal(requestLines().length, 1, 'polling the run logged nothing either');

  child.kill('SIGTERM');
  assert.equal(await exited, 0, show());
  assert.equal(stderr, '', `nothing but JSON logs, and those on stdout\n${show()}`);
  for (const line of stdout.split('\n').filter(Boolean)) assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
  const shutdown = lines().filter((l) => l['msg'] === 'shutting down');
  assert.equal(shutdown.length, 1, show());
  assert.equal(shutdown[0]!['signal'], 'SIGTERM');
  assert.equal(shutdown[0]!['level'], 30);
});
