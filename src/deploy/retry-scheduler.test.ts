import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { EnvRepo } from '../../test/e2e/harness.js';
import { FakeRuntime } from '../../test/fakes/runtime.js';
import { createGitRepository } from '../adapters/git-repository.js';
import { createProcessRunner } from '../adapters/process-runner.js';
import { createServiceCatalog } from '../adapters/service-catalog.js';
import { openSqliteStore } from '../adapters/sqlite-store.js';
import type { RunOrigin, ServiceSource } from '../domain/types.js';
import { AppError } from '../errors.js';
import { systemClock } from '../ports/clock.js';
import type { ActionContext, Runtime } from '../ports/runtime.js';
import type { DeploymentRecord, RunEventRecord } from '../ports/store.js';
import { createDispatcher } from './dispatcher.js';
import { Pipeline } from './pipeline.js';
import { createRetryScheduler, type RetryTimers } from './retry-scheduler.js';
import { RunEventBus } from './run-events.js';

/** A clock whose time moves only when the test says, firing the timers that fall due. */
class FakeClock implements RetryTimers {
  time = 0;
  private timers = new Map<number, { at: number; callback: () => void }>();
  private next = 1;
  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.time + ms, callback });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].callback();
    }
    this.time = until;
  }
  get pending(): number {
    return this.timers.size;
  }
}

function setup() {
  const clock = new FakeClock();
  const listeners: Array<(event: RunEventRecord) => void> = [];
  const records = new Map<string, DeploymentRecord>();
  const queued: Array<{ trigger: string; service: string; origin: RunOrigin; at: number }> = [];
  let n = 0;
  const scheduler = createRetryScheduler({
    events: { observe: (listener) => (listeners.push(listener), () => void listeners.splice(listeners.indexOf(listener), 1)) },
    store: { getDeployment: (id) => records.get(id) },
    triggers: {
      deployService: (service, origin) => (queued.push({ trigger: 'deploy-service', service, origin, at: clock.time }), { runId: `r${queued.length}`, coalesced: false }),
      redeployAndUpdate: (service, origin) => (queued.push({ trigger: 'redeploy-and-update', service, origin, at: clock.time }), { runId: `r${queued.length}`, coalesced: false }),
    },
    backoff: { initialMs: 30_000, maxMs: 120_000 },
    selfService: 'gitops-deploy-server',
    logger: pino({ level: 'silent' }),
    now: () => clock.time,
    timers: clock,
  });
  const end = (service: string, status: DeploymentRecord['status'], errorCode: string | null = null, extra: Partial<DeploymentRecord> = {}) => {
    const id = `d${++n}`;
    const record = { id, runId: 'r', service, action: 'deploy', status, reason: '', commit: null, errorCode, error: errorCode ? 'it failed' : null, output: '', imagesBefore: null, imagesAfter: null, handoff: null, fingerprint: 'f1', files: null, createdAt: '', startedAt: null, finishedAt: null, ...extra } as DeploymentRecord;
    records.set(id, record);
    for (const listener of [...listeners]) listener({ id: n, runId: 'r', type: 'deployment', data: { deploymentId: id, service, status } });
  };
  return { clock, scheduler, queued, end };
}

