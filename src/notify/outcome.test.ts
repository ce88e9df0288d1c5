import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildNotification, formatError, MAX_ERROR_CHARS, shortCommit, truncate, type RunOutcome } from './outcome.js';

const COMMIT = '1a2b3c4d5e6f708192a3b4c5d6e7f80912345678';
type Dep = RunOutcome['deployments'][number];

function outcome(deployments: Dep[], run: Partial<RunOutcome['run']> = {}, extra: Partial<RunOutcome> = {}): RunOutcome {
  return {
    serverName: 'home-server',
    dashboardUrl: 'https://deploy.example.com/#/runs/run-1',
    run: {
      id: 'run-1',
      trigger: 'deploy-all-changed',
      service: null,
      status: deployments.some((d) => d.status === 'failed' || d.status === 'interrupted') ? 'failed' : 'succeeded',
      commit: COMMIT,
      error: null,
      startedAt: '2024-05-01T10:00:00.000Z',
      finishedAt: '2024-05-01T10:00:12.500Z',
      ...run,
    },
    deployments,
    ...extra,
  };
}

const dep = (service: string, status: string, extra: Partial<Dep> = {}): Dep => ({
  service,
  action: 'deploy',
  status,
  reason: 'changed: compose.yaml',
  error: null,
  previousStatus: null,
  ...extra,
});
const composeError = { code: 'COMPOSE_FAILED', message: 'podman-compose up exited with 125: image not known' };

