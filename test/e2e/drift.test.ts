// End to end: drift detection and self-heal on real Podman (podman-compose) and a real dockerd
// (docker compose), with DRIFT_CHECK_SECONDS=1. A container stopped behind the server's back
// shows `drifted` with the reason in the API, the CLI status and the metrics, is notified once
// (a real HTTP receiver), and with SELF_HEAL=true is started again by a heal run.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Command } from 'commander';
import { registerStatusCommand } from '../../src/cli/commands/status.js';
import { E2E_API_TOKEN, EnvRepo, TestServer, projectContainers, removeProject, requireEngines, sh, stepper, summary, uid } from './harness.js';

const id = uid();
const POD = `drift-pod-${id}`;
const DOCK = `drift-dock-${id}`;

const compose = `services:
  app:
    image: localhost/busybox:test
    init: true
    command: ["sleep", "3600"]
`;

interface ServiceView {
  name: string;
  state: string;
  drift: { reasons: string[]; since: string; held: string | null; healsLastHour: number; healRunId: string | null } | null;
}

test('drift: a stopped container is drifted, notified once, and healed with SELF_HEAL=true', { timeout: 120_000 }, async (t) => {
  const engines = requireEngines(t);
  if (!engines) return;
  const dockerEnv = { DOCKER_HOST: engines.dockerHost };
  const received: Array<{ path: string; body: any }> = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '/', body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  const repo = new EnvRepo();
  let server: TestServer | undefined;
  let dataDir: string | undefined;
  t.after(async () => {
    await server?.close();
    removeProject('podman', POD);
    removeProject('docker', DOCK, dockerEnv);
    server?.dispose();
    repo.dispose();
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  });
  const start = async (selfHeal: boolean) => {
    server = await TestServer.start({
      checkout: repo.checkout,
      ...(dataDir ? { dataDir } : {}),
      env: { ...dockerEnv, DRIFT_CHECK_SECONDS: '1', SELF_HEAL: String(selfHeal), NOTIFY_WEBHOOK_URL: hookUrl },
    });
    dataDir = server.dataDir;
  };
  const services = async () => new Map(((await server!.get('/api/services')).services as ServiceView[]).map((s) => [s.name, s] as const));
  /** Polls the API (bounded) until `accept` takes the service's view. */
  const waitFor = async (name: string, accept: (s: ServiceView) => boolean, timeoutMs = 20_000): Promise<ServiceView> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = (await services()).get(name);
      if (s && accept(s)) return s;
      if (Date.now() > deadline) throw new Error(`${name} not as expected after ${timeoutMs} ms: ${JSON.stringify(s)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  const the = (engine: 'podman' | 'docker', project: string) => {
    const containers = projectContainers(engine, project, engine === 'docker' ? dockerEnv : {});
    assert.equal(containers.length, 1, JSON.stringify(containers));
    return containers[0]!;
  };
  const driftNotices = (service: string) => received.filter((r) => r.body?.event === 'service.drift' && r.body.drift?.service === service);
  const step = stepper(t);

  await step('1. both services deploy and are in sync', async () => {
    repo.write(`services/${POD}/podman-compose.yml`, compose);
    repo.write(`services/${DOCK}/docker-compose.yml`, compose);
    repo.push('two services');
    await start(false);
    const run = await server!.deployAll();
    assert.equal(run.status, 'succeeded', summary(run));
    assert.equal(the('podman', POD).state, 'running');
    assert.equal(the('docker', DOCK).state, 'running');
    // Two checks later nothing has drifted.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const all = await services();
    assert.equal(all.get(POD)?.state, 'in-sync', JSON.stringify(all.get(POD)));
    assert.equal(all.get(DOCK)?.state, 'in-sync', JSON.stringify(all.get(DOCK)));
    assert.equal(received.length, 0);
  });

  await step('2. podman stop / docker stop: drifted with the reason, in the API, CLI and metrics, notified once', async () => {
    const pod = the('podman', POD);
    const dock = the('docker', DOCK);
    // A container someone started in the project by hand: a stray.
    const stray = `${POD}-debug-${id}`;
    sh('podman', ['run', '-d', '--name', stray, '--label', `com.docker.compose.project=${POD}`, '--label', 'com.docker.compose.service=debug', 'localhost/busybox:test', 'sleep', '3600']);
    sh('podman', ['stop', '-t', '1', pod.id]);
    sh('docker', ['stop', '-t', '1', dock.id], { env: dockerEnv });
    const podView = await waitFor(POD, (s) => s.state === 'drifted' && s.drift!.reasons.length === 2);
    const dockView = await waitFor(DOCK, (s) => s.state === 'drifted');
    assert.match(podView.drift!.reasons[0]!, new RegExp(`^container ${pod.name} exited \\(code \\d+\\)$`));
    assert.equal(podView.drift!.reasons[1], `stray container ${stray} (compose service debug) is not part of the deployment`);
    assert.match(dockView.drift!.reasons.join(), new RegExp(`^container ${dock.name} exited \\(code \\d+\\)$`));
    assert.equal(podView.drift!.held, null);
    assert.equal(podView.drift!.healRunId, null, 'SELF_HEAL is off: nothing is redeployed');
    assert.equal(projectContainers('podman', POD).find((c) => c.id === pod.id)?.state, 'exited');

    // Several more checks: still one notice per service.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    for (const [service, view] of [[POD, podView], [DOCK, dockView]] as const) {
      const notices = driftNotices(service);
      assert.equal(notices.length, 1, `${service}: ${JSON.stringify(received.map((r) => r.body?.title))}`);
      // The notice has what the first check that found the episode saw.
      assert.ok(notices[0]!.body.drift.reasons.length > 0);
      for (const reason of notices[0]!.body.drift.reasons) assert.ok(view.drift!.reasons.includes(reason), reason);
      assert.match(notices[0]!.body.title, new RegExp(`drifted: ${service}`));
    }

    const metrics = await (await fetch(`${server!.url}/metrics`)).text();
    assert.match(metrics, /^gds_services\{state="drifted"\} 2$/m);

    // The CLI's status, against the live server.
    let stdout = '';
    const program = new Command().exitOverride();
    registerStatusCommand(program, {
      env: { GDS_URL: server!.url, API_TOKEN: E2E_API_TOKEN },
      stdout: { write: (s: string) => ((stdout += s), true) } as never,
      stderr: { write: () => true } as never,
      stdin: process.stdin,
      setExitCode: () => undefined,
    });
    await program.parseAsync(['node', 'gds', 'status', '--state', 'drifted']);
    assert.match(stdout, new RegExp(`${POD}\\s+podman\\s+drifted\\s.*container ${pod.name} exited`));
    assert.match(stdout, new RegExp(`${DOCK}\\s+docker\\s+drifted\\s.*container ${dock.name} exited`));
  });

  await step('3. restarted with SELF_HEAL=true: a heal run starts each container again, removes the stray, and the services are in sync', async () => {
    await server!.close();
    await start(true);
    // Drift state is in memory: the new instance finds the drift at its first check and heals it.
    type RunRow = { id: string; origin: string; trigger: string; service: string; status: string };
    const healRuns = async () => ((await server!.get('/api/runs?limit=20')).runs as RunRow[]).filter((r) => r.origin === 'heal');
    for (const deadline = Date.now() + 60_000; ; await new Promise((resolve) => setTimeout(resolve, 250))) {
      const runs = await healRuns();
      if (runs.length >= 2 && runs.every((r) => r.status === 'succeeded' || r.status === 'failed')) break;
      if (Date.now() > deadline) throw new Error(`no two finished heal runs: ${JSON.stringify(runs)}`);
    }
    const runs = await healRuns();
    const details = await Promise.all(runs.map(async (r) => summary(await server!.get(`/api/runs/${r.id}`))));
    assert.deepEqual(runs.map((r) => [r.service, r.trigger, r.status]).sort(), [[DOCK, 'deploy-service', 'succeeded'], [POD, 'deploy-service', 'succeeded']], details.join('\n'));
    const podView = await waitFor(POD, (s) => s.state === 'in-sync' && s.drift === null);
    const dockView = await waitFor(DOCK, (s) => s.state === 'in-sync' && s.drift === null);
    assert.equal(podView.drift, null);
    assert.equal(dockView.drift, null);
    // What runs, read from the engines: the stopped containers run again, the stray is gone.
    assert.equal(the('podman', POD).state, 'running');
    assert.equal(the('docker', DOCK).state, 'running');
    assert.equal((await healRuns()).length, 2, 'one heal per service: back in sync, nothing more');
    const metrics = await (await fetch(`${server!.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`^gds_drift_heals_total\\{service="${POD}"\\} 1$`, 'm'));
    assert.match(metrics, /^gds_services\{state="drifted"\} 0$/m);
  });
});
