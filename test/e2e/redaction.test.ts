// End to end: what the server keeps out of the text it stores, streams and notifies, and what it
// leaves readable. Real Podman + podman-compose 1.0.3, which echoes every `podman run -e KEY=value`
// and, on a failed start, podman's own error line; a container that dumps its environment before it
// exits has its log lines in the deployment output. A local receiver stands in for the webhook
// notification channel. Each secret is read back from the running container: it really ran.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { E2E_API_TOKEN, EnvRepo, TestServer, containerEnv, deploymentOf, projectContainers, removeProject, requireEngines, stepper, summary, uid, type RunView } from './harness.js';

const id = uid();
const SERVICE = `redact-${id}`;
const SECRET_FILE = `secrets/${SERVICE}.env`;
/** Untracked (git-ignored `secrets/`), under a key that does not look secret: masked for where it lives. */
const UNTRACKED = `untracked-${id}-value`;
/** From the server's environment through CHILD_ENV_PASS, under a key that does not look secret. */
const FROM_SERVER = `srv-${id}-value`;
/** Tracked, short, under a secret-looking key: masked, but only as a whole token. */
const SHORT_TOKEN = 'abc';
const SECRETS = [UNTRACKED, FROM_SERVER];

function compose(options: { command: string[]; broken?: boolean }): string {
  return `services:
  app:
    image: localhost/busybox:test
    init: true
    command: ${JSON.stringify(options.command)}
    restart: "no"${options.broken ? '\n    container_name: "${FROM_SERVER}"\n    mem_limit: "${FROM_SERVER}"' : ''}
    env_file: ../../${SECRET_FILE}
    environment:
      POSTGRES_DB: \${POSTGRES_DB}
      API_TOKEN: \${API_TOKEN}
      FROM_ENV: \${FROM_SERVER}
      PROJECT_NAME: \${PROJECT_NAME}
    volumes:
      - \${DATA_DIR}:/var/lib/postgresql/data
`;
}