describe('buildNotification', () => {
  it('does not notify a failure again that repeats the previous one (same inputs, same code), and lists it beside news', () => {
    const again = dep('app', 'failed', { error: composeError, previousStatus: 'failed', repeated: true });
    assert.equal(buildNotification(outcome([again]), { onSuccess: false }), null, 'nothing new: no message');
    assert.equal(buildNotification(outcome([again, dep('web', 'succeeded')]), { onSuccess: false }), null);
    const news = buildNotification(outcome([again, dep('db', 'failed', { error: composeError })]), { onSuccess: false })!;
    assert.equal(news.kind, 'failure');
    assert.deepEqual(news.failed, ['db']);
    assert.match(news.text, /Still failing \(notified before\):\n- app: deploy failed/);
    const changed = buildNotification(outcome([dep('app', 'failed', { error: composeError, previousStatus: 'failed' })]), { onSuccess: false })!;
    assert.deepEqual(changed.failed, ['app'], 'a failure of other inputs, or with another code, is news');
  });

  it("counts a rolled-back self-update as a failure, and the next success as the service's recovery", () => {
    const rolledBack = buildNotification(
      outcome([dep('gitops-deploy-server', 'rolled-back', { error: { code: 'SELF_UPDATE_UNHEALTHY', message: 'no /health in 90 s' } })], { status: 'failed' }),
      { onSuccess: false },
    );
    assert.equal(rolledBack?.kind, 'failure');
    assert.deepEqual(rolledBack?.failed, ['gitops-deploy-server']);
    const recovered = buildNotification(outcome([dep('gitops-deploy-server', 'succeeded', { previousStatus: 'rolled-back' })]), { onSuccess: false });
    assert.equal(recovered?.kind, 'recovery');
  });

  it('says "rolled back" with the reason when every failure was rolled back by the server', () => {
    const n = buildNotification(
      outcome([dep('app', 'rolled-back', { error: { code: 'CONTAINER_EXITED', message: 'app-main-1 exited with code 1; rolled back to 1a2b3c4d5e6f' } })], { status: 'failed' }),
      { onSuccess: false },
    );
    assert.equal(n?.kind, 'failure');
    assert.equal(n?.title, '[home-server] deploy rolled back: app (commit 1a2b3c4)');
    assert.match(n!.text, /^Deployment failed on home-server and was rolled back\./);
    assert.match(n!.text, /- app: deploy rolled back \(changed: compose.yaml\)\n  CONTAINER_EXITED: app-main-1 exited with code 1; rolled back to 1a2b3c4d5e6f/);
    // A plain failure beside it is not called rolled back.
    const mixed = buildNotification(outcome([dep('app', 'rolled-back'), dep('db', 'failed', { error: composeError })]), { onSuccess: false });
    assert.match(mixed!.title, /deploy failed: app, db/);
  });

  it('reports failed services with commit, reason, error and link, in one message', () => {
    const n = buildNotification(
      outcome([
        dep('web', 'succeeded'),
        dep('db', 'failed', { error: composeError }),
        dep('app', 'interrupted', { error: { code: 'DEPLOYMENT_INTERRUPTED', message: 'The server stopped' } }),
        dep('gitops-deploy-server', 'skipped', { action: 'skip', reason: "the deploy server's own service is not redeployed" }),
      ]),
      { onSuccess: false },
    );
    assert.ok(n);
    assert.equal(n.kind, 'failure');
    assert.equal(n.title, '[home-server] deploy failed: app, db (commit 1a2b3c4)');
    assert.deepEqual(n.failed, ['app', 'db']);
    assert.deepEqual(n.succeeded, ['web']);
    assert.deepEqual(n.recovered, []);
    assert.equal(
      n.text,
      [
        'Deployment failed on home-server.',
        `Commit: ${COMMIT}`,
        'Trigger: deploy-all-changed, run run-1',
        'Duration: 12.5 s',
        '',
        'Failed:',
        '- app: deploy interrupted (changed: compose.yaml)',
        '  DEPLOYMENT_INTERRUPTED: The server stopped',
        '- db: deploy failed (changed: compose.yaml)',
        '  COMPOSE_FAILED: podman-compose up exited with 125: image not known',
        '',
        'Succeeded:',
        '- web: deploy succeeded (changed: compose.yaml)',
        '',
        'Skipped:',
        "- gitops-deploy-server: skipped (the deploy server's own service is not redeployed)",
        '',
        'Details: https://deploy.example.com/#/runs/run-1',
      ].join('\n'),
    );
  });

  it('reports a run that failed before any deployment with the run error', () => {
    const n = buildNotification(
      outcome([], { status: 'failed', commit: null, error: { code: 'SYNC_FAILED', message: 'git fetch: could not resolve host' } }),
      { onSuccess: false },
    );
    assert.ok(n);
    assert.equal(n.kind, 'failure');
    assert.equal(n.title, '[home-server] deploy failed: SYNC_FAILED');
    assert.deepEqual(n.failed, []);
    assert.match(n.text, /^Commit: unknown$/m);
    assert.match(n.text, /^Run error: SYNC_FAILED: git fetch: could not resolve host$/m);
  });

  it('names the service of a single-service run that failed before deploying', () => {
    const n = buildNotification(
      outcome([], { trigger: 'redeploy-and-update', service: 'app', status: 'failed', error: { code: 'UNKNOWN_SERVICE', message: 'No service directory is named app' } }),
      { onSuccess: false },
    );
    assert.equal(n?.title, '[home-server] deploy failed: app (commit 1a2b3c4)');
    assert.match(n?.text ?? '', /^Trigger: redeploy-and-update \(app\), run run-1$/m);
  });

  it('still reports a failed run that recorded no error', () => {
    const n = buildNotification(outcome([], { status: 'failed' }), { onSuccess: false });
    assert.equal(n?.kind, 'failure');
    assert.equal(n?.title, '[home-server] deploy failed: run failed (commit 1a2b3c4)');
    assert.match(n?.text ?? '', /Run error: the run failed without a recorded error/);
  });

  it('reports a recovery when a service that failed last time succeeds', () => {
    const n = buildNotification(
      outcome([dep('db', 'succeeded', { previousStatus: 'failed' }), dep('web', 'succeeded', { previousStatus: 'succeeded' }), dep('app', 'succeeded', { previousStatus: 'interrupted' })]),
      { onSuccess: false },
    );
    assert.ok(n);
    assert.equal(n.kind, 'recovery');
    assert.equal(n.title, '[home-server] deploy recovered: app, db (commit 1a2b3c4)');
    assert.deepEqual(n.recovered, ['app', 'db']);
    assert.deepEqual(n.succeeded, ['web']);
    assert.match(n.text, /^- db: deploy succeeded, was failed \(changed: compose.yaml\)$/m);
  });

  it('a failure in the same run outranks a recovery', () => {
    const n = buildNotification(outcome([dep('db', 'succeeded', { previousStatus: 'failed' }), dep('web', 'failed', { error: composeError })]), { onSuccess: true });
    assert.equal(n?.kind, 'failure');
    assert.deepEqual(n?.failed, ['web']);
    assert.deepEqual(n?.recovered, ['db']);
  });

  it('reports plain success only when asked', () => {
    const run = outcome([dep('web', 'succeeded', { action: 'update', reason: 'image published; recreated: web', previousStatus: 'succeeded' })], {
      trigger: 'redeploy-and-update',
      service: 'web',
    });
    assert.equal(buildNotification(run, { onSuccess: false }), null);
    const n = buildNotification(run, { onSuccess: true });
    assert.equal(n?.kind, 'success');
    assert.equal(n?.title, '[home-server] deploy succeeded: web (commit 1a2b3c4)');
    assert.match(n?.text ?? '', /^- web: update succeeded \(image published; recreated: web\)$/m);
  });

  it('says nothing about a run that deployed nothing', () => {
    const skipOnly = outcome([dep('gitops-deploy-server', 'skipped', { action: 'skip' })]);
    assert.equal(buildNotification(skipOnly, { onSuccess: true }), null);
    assert.equal(buildNotification(outcome([]), { onSuccess: true }), null);
  });

  it('ignores the previous status of a skip and treats skips as neither failed nor succeeded', () => {
    const n = buildNotification(outcome([dep('self', 'skipped', { action: 'skip', previousStatus: 'failed' })]), { onSuccess: true });
    assert.equal(n, null);
  });

  it('leaves out the link, commit and duration it does not have', () => {
    const n = buildNotification(outcome([dep('db', 'failed', { error: composeError })], { commit: null, startedAt: null }, { dashboardUrl: null }), {
      onSuccess: false,
    });
    assert.equal(n?.title, '[home-server] deploy failed: db');
    assert.doesNotMatch(n?.text ?? '', /Details:|Duration:/);
  });

  it('keeps the title to one line with many services', () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const n = buildNotification(outcome(names.map((s) => dep(s, 'failed'))), { onSuccess: false });
    assert.equal(n?.title, '[home-server] deploy failed: a, b, c, d, e and 2 more (commit 1a2b3c4)');
    assert.deepEqual(n?.failed, names);
  });

  it('cuts long multi-line errors to one bounded line', () => {
    const long = `first line\n${'x'.repeat(2000)}\nlast line`;
    const n = buildNotification(outcome([dep('db', 'failed', { error: { code: 'COMPOSE_FAILED', message: long } })]), { onSuccess: false });
    const errorLine = (n?.text ?? '').split('\n').find((l) => l.includes('COMPOSE_FAILED'));
    assert.ok(errorLine);
    assert.ok(errorLine.length <= MAX_ERROR_CHARS + '  COMPOSE_FAILED: '.length, `line is ${errorLine.length} chars`);
    assert.ok(errorLine.startsWith('  COMPOSE_FAILED: first line xxx'));
    assert.ok(errorLine.endsWith('…'));
  });

  it('is deterministic whatever order the deployments come in', () => {
    const deps = [dep('b', 'failed'), dep('a', 'succeeded'), dep('c', 'failed')];
    const one = buildNotification(outcome(deps), { onSuccess: false });
    const two = buildNotification(outcome([...deps].reverse()), { onSuccess: false });
    assert.equal(one?.text, two?.text);
    assert.equal(one?.title, two?.title);
  });

  it('formats durations over a minute', () => {
    const n = buildNotification(outcome([dep('a', 'failed')], { finishedAt: '2024-05-01T10:02:59.900Z' }), { onSuccess: false });
    assert.match(n?.text ?? '', /^Duration: 2 min 59 s$/m);
  });
});

describe('helpers', () => {
  it('shortCommit keeps 7 characters', () => {
    assert.equal(shortCommit(COMMIT), '1a2b3c4');
    assert.equal(shortCommit(null), null);
  });
  it('truncate does not split a surrogate pair', () => {
    assert.equal(truncate('😀😀😀', 2), '😀…');
    assert.equal(truncate('short', 10), 'short');
  });
  it('formatError puts code and message on one line', () => {
    assert.equal(formatError({ code: 'X', message: 'a\n  b' }), 'X: a b');
  });
});
