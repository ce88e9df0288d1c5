// End to end: the built CLI binary (`node dist/cli/main.js`) against a live server in this
// process (real HTTP, real git, real SQLite; a fake runtime so deployments can be made to fail),
// checking output and the exit codes scripts rely on. `doctor` runs against this machine.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { FakeRuntime, fakeRuntimes } from '../fakes/runtime.js';
import { EnvRepo, freePort, requireEngines, stepper } from './harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const SECRET = 'e2e-cli-webhook-secret-0123456789';
const TOKEN = 'e2e-cli-api-token-0123456789abcdef';
/** Variables the CLI child must not inherit from the test's environment: each test sets what it means. */
const SCRUBBED = /^(WEBHOOK_SECRET|API_TOKEN|GDS_URL|PORT|CONTAINER_HOST|DOCKER_HOST|ENV_REPO_|DATA_DIR|FORCE_COLOR)/;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (asynchronously: the server answering it lives in this process). */
function cli(args: string[], options: { env?: Record<string, string | undefined>; input?: string } = {}): Promise<CliResult> {
  const env: Record<string, string> = { NO_COLOR: '1' };
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !SCRUBBED.test(key)) env[key] = value;
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** The same command line through a shell, as a user pastes it. */
function shell(command: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const show = (r: CliResult) => `exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;

const compose = (name: string) => `services:\n  main:\n    image: localhost/busybox:test\n    command: ["sleep", "3600"]\n    environment:\n      NAME: ${name}\n`;

/** Newest modification time of the files under a directory. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(file) : statSync(file).mtimeMs);
  }
  return newest;
}

test('the CLI against a live server: sign, deploy, status, plan, history, logs, exit codes; doctor on this machine', { timeout: 300_000 }, async (t) => {
  assert.ok(existsSync(CLI), 'dist/cli/main.js exists (scripts/test.sh builds it; run `npm run build`)');
  assert.ok(statSync(CLI).mtimeMs >= newestMtime(path.join(ROOT, 'src', 'cli')) - 1_000, 'dist/ is older than src/cli: run `npm run build` first');

  const repo = new EnvRepo();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gds-e2e-cli-'));
  const fake = new FakeRuntime();
  repo.write('services/app/podman-compose.yml', compose('app'));
  repo.write('services/web/podman-compose.yml', compose('web'));
  const firstCommit = repo.push('two services');
  const config = loadConfig({
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    ENV_REPO_PATH: repo.checkout,
    WEBHOOK_SECRET: SECRET,
    API_TOKEN: TOKEN,
    LOG_LEVEL: 'silent',
  });
  const server: RunningServer = await startServer(config, { logger: pino({ level: 'silent' }), runtimes: fakeRuntimes(fake) });
  t.after(async () => {
    await server.close();
    repo.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const remote = { GDS_URL: server.url, API_TOKEN: TOKEN };
  const step = stepper(t);

  await step('sign prints the X-Hub-Signature-256 value of a known HMAC-SHA256 vector', async () => {
    // GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
    const expected = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    const fromOption = await cli(['sign', '--secret', "It's a Secret to Everybody", '--body', 'Hello, World!']);
    assert.equal(fromOption.code, 0, show(fromOption));
    assert.equal(fromOption.stdout, `${expected}\n`);
    const fromStdin = await cli(['sign'], { env: { WEBHOOK_SECRET: "It's a Secret to Everybody" }, input: 'Hello, World!' });
    assert.equal(fromStdin.stdout, `${expected}\n`, show(fromStdin));
    const noSecret = await cli(['sign', '--body', 'x']);
    assert.equal(noSecret.code, 2, show(noSecret));
    assert.match(noSecret.stderr, /WEBHOOK_SECRET/);
  });

  let firstRunId = '';
  await step('sign --curl prints a command the server accepts; logs follows that run to success', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main', after: firstCommit });
    const signed = await cli(['sign', '--curl', server.url], { env: { WEBHOOK_SECRET: SECRET }, input: body });
    assert.equal(signed.code, 0, show(signed));
    assert.match(signed.stdout, /^curl -i -X POST -H 'X-Hub-Signature-256: sha256=[0-9a-f]{64}' -H 'Content-Type: application\/json' --data-raw '.*' http:\/\/127\.0\.0\.1:\d+\/deploy-all-changed\n$/);
    const pasted = await shell(signed.stdout.replace(/^curl -i /, 'curl -s '));
    assert.equal(pasted.code, 0, show(pasted));
    const answer = JSON.parse(pasted.stdout) as { runId: string; status: string };
    assert.equal(answer.status, 'queued', pasted.stdout);
    firstRunId = answer.runId;

    const logs = await cli(['logs', firstRunId], { env: remote });
    assert.equal(logs.code, 0, show(logs));
    assert.match(logs.stdout, /^app: deploy succeeded/m);
    assert.match(logs.stdout, /^web: deploy succeeded/m);
    assert.match(logs.stdout, /^app \| deploy app$/m, 'the compose tool output is streamed');
    assert.match(logs.stdout, new RegExp(`^run ${firstRunId} succeeded at ${firstCommit.slice(0, 7)}: 2 succeeded$`, 'm'));
    assert.doesNotMatch(logs.stdout + logs.stderr, new RegExp(TOKEN), 'the token is never printed');
  });

  await step('logs --json prints one JSON event per line, ending with end', async () => {
    const logs = await cli(['logs', firstRunId, '--json'], { env: remote });
    assert.equal(logs.code, 0, show(logs));
    const events = logs.stdout.trim().split('\n').map((line) => JSON.parse(line) as { id: string; event: string; data: { status?: string } });
    assert.equal(events.at(-1)?.event, 'end');
    assert.equal(events.at(-1)?.data.status, 'succeeded');
    assert.ok(events.some((e) => e.event === 'output'));
    assert.ok(events.every((e, i) => i === 0 || Number(e.id) > Number(events[i - 1]!.id) || e.event === 'end'), 'event ids increase');
  });

  await step('status --json lists the deployed services; status prints a table', async () => {
    const status = await cli(['status', '--json'], { env: remote });
    assert.equal(status.code, 0, show(status));
    const answer = JSON.parse(status.stdout) as { commit: string; services: Array<{ name: string; state: string; deployedCommit: string }> };
    assert.equal(answer.commit, firstCommit);
    assert.deepEqual(
      answer.services.map((s) => [s.name, s.state, s.deployedCommit]),
      [
        ['app', 'in-sync', firstCommit],
        ['web', 'in-sync', firstCommit],
      ],
    );
    const human = await cli(['status'], { env: remote });
    assert.equal(human.code, 0, show(human));
    assert.match(human.stdout, /^SERVICE\s+RUNTIME\s+STATE\s+COMMIT\s+DEPLOYED AT\s+LAST$/m);
    assert.match(human.stdout, new RegExp(`^app\\s+podman\\s+in-sync\\s+${firstCommit.slice(0, 7)}\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+deploy succeeded \\(new service\\)$`, 'm'));
    const filtered = await cli(['status', '--state', 'failed,changed', '--json'], { env: remote });
    assert.deepEqual(JSON.parse(filtered.stdout).services, []);
    const badState = await cli(['status', '--state', 'sideways'], { env: remote });
    assert.equal(badState.code, 2, show(badState));
  });

  await step('plan --json after a push shows the changed service as deploy, the other unchanged', async () => {
    repo.write('services/app/podman-compose.yml', compose('app-v2'));
    const pushed = repo.push('change app');
    const plan = await cli(['plan', '--json'], { env: remote });
    assert.equal(plan.code, 0, show(plan));
    const answer = JSON.parse(plan.stdout) as { commit: string; services: Array<{ service: string; decision: string; reason: string }> };
    assert.equal(answer.commit, pushed);
    assert.deepEqual(
      answer.services.map((s) => [s.service, s.decision]).sort(),
      [
        ['app', 'deploy'],
        ['web', 'unchanged'],
      ],
    );
    assert.match(answer.services.find((s) => s.service === 'app')!.reason, /podman-compose\.yml/);
    const human = await cli(['plan'], { env: remote });
    assert.equal(human.code, 0, show(human));
    assert.match(human.stderr, /fetching and planning/);
    assert.match(human.stdout, /^app\s+deploy\s+changed: podman-compose\.yml$/m);
    assert.match(human.stdout, /^1 to deploy, 0 problem, 0 self, 1 unchanged$/m);
  });

  await step('deploy follows the run to success and exits 0', async () => {
    const deploy = await cli(['deploy'], { env: remote });
    assert.equal(deploy.code, 0, show(deploy));
    assert.match(deploy.stderr, /^following run r_\S+ \(Ctrl-C stops following, not the run\)$/m);
    assert.match(deploy.stdout, /^run r_\S+: running$/m);
    assert.match(deploy.stdout, /^run r_\S+: at [0-9a-f]{7}$/m);
    assert.match(deploy.stdout, /^app: deploy queued \(changed: podman-compose\.yml\)$/m);
    assert.match(deploy.stdout, /^app: deploy running$/m);
    assert.match(deploy.stdout, /^app \| deploy app$/m);
    assert.match(deploy.stdout, /^app: deploy succeeded$/m);
    assert.match(deploy.stdout, /^run r_\S+ succeeded at [0-9a-f]{7}: 1 succeeded$/m);
    assert.doesNotMatch(deploy.stdout, /^web: deploy/m, 'the unchanged service is not deployed');
  });

  let failedRunId = '';
  await step('deploy of a service whose deployment fails exits 1 and says why', async () => {
    fake.failNext('web');
    const deploy = await cli(['deploy', 'web'], { env: remote });
    assert.equal(deploy.code, 1, show(deploy));
    assert.match(deploy.stdout, /^web: deploy failed: COMPOSE_FAILED web failed on purpose$/m);
    assert.match(deploy.stdout, /^run (r_\S+) failed at [0-9a-f]{7}: 1 failed \(web\)$/m);
    failedRunId = /^run (r_\S+) failed at/m.exec(deploy.stdout)![1]!;

    const json = await cli(['deploy', 'web', '--json'], { env: remote });
    assert.equal(json.code, 0, show(json));
    const run = JSON.parse(json.stdout) as { status: string; deployments: Array<{ service: string; status: string; output: string }> };
    assert.equal(run.status, 'succeeded');
    assert.deepEqual(run.deployments.map((d) => [d.service, d.status]), [['web', 'succeeded']]);
  });

  await step('deploy --no-follow prints the run id; logs of a failed run exits 1', async () => {
    const started = await cli(['deploy', 'app', '--update', '--no-follow'], { env: remote });
    assert.equal(started.code, 0, show(started));
    const runId = started.stdout.trim();
    assert.match(runId, /^r_\S+$/);
    const logs = await cli(['logs', runId], { env: remote });
    assert.equal(logs.code, 0, show(logs));
    assert.match(logs.stdout, /^app: update succeeded$/m);
    const failed = await cli(['logs', failedRunId], { env: remote });
    assert.equal(failed.code, 1, show(failed));
    const usage = await cli(['deploy', '--update'], { env: remote });
    assert.equal(usage.code, 2, show(usage));
  });

  await step('history lists the runs and a service deployment history', async () => {
    const runs = await cli(['history', '--json', '--limit', '3'], { env: remote });
    assert.equal(runs.code, 0, show(runs));
    const answer = JSON.parse(runs.stdout) as { runs: Array<{ id: string; status: string }>; next: string | null };
    assert.equal(answer.runs.length, 3);
    assert.ok(answer.next, 'more runs than the page');
    const older = await cli(['history', '--json', '--before', answer.next!], { env: remote });
    assert.ok((JSON.parse(older.stdout) as { runs: Array<{ id: string }> }).runs.some((r) => r.id === firstRunId), show(older));

    const human = await cli(['history'], { env: remote });
    assert.equal(human.code, 0, show(human));
    assert.match(human.stdout, /^RUN\s+STATUS\s+TRIGGER\s+ORIGIN\s+COMMIT\s+CREATED\s+DEPLOYMENTS$/m);
    assert.match(human.stdout, new RegExp(`^${failedRunId}\\s+failed\\s+deploy-service web\\s+api\\s`, 'm'));

    const web = await cli(['history', 'web', '--json'], { env: remote });
    assert.equal(web.code, 0, show(web));
    const statuses = (JSON.parse(web.stdout) as { history: Array<{ status: string }> }).history.map((d) => d.status);
    assert.deepEqual(statuses, ['succeeded', 'failed', 'succeeded']);
    const badLimit = await cli(['history', '--limit', '500'], { env: remote });
    assert.equal(badLimit.code, 2, show(badLimit));
  });

  await step('an unknown service or run exits 4 with the API error code', async () => {
    const unknown = await cli(['deploy', 'unknown-svc'], { env: remote });
    assert.equal(unknown.code, 4, show(unknown));
    assert.match(unknown.stderr, /UNKNOWN_SERVICE \(404\)/);
    const json = await cli(['deploy', 'unknown-svc', '--json'], { env: remote });
    assert.equal(json.code, 4, show(json));
    assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, 'UNKNOWN_SERVICE');
    const run = await cli(['logs', 'r_nope'], { env: remote });
    assert.equal(run.code, 4, show(run));
    assert.match(run.stderr, /RUN_NOT_FOUND/);
  });

  await step('a wrong token exits 3, a missing token 2, a server that is down 3', async () => {
    const wrong = await cli(['status', '--token', 'not-the-token'], { env: { GDS_URL: server.url } });
    assert.equal(wrong.code, 3, show(wrong));
    assert.match(wrong.stderr, /API_TOKEN_INVALID/);
    assert.doesNotMatch(wrong.stderr + wrong.stdout, /not-the-token/, 'the token is never printed');
    const missing = await cli(['status'], { env: { GDS_URL: server.url } });
    assert.equal(missing.code, 2, show(missing));
    const down = await cli(['status', '--json'], { env: { ...remote, GDS_URL: `http://127.0.0.1:${await freePort()}` } });
    assert.equal(down.code, 3, show(down));
    assert.equal((JSON.parse(down.stdout) as { error: { code: string } }).error.code, 'SERVER_UNREACHABLE');
    assert.match(down.stderr, /ECONNREFUSED/);
  });

  const doctorEnv = (containerHost: string) => ({
    CONTAINER_HOST: containerHost,
    ENV_REPO_PATH: repo.checkout,
    DATA_DIR: dataDir,
    WEBHOOK_SECRET: SECRET,
    API_TOKEN: TOKEN,
  });

  await step('doctor --json passes the engine socket and tool checks on this machine', async (st) => {
    const engines = requireEngines(st);
    if (!engines) return;
    const doctor = await cli(['doctor', '--json'], { env: doctorEnv(engines.podmanHost) });
    const { checks } = JSON.parse(doctor.stdout) as { checks: Array<{ name: string; ok: boolean; level: string; detail: string; fix: string | null }> };
    const byName = (name: string) => checks.find((c) => c.name === name);
    assert.equal(byName('engine-socket')?.level, 'pass', show(doctor));
    assert.match(byName('engine-socket')!.detail, /Podman Engine \d/);
    for (const tool of ['tool:git', 'tool:podman', 'tool:podman-compose']) {
      assert.equal(byName(tool)?.level, 'pass', `${tool}: ${show(doctor)}`);
      assert.match(byName(tool)!.detail, /\d+\.\d+/, `${tool} reports its version`);
    }
    for (const name of ['repository', 'remote', 'services', 'webhook-secret', 'api-token', 'data-dir', 'database']) {
      assert.equal(byName(name)?.level, 'pass', `${name}: ${show(doctor)}`);
    }
    assert.match(byName('services')!.detail, /2 services \(2 podman\)/);
    assert.deepEqual(checks.filter((c) => !c.ok), [], show(doctor));
    assert.equal(doctor.code, 0, show(doctor));
  });

  await step('doctor fails with exit 1 and a fix line when the engine socket is missing', async () => {
    const json = await cli(['doctor', '--json'], { env: doctorEnv('unix:///nonexistent/podman.sock') });
    assert.equal(json.code, 1, show(json));
    const socket = (JSON.parse(json.stdout) as { checks: Array<{ name: string; ok: boolean; level: string; detail: string; fix: string }> }).checks.find((c) => c.name === 'engine-socket');
    assert.deepEqual([socket?.ok, socket?.level], [false, 'fail']);
    assert.match(socket!.detail, /no socket at \/nonexistent\/podman\.sock/);
    const human = await cli(['doctor'], { env: doctorEnv('unix:///nonexistent/podman.sock') });
    assert.equal(human.code, 1, show(human));
    assert.match(human.stdout, /^FAIL engine-socket\s+CONTAINER_HOST=unix:\/\/\/nonexistent\/podman\.sock: no socket at/m);
    assert.match(human.stdout, /^ {4}fix: start the engine API/m);
    assert.match(human.stdout, /^\d+ passed, \d+ warnings?, 1 failed$/m);
  });

  await step('doctor reports configuration problems as failures', async () => {
    const doctor = await cli(['doctor', '--json'], { env: { ...doctorEnv('unix:///nonexistent/podman.sock'), DEPLOY_PARALLELISM: '0' } });
    assert.equal(doctor.code, 1, show(doctor));
    const config = (JSON.parse(doctor.stdout) as { checks: Array<{ name: string; level: string; detail: string }> }).checks.filter((c) => c.name === 'config');
    assert.deepEqual(config.map((c) => [c.level, c.detail]), [['fail', 'DEPLOY_PARALLELISM must be between 1 and 64']]);
  });
});