/** Collects every notification body POSTed to it. */
class Receiver {
  readonly bodies: string[] = [];
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      this.bodies.push(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200).end('{}');
    });
  });
  url = '';
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }
  async waitFor(count: number, timeoutMs = 15_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.bodies.length < count) {
      if (Date.now() > deadline) throw new Error(`${count} notifications expected, ${this.bodies.length} arrived`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return this.bodies;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Triggers deploy-all, reads the run's SSE stream live until its `end`, and returns both. */
async function deployWithStream(server: TestServer): Promise<{ run: RunView; stream: string }> {
  const response = await server.post('/deploy-all-changed');
  assert.equal(response.status, 202, JSON.stringify(response.json));
  const runId = response.json.runId as string;
  const events = await fetch(`${server.url}/api/runs/${runId}/events`, { headers: { authorization: `Bearer ${E2E_API_TOKEN}` }, signal: AbortSignal.timeout(120_000) });
  assert.equal(events.status, 200);
  const stream = await events.text(); // the server ends the stream after the run's `end` event
  return { run: await server.waitForRun(runId), stream };
}

/** The output lines of the stream's `output` events, joined. */
function streamedOutput(stream: string): string {
  return stream
    .split('\n\n')
    .filter((block) => block.includes('event: output'))
    .map((block) => (JSON.parse(block.split('\n').find((l) => l.startsWith('data: '))!.slice(6)) as { line: string }).line)
    .join('\n');
}

function assertNoSecret(text: string, where: string): void {
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `${where} holds ${secret}:\n${text}`);
  assert.doesNotMatch(text, /API_TOKEN=abc\b/, `${where} holds the short token`);
}

test('redaction: secrets masked in stored output, the event stream and notifications; ordinary values readable', { timeout: 180_000 }, async (t) => {
  if (!requireEngines(t)) return;
  const repo = new EnvRepo();
  const receiver = new Receiver();
  await receiver.start();
  const server = await TestServer.start({
    checkout: repo.checkout,
    env: { FROM_SERVER, CHILD_ENV_PASS: 'FROM_SERVER', NOTIFY_WEBHOOK_URL: receiver.url, ROLLBACK_ON_FAILURE: 'false' },
  });
  t.after(async () => {
    await server.close();
    await receiver.stop();
    removeProject('podman', SERVICE);
    server.dispose();
    repo.dispose();
  });
  const step = stepper(t);

  await step('1. a deployment: podman-compose echoes every -e; secrets masked, tracked values as written', async () => {
    repo.write(`services/${SERVICE}/podman-compose.yml`, compose({ command: ['sleep', '3600'] }));
    repo.write(`services/${SERVICE}/.env`, `POSTGRES_DB=postgres\nDATA_DIR=./data\nAPI_TOKEN=${SHORT_TOKEN}\nPROJECT_NAME=myproj\n`);
    repo.write(`services/${SERVICE}/data/.keep`, '');
    repo.push('redaction fixture');
    repo.writeSecret(SECRET_FILE, `SESSION_VALUE=${UNTRACKED}\n`);

    const { run, stream } = await deployWithStream(server);
    assert.equal(run.status, 'succeeded', summary(run));
    const [app] = projectContainers('podman', SERVICE);
    assert.ok(app, 'the container runs');
    // What ran is what the files say: the masking is of the output only.
    assert.equal(containerEnv('podman', app.id, 'FROM_ENV'), FROM_SERVER);
    assert.equal(containerEnv('podman', app.id, 'API_TOKEN'), SHORT_TOKEN);
    assert.equal(containerEnv('podman', app.id, 'SESSION_VALUE'), UNTRACKED);

    const { output } = deploymentOf(run, SERVICE);
    for (const [where, text] of [['stored output', output], ['event stream', streamedOutput(stream)]] as const) {
      assertNoSecret(text, where);
      assert.match(text, /-e FROM_ENV=\*\*\* /, `${where}: ${text}`);
      assert.match(text, /-e API_TOKEN=\*\*\* /, `${where}: ${text}`);
      // Ordinary tracked values read as written: no `***ql`, no masked project or data path.
      assert.match(text, /-e POSTGRES_DB=postgres /, `${where}: ${text}`);
      assert.match(text, /-e PROJECT_NAME=myproj /, `${where}: ${text}`);
      assert.match(text, new RegExp(`services/${SERVICE}/data:/var/lib/postgresql/data`), `${where}: ${text}`);
      assert.match(text, new RegExp(`podman-compose -p ${SERVICE} `), `${where}: ${text}`);
      assert.doesNotMatch(text, /\*\*\*ql|\*\*\*:\/var/, `${where}: ${text}`);
    }
  });

  await step('2. a container that logs its environment and fails the gate: its log lines are masked the same way', async () => {
    repo.write(`services/${SERVICE}/podman-compose.yml`, compose({ command: ['sh', '-c', 'env | sort; exit 3'] }));
    repo.push('dump the environment and exit');
    const { run, stream } = await deployWithStream(server);
    const deployment = deploymentOf(run, SERVICE);
    assert.equal(deployment.error?.code, 'CONTAINER_EXITED', summary(run));
    for (const [where, text] of [['stored output', deployment.output], ['event stream', streamedOutput(stream)]] as const) {
      assertNoSecret(text, where);
      assert.match(text, /SESSION_VALUE=\*\*\*$/m, `${where}: ${text}`);
      assert.match(text, /FROM_ENV=\*\*\*$/m, `${where}: ${text}`);
      assert.match(text, /API_TOKEN=\*\*\*$/m, `${where}: ${text}`);
      assert.match(text, /POSTGRES_DB=postgres$/m, `${where}: ${text}`);
    }
  });

  // podman refuses the memory limit, quoting it (a value from the server's environment) in its
  // error, which becomes the deployment's error message; podman-compose 1.0.3 then goes on with
  // `podman start <container_name>`, which quotes the same value in the output.
  await step('3. podman quotes a secret in its error: masked in the recorded error and in the failure notification', async () => {
    repo.write(`services/${SERVICE}/podman-compose.yml`, compose({ command: ['sleep', '3600'], broken: true }));
    repo.push('a container named by the server environment, with a memory limit from it that podman refuses');
    const { run, stream } = await deployWithStream(server);
    const deployment = deploymentOf(run, SERVICE);
    assert.equal(deployment.error?.code, 'ENGINE_STATE_MISMATCH', summary(run));
    assert.match(deployment.error!.message, /invalid size: '\*\*\*'/, summary(run));
    assert.match(deployment.output ?? '', /podman start \*\*\*$/m, summary(run));
    assertNoSecret(JSON.stringify(deployment), 'the deployment record');
    assertNoSecret(stream, 'the event stream');

    // Runs 2 and 3 failed: one failure notification each (run 1 succeeded; successes are not sent).
    const bodies = await receiver.waitFor(2);
    for (const body of bodies) assertNoSecret(body, 'a notification');
    const last = JSON.parse(bodies.at(-1)!) as { run: { id: string }; text: string };
    assert.equal(last.run.id, run.id);
    assert.match(last.text, /ENGINE_STATE_MISMATCH: .*\*\*\*/, last.text);
  });
});
