import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lastTaskError, runsCurrentSpec, serviceVerdict, stackServiceKey, type SwarmServiceInspect, type SwarmTaskInspect } from './swarm-converge.js';

const spec = { Image: 'reg/web:1@sha256:aa', Args: ['sleep', '3600'], StopGracePeriod: 1e9, Privileges: { NoNewPrivileges: false } };

function service(overrides: Partial<SwarmServiceInspect> = {}, replicas = 1): SwarmServiceInspect {
  return { ID: 'svc1', Version: { Index: 10 }, Spec: { Name: 'app_web', TaskTemplate: { ContainerSpec: spec }, Mode: { Replicated: { Replicas: replicas } } }, ...overrides };
}

function task(id: string, state: string, desired = 'running', containerSpec: Record<string, unknown> = { Image: spec.Image, Args: spec.Args }, err?: string): SwarmTaskInspect {
  return { ID: id, ServiceID: 'svc1', DesiredState: desired, Spec: { ContainerSpec: containerSpec }, Status: { State: state, Timestamp: `2026-01-01T00:00:0${id.length}Z`, ...(err ? { Err: err } : {}) } };
}

test('converged: the desired replicas run tasks of the current spec (daemon-filled fields ignored)', () => {
  const verdict = serviceVerdict(service({}, 2), [task('t1', 'running'), task('t2', 'running'), task('old', 'shutdown', 'shutdown')], undefined);
  assert.deepEqual(verdict, { kind: 'converged', running: ['t1', 't2'] });
});

test('pending: a task of the previous spec still runs, or too few run', () => {
  assert.equal(serviceVerdict(service(), [task('t1', 'running', 'running', { Image: 'reg/web:1@sha256:00', Args: spec.Args })], undefined).kind, 'pending');
  assert.equal(serviceVerdict(service({}, 2), [task('t1', 'running'), task('t2', 'starting')], undefined).kind, 'pending');
});

test('a fresh update status decides: updating waits, rollback_completed is Swarm\'s rollback, paused a failure', () => {
  const running = [task('t1', 'running'), task('bad', 'failed', 'shutdown', { Image: 'x' }, 'task: non-zero exit (1)')];
  const at = (state: string) => service({ UpdateStatus: { State: state, StartedAt: 'new', Message: 'm' } });
  assert.equal(serviceVerdict(at('updating'), running, { version: 9, updateStartedAt: 'old' }).kind, 'pending');
  const rolled = serviceVerdict(at('rollback_completed'), running, { version: 9, updateStartedAt: 'old' });
  assert.equal(rolled.kind, 'rolled-back');
  assert.ok(rolled.kind === 'rolled-back' && rolled.taskError?.includes('task: non-zero exit (1)'), JSON.stringify(rolled));
  assert.equal(serviceVerdict(at('paused'), running, undefined).kind, 'failed');
});

test('a stale update status (an earlier update\'s) is not this deployment\'s verdict', () => {
  const stale = service({ UpdateStatus: { State: 'rollback_completed', StartedAt: 'old' } });
  assert.equal(serviceVerdict(stale, [task('t1', 'running')], { version: 10, updateStartedAt: 'old' }).kind, 'converged');
});

test('helpers: the stack service key, the newest task error, spec comparison', () => {
  assert.equal(stackServiceKey('app', 'app_web'), 'web');
  assert.equal(stackServiceKey('app', 'other'), 'other');
  assert.equal(lastTaskError([task('a', 'failed', 'shutdown', {}, 'first'), task('bbb', 'rejected', 'shutdown', {}, 'second')]), 'task bbb rejected: second');
  assert.equal(lastTaskError([task('a', 'running')]), undefined);
  assert.ok(runsCurrentSpec(service(), task('t', 'running')));
  assert.ok(!runsCurrentSpec(service(), task('t', 'running', 'running', { Image: spec.Image, Args: spec.Args, Env: ['A=1'] })));
});

test('jobs and zero replicas are converged without waiting on tasks', () => {
  assert.equal(serviceVerdict(service({}, 0), [], undefined).kind, 'converged');
  const job = service();
  job.Spec.Mode = { ReplicatedJob: {} };
  assert.equal(serviceVerdict(job, [], undefined).kind, 'converged');
});
