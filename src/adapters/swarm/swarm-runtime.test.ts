import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import type { SwarmServiceInspect, SwarmTaskInspect } from '../../domain/swarm-converge.js';
import type { ServiceSource } from '../../domain/types.js';
import { isAppError } from '../../errors.js';
import type { ProcessRequest, ProcessRunner } from '../process-runner.js';
import { SwarmCli } from './swarm-cli.js';
import { SwarmRuntime } from './swarm-runtime.js';

const SHA = 'c'.repeat(64);
const DIGEST_1 = `sha256:${'1'.repeat(64)}`;
const DIGEST_2 = `sha256:${'2'.repeat(64)}`;
const REF = 'reg:5000/web:1';

/**
 * A fake docker CLI over a one-service Swarm: `stack deploy` and `service update` give the
 * service a new spec version, then each poll advances it by `script` (what the service and its
 * tasks look like after the n-th poll); every other command reads that state.
 */
function fakeSwarm(script: Array<(svc: SwarmServiceInspect) => { service?: Partial<SwarmServiceInspect>; tasks: SwarmTaskInspect[] }>) {
  const calls: ProcessRequest[] = [];
  let svc: SwarmServiceInspect | undefined;
  let tasks: SwarmTaskInspect[] = [];
  let polls = 0;
  let networkAsks = 0;
  const configs = new Set([`app_web_conf_${'0'.repeat(12)}`, 'operator-config']);
  const removed: string[] = [];
  const newSpec = (image: string) => {
    svc = { ID: 's1', Version: { Index: (svc?.Version?.Index ?? 0) + 1 }, Spec: { Name: 'app_web', TaskTemplate: { ContainerSpec: { Image: image } }, Mode: { Replicated: { Replicas: 1 } } }, UpdateStatus: null };
    polls = 0;
  };
  const run: ProcessRunner = async (request) => {
    calls.push(request);
    const a = request.args;
    const ok = (stdout: string) => ({ exitCode: 0, stdout, stderr: '', output: stdout });
    if (a[0] === 'stack' && a[1] === 'deploy') {
      const image = (parse(request.input ?? '') as { services: { web: { image: string } } }).services.web.image;
      newSpec(image.includes('@') ? image : `${image}@${DIGEST_1}`);
      // Echoes what it was given, as a verbose tool might: the runtime's redactor must catch it.
      request.onOutput?.(request.input ?? '');
      return ok('Updating service app_web\n');
    }
    if (a[0] === 'service' && a[1] === 'update') {
      newSpec(a[a.indexOf('--image') + 1]!);
      return ok('app_web\n');
    }
    if (a[0] === 'service' && a[1] === 'ls') return ok(svc ? 's1\n' : '');
    if (a[0] === 'service' && a[1] === 'inspect') {
      const step = script[Math.min(polls, script.length - 1)]!(svc!);
      polls += 1;
      svc = { ...svc!, ...step.service };
      tasks = step.tasks;
      return ok(JSON.stringify([svc]));
    }
    if (a[0] === 'service' && a[1] === 'ps') return ok(tasks.map((t) => t.ID).join('\n'));
    if (a[0] === 'inspect') return ok(JSON.stringify(tasks));
    if (a[0] === 'config' && a[1] === 'ls') return ok([...configs].join('\n'));
    if (a[0] === 'config' && a[1] === 'rm') {
      removed.push(a.at(-1)!);
      configs.delete(a.at(-1)!);
      return ok('');
    }
    if (a[0] === 'secret' && a[1] === 'ls') return ok('');
    if (a[0] === 'version') return ok('28.2.2\n');
    if (a[0] === 'stack' && a[1] === 'rm') {
      svc = undefined;
      return ok('Removing service app_web\n');
    }
    if (a[0] === 'network' && a[1] === 'ls') return ok(networkAsks++ < 1 ? 'app_default\n' : '');
    throw new Error(`unexpected docker ${a.join(' ')}`);
  };
  return { run, calls, removed, configs, state: () => svc };
}

const running = (svc: SwarmServiceInspect, id = 't-new') => ({
  tasks: [{ ID: id, ServiceID: 's1', DesiredState: 'running', Spec: { ContainerSpec: svc.Spec.TaskTemplate!.ContainerSpec! }, Status: { State: 'running' } }],
});

