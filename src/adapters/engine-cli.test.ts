import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseInspect } from './engine-cli.js';

// Trimmed from real `container inspect` output on this project's machine (Podman 4.3.1, Docker 20.10).
const podman = JSON.stringify([
  {
    Id: 'aaa', Name: 'p_db_1', Image: 'sha256:img', RestartCount: 0,
    State: { Status: 'running', ExitCode: 0, Health: { Status: 'unhealthy', FailingStreak: 2, Log: [{ ExitCode: 1, Output: 'first' }, { ExitCode: 1, Output: 'probe-out' }] } },
    Config: { Labels: { 'com.docker.compose.project': 'p', 'com.docker.compose.service': 'db' }, Healthcheck: { Test: ['CMD-SHELL', 'false'], Interval: 1_000_000_000, Timeout: 30_000_000_000, Retries: 2 } },
    HostConfig: { RestartPolicy: { Name: '', MaximumRetryCount: 0 } },
  },
  {
    Id: 'bbb', Name: 'p_web_1', Image: 'img', RestartCount: 3,
    // Podman reports an empty Health on containers without a healthcheck.
    State: { Status: 'running', ExitCode: 0, Health: { Status: '', FailingStreak: 0, Log: null } },
    Config: { Labels: { 'com.docker.compose.project': 'p', 'com.docker.compose.service': 'web' }, Healthcheck: null },
    HostConfig: { RestartPolicy: { Name: 'always' } },
  },
]);
const docker = JSON.stringify([
  {
    Id: 'ccc', Name: '/p_app_1', Image: 'sha256:img', RestartCount: 0,
    State: { Status: 'running', ExitCode: 0, Health: { Status: 'starting', FailingStreak: 0, Log: [] } },
    Config: { Labels: { 'com.docker.compose.project': 'p', 'com.docker.compose.service': 'app' }, Healthcheck: { Test: ['CMD', 'true'], Interval: 1_000_000_000, StartPeriod: 4_000_000_000, Retries: 5 } },
    HostConfig: { RestartPolicy: { Name: 'no' } },
  },
  {
    Id: 'ddd', Name: '/p_off_1', Image: 'sha256:img',
    State: { Status: 'exited', ExitCode: 0 },
    Config: { Labels: { 'com.docker.compose.project': 'p', 'com.docker.compose.service': 'off' }, Healthcheck: { Test: ['NONE'] } },
  },
]);

test('inspect: healthcheck timing with engine defaults, State.Health with the last probe, restarts and policy (Podman)', () => {
  const [db, web] = parseInspect(podman);
  assert.deepEqual(db!.healthcheck, { intervalMs: 1_000, timeoutMs: 30_000, retries: 2, startPeriodMs: 0 });
  assert.deepEqual(db!.health, { status: 'unhealthy', failingStreak: 2, lastProbe: { exitCode: 1, output: 'probe-out' } });
  assert.equal(db!.restartPolicy, 'no', "Podman's empty policy name is `no`");
  assert.equal(web!.healthcheck, undefined);
  assert.equal(web!.health, undefined, 'an empty Health is no healthcheck');
  assert.equal(web!.restartCount, 3);
  assert.equal(web!.restartPolicy, 'always');
});

test('inspect: Docker shapes, a healthcheck still starting, and a disabled one (NONE)', () => {
  const [app, off] = parseInspect(docker);
  assert.equal(app!.name, 'p_app_1');
  assert.deepEqual(app!.healthcheck, { intervalMs: 1_000, timeoutMs: 30_000, retries: 5, startPeriodMs: 4_000 });
  assert.deepEqual(app!.health, { status: 'starting', failingStreak: 0 });
  assert.equal(off!.healthcheck, undefined);
  assert.equal(off!.restartCount, 0);
  assert.equal(off!.restartPolicy, 'no');
});