describe('retry scheduler', () => {
  it('retries a transient failure with capped exponential backoff, a deploy with origin retry', () => {
    const { clock, scheduler, queued, end } = setup();
    end('app', 'failed', 'ENGINE_UNAVAILABLE');
    assert.equal(scheduler.state('app')?.attempt, 1);
    clock.advance(29_999);
    assert.equal(queued.length, 0);
    clock.advance(1);
    assert.deepEqual(queued, [{ trigger: 'deploy-service', service: 'app', origin: 'retry', at: 30_000 }]);
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const from = clock.time;
      end('app', 'failed', 'PROCESS_TIMEOUT');
      clock.advance(10 * 60_000);
      delays.push(queued.at(-1)!.at - from);
    }
    assert.deepEqual(delays, [60_000, 120_000, 120_000, 120_000], 'doubles, then stays at the cap');
  });

  it('stops on a success, and a later transient failure starts again from the first delay', () => {
    const { clock, scheduler, queued, end } = setup();
    end('app', 'failed', 'ENGINE_UNAVAILABLE');
    clock.advance(30_000);
    end('app', 'failed', 'ENGINE_UNAVAILABLE');
    assert.equal(scheduler.state('app')?.attempt, 2);
    end('app', 'succeeded');
    assert.equal(scheduler.state('app'), undefined);
    assert.equal(clock.pending, 0);
    clock.advance(60 * 60_000);
    assert.equal(queued.length, 1);
    end('app', 'failed', 'ENGINE_UNAVAILABLE');
    assert.equal(scheduler.state('app')?.attempt, 1);
  });

  it('stops when the service fails deterministically or with other inputs starts at attempt 1', () => {
    const { clock, scheduler, queued, end } = setup();
    end('app', 'failed', 'PROCESS_TIMEOUT');
    clock.advance(30_000);
    end('app', 'failed', 'PROCESS_TIMEOUT');
    end('app', 'failed', 'PROCESS_TIMEOUT', { fingerprint: 'f2' });
    assert.equal(scheduler.state('app')?.attempt, 1, 'changed inputs: the backoff starts again');
    end('app', 'failed', 'COMPOSE_FILE_INVALID');
    assert.equal(scheduler.state('app'), undefined);
    clock.advance(60 * 60_000);
    assert.equal(queued.length, 1);
  });

  it('never retries deterministic failures, rollbacks, the own service or interrupted deployments', () => {
    const { clock, queued, end } = setup();
    end('a', 'failed', 'ENV_FILE_MISSING');
    end('b', 'failed', 'CONTAINER_UNHEALTHY');
    end('c', 'rolled-back', 'CONTAINER_EXITED');
    end('gitops-deploy-server', 'failed', 'ENGINE_UNAVAILABLE');
    end('d', 'interrupted', 'DEPLOYMENT_INTERRUPTED');
    clock.advance(60 * 60_000);
    assert.deepEqual(queued, []);
  });

  it('retries a failed image update as an update, and queues nothing once stopped', () => {
    const { clock, scheduler, queued, end } = setup();
    end('app', 'failed', 'PULL_FAILED', { action: 'update', error: 'dial tcp 127.0.0.1:5055: connect: connection refused' });
    clock.advance(30_000);
    assert.deepEqual(queued.map((q) => q.trigger), ['redeploy-and-update']);
    end('app', 'failed', 'ENGINE_UNAVAILABLE');
    scheduler.stop();
    clock.advance(60 * 60_000);
    assert.equal(queued.length, 1);
    assert.equal(clock.pending, 0);
  });
});

describe('retry scheduler with the real dispatcher, pipeline and store', () => {
  it('a transient failure is retried by a run with origin retry, which succeeds; then nothing more is scheduled', async () => {
    const repo = new EnvRepo();
    repo.write('services/app/podman-compose.yml', 'services:\n  app:\n    image: localhost/busybox:test\n');
    repo.push('app');
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gds-retry-'));
    const store = openSqliteStore({ file: path.join(dataDir, 'state.db'), clock: systemClock });
    try {
      const fake = new FakeRuntime();
      let engineAway = true;
      // The engine is away for the first deployment only.
      const runtime: Runtime = {
        kind: 'podman',
        deploy: async (service: ServiceSource, ctx: ActionContext) => {
          if (engineAway) {
            engineAway = false;
            throw new AppError('ENGINE_UNAVAILABLE', 'podman cannot reach its engine');
          }
          return fake.deploy(service, ctx);
        },
        update: (service: ServiceSource, ctx: ActionContext) => fake.update(service, ctx),
      };
      const logger = pino({ level: 'silent' });
      const repository = createGitRepository({ path: repo.checkout, run: createProcessRunner({ baseEnv: process.env }) });
      const catalog = createServiceCatalog({ repoPath: repo.checkout, servicesDirectory: 'services', defaultRuntime: 'podman', repository });
      const events = new RunEventBus(store);
      const dispatcher = createDispatcher({ store, events, clock: systemClock, logger, executor: () => pipeline });
      const pipeline = new Pipeline({ store, events, repository, catalog, runtimes: { podman: runtime, docker: runtime, swarm: runtime }, clock: systemClock, logger, selfService: 'gitops-deploy-server', parallelism: 2 });
      const clock = new FakeClock();
      const scheduler = createRetryScheduler({ events, store, triggers: dispatcher.triggers, backoff: { initialMs: 30_000, maxMs: 60_000 }, selfService: 'gitops-deploy-server', logger, now: () => clock.time, timers: clock });

      const first = dispatcher.triggers.deployAllChanged('webhook');
      await dispatcher.queue.idle();
      assert.equal(store.listDeployments(first.runId)[0]?.errorCode, 'ENGINE_UNAVAILABLE');
      assert.equal(scheduler.state('app')?.attempt, 1);
      clock.advance(30_000);
      await dispatcher.queue.idle();
      const runs = store.listRuns({ limit: 10 }).items;
      const retry = runs.find((r) => r.origin === 'retry');
      assert.ok(retry, JSON.stringify(runs));
      assert.equal(retry.trigger, 'deploy-service');
      assert.equal(retry.status, 'succeeded');
      assert.equal(store.listDeployments(retry.id)[0]?.reason, 'retry after a transient failure');
      assert.equal(store.getDeployedState('app')?.commit, retry.commit);
      assert.equal(scheduler.state('app'), undefined, 'the success stopped the retries');
      assert.equal(clock.pending, 0);
      scheduler.stop();
      dispatcher.queue.close();
    } finally {
      store.close();
      rmSync(dataDir, { recursive: true, force: true });
      repo.dispose();
    }
  });
});