function setup(run: ProcessRunner, digest = async () => DIGEST_2) {
  const dir = mkdtempSync(path.join(tmpdir(), 'gds-swarm-runtime-'));
  writeFileSync(path.join(dir, 'docker-stack.yml'), `services:\n  web:\n    image: ${REF}\n    environment:\n      API_TOKEN: hunter22\n    configs: [web_conf]\nconfigs:\n  web_conf:\n    file: ./web.conf\n`);
  writeFileSync(path.join(dir, 'web.conf'), 'a=1\n');
  let clock = 0;
  const runtime = new SwarmRuntime({
    cli: new SwarmCli(run, 1_000),
    authEnv: () => ({ DOCKER_CONFIG: '/auth' }),
    processEnv: {},
    digest,
    rollbackOnFailure: true,
    gate: { settleMs: 2_000, healthTimeoutMs: 10_000 },
    timing: { now: () => clock, sleep: async (ms) => void (clock += ms), pollMs: 1_000 },
  });
  const service: ServiceSource = { name: 'app', dir, composeFile: 'docker-stack.yml', runtime: 'swarm', projectName: 'app', files: { 'docker-stack.yml': SHA, 'web.conf': SHA }, fingerprint: 'f', requiredEnvFiles: [] };
  return { runtime, service, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

test('deploy: the rendered stack goes to docker stack deploy on stdin; the runtime waits for task state, then removes old configs', async (t) => {
  const swarm = fakeSwarm([() => ({ service: { UpdateStatus: { State: 'updating', StartedAt: 'u1' } }, tasks: [] }), (svc) => ({ service: { UpdateStatus: { State: 'completed', StartedAt: 'u1' } }, ...running(svc) })]);
  const { runtime, service, dispose } = setup(swarm.run);
  t.after(dispose);
  const output: string[] = [];
  const result = await runtime.deploy(service, { output: (c) => output.push(c) });
  const deploy = swarm.calls.find((c) => c.args[1] === 'deploy')!;
  assert.deepEqual(deploy.args, ['stack', 'deploy', '--with-registry-auth', '--prune', '-c', '-', 'app']);
  assert.equal(deploy.cwd, service.dir);
  assert.equal(deploy.env?.['DOCKER_CONFIG'], '/auth');
  const rendered = parse(deploy.input!) as { services: { web: { deploy: { update_config: { failure_action: string } } } }; configs: { web_conf: { name: string; file: string } } };
  assert.equal(rendered.configs.web_conf.name, `app_web_conf_${SHA.slice(0, 12)}`);
  assert.equal(rendered.configs.web_conf.file, path.join(service.dir, 'web.conf'));
  assert.equal(rendered.services.web.deploy.update_config.failure_action, 'rollback');
  assert.deepEqual(result, { images: { web: DIGEST_1 }, gated: ['web'] });
  assert.deepEqual(swarm.removed, [`app_web_conf_${'0'.repeat(12)}`], 'only the server\'s own old config goes');
  const text = output.join('');
  assert.match(text, /converged: web/);
  assert.match(text, /removed old config app_web_conf_0{12}/);
  assert.ok(!text.includes('hunter22'), 'secret-looking values are masked in the output');
  // Polled until the update completed and then through the 2 s settle window on the same task.
  assert.ok(swarm.calls.filter((c) => c.args[1] === 'inspect').length >= 4);
});

test('a Swarm rollback is the gate failure CONTAINER_EXITED with the failing task\'s error; old configs stay', async (t) => {
  const failedTask = { ID: 'bad-task-0001', ServiceID: 's1', DesiredState: 'shutdown', Status: { State: 'failed', Err: 'task: non-zero exit (1)', Timestamp: 't' } };
  const swarm = fakeSwarm([
    () => ({ service: { UpdateStatus: { State: 'rollback_started', StartedAt: 'u2' } }, tasks: [failedTask] }),
    (svc) => ({ service: { UpdateStatus: { State: 'rollback_completed', StartedAt: 'u2', Message: 'rollback completed' } }, tasks: [failedTask, ...running(svc, 'old').tasks] }),
  ]);
  const { runtime, service, dispose } = setup(swarm.run);
  t.after(dispose);
  await assert.rejects(runtime.deploy(service, { output: () => undefined }), (error: unknown) => {
    assert.ok(isAppError(error) && error.code === 'CONTAINER_EXITED', String(error));
    assert.match(error.message, /^web: Swarm rolled the update back: rollback completed; task bad-task-000 failed: task: non-zero exit \(1\)$/);
    assert.equal(error.details?.['swarmRolledBack'], true);
    return true;
  });
  assert.deepEqual(swarm.removed, []);
});

test('not converged within DEPLOY_HEALTH_TIMEOUT_SECONDS: CONTAINER_RESTARTING when tasks keep failing', async (t) => {
  const swarm = fakeSwarm([() => ({ tasks: [{ ID: 'crash-task-01', ServiceID: 's1', DesiredState: 'running', Status: { State: 'failed', Err: 'task: non-zero exit (2)', Timestamp: 't' } }] })]);
  const { runtime, service, dispose } = setup(swarm.run);
  t.after(dispose);
  await assert.rejects(runtime.deploy(service, { output: () => undefined }), (error: unknown) => {
    assert.ok(isAppError(error) && error.code === 'CONTAINER_RESTARTING', String(error));
    assert.match(error.message, /not converged within 10 s .*0\/1 tasks running the current spec; task crash-task-0 failed: task: non-zero exit \(2\)/);
    return true;
  });
});

test('update: a moved tag is pinned with docker service update --image ref@digest; an unmoved one is left alone', async (t) => {
  const swarm = fakeSwarm([(svc) => running(svc)]);
  let digest = DIGEST_2;
  const { runtime, service, dispose } = setup(swarm.run, async () => digest);
  t.after(dispose);
  await runtime.deploy(service, { output: () => undefined });
  const result = await runtime.update(service, { output: () => undefined });
  const update = swarm.calls.find((c) => c.args[1] === 'update')!;
  assert.deepEqual(update.args, ['service', 'update', '--detach', '--with-registry-auth', '--image', `${REF}@${DIGEST_2}`, '--', 'app_web']);
  assert.deepEqual(result, { imagesBefore: { web: DIGEST_1 }, imagesAfter: { web: DIGEST_2 }, recreated: ['web'], gated: ['web'] });
  swarm.calls.length = 0;
  digest = DIGEST_2;
  const again = await runtime.update(service, { output: () => undefined });
  assert.equal(swarm.calls.filter((c) => c.args[1] === 'update').length, 0);
  assert.deepEqual(again.recreated, []);
  // A later deploy keeps the pinned digest instead of moving the tag.
  await runtime.deploy(service, { output: () => undefined });
  const rendered = parse(swarm.calls.find((c) => c.args[1] === 'deploy')!.input!) as { services: { web: { image: string } } };
  assert.equal(rendered.services.web.image, `${REF}@${DIGEST_2}`);
});

test('down (pruning a removed stack): docker stack rm, then waits until its services and networks are gone', async (t) => {
  const swarm = fakeSwarm([(svc) => running(svc)]);
  const { runtime, service, dispose } = setup(swarm.run);
  t.after(dispose);
  await runtime.deploy(service, { output: () => undefined });
  swarm.calls.length = 0;
  const output: string[] = [];
  await runtime.down({ service: 'app', runtime: 'swarm', projectName: 'app', composeFile: 'docker-stack.yml', text: '' }, { output: (c) => output.push(c) });
  assert.deepEqual(swarm.calls[0]!.args, ['stack', 'rm', 'app']);
  assert.equal(swarm.calls.filter((c) => c.args[0] === 'network').length, 2, 'asked again until the network was gone');
  assert.match(output.join(''), /the stack app is gone/);
});

test('describeTool names docker stack with the CLI version, asked once', async (t) => {
  const swarm = fakeSwarm([(svc) => running(svc)]);
  const { runtime, dispose } = setup(swarm.run);
  t.after(dispose);
  assert.equal(await runtime.describeTool(), 'docker stack (docker CLI 28.2.2)');
  await runtime.describeTool();
  assert.equal(swarm.calls.filter((c) => c.args[0] === 'version').length, 1);
});
