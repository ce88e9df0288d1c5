/**
 * The run queue: turns triggers into runs and decides when each run executes.
 *
 * Concurrency model
 * - Every run belongs to a lane: `deploy-all` for deploy-all-changed, `update:<service>` for a
 *   redeploy-and-update of one service.
 * - A lane executes one run at a time and keeps at most one run waiting behind it. A trigger that
 *   finds a waiting run joins it instead of making a new one (coalescing): a burst of fifty
 *   webhooks gives at most two runs, and because the waiting run syncs only when it starts, it
 *   deploys the newest commit.
 * - Lanes execute concurrently; what they share (the parallelism limit, one action per service at
 *   a time, the repository lock) is enforced by the pipeline's locks, not here.
 * - Nothing here touches I/O: `createRun` records a run, `execute` carries it out.
 */

export interface RunJob {
  lane: string;
  /** Data the executor needs; the first trigger's job is the one a coalesced run executes. */
  [key: string]: unknown;
}

export interface EnqueueResult {
  runId: string;
  /** True when the trigger joined a run that was already waiting. */
  coalesced: boolean;
}

interface Lane {
  running: Promise<void> | null;
  runningId: string | null;
  waiting: { runId: string; job: RunJob } | null;
}

export interface RunQueueDeps<J extends RunJob> {
  /** Records a queued run and returns its id (synchronous, so enqueue answers at once). */
  createRun(job: J): string;
  /** Carries a run out; must not throw (failures are recorded on the run), but a throw is contained. */
  execute(runId: string, job: J): Promise<void>;
  onUnexpectedError(error: unknown, runId: string): void;
}

export class RunQueue<J extends RunJob> {
  private readonly lanes = new Map<string, Lane>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;
  /** While above zero, runs are recorded and wait, but none starts (a self-update is swapping the server). */
  private paused = 0;

  constructor(private readonly deps: RunQueueDeps<J>) {}

  enqueue(job: J): EnqueueResult {
    if (this.closed) throw new Error('the run queue is closed');
    const lane = this.lanes.get(job.lane) ?? { running: null, runningId: null, waiting: null };
    this.lanes.set(job.lane, lane);
    if (lane.waiting) return { runId: lane.waiting.runId, coalesced: true };
    const runId = this.deps.createRun(job);
    if (lane.running || this.paused > 0) {
      lane.waiting = { runId, job };
    } else {
      this.start(job.lane, lane, runId, job);
    }
    return { runId, coalesced: false };
  }

  /** Number of runs executing or waiting. */
  depth(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += (lane.running ? 1 : 0) + (lane.waiting ? 1 : 0);
    return n;
  }

  /** Holds back every run that has not started yet, until `resume`. */
  pause(): void {
    this.paused++;
  }

  resume(): void {
    if (this.paused === 0 || this.closed) return;
    this.paused--;
    if (this.paused > 0) return;
    for (const [key, lane] of this.lanes) {
      if (lane.running || !lane.waiting) continue;
      const next = lane.waiting;
      lane.waiting = null;
      this.start(key, lane, next.runId, next.job as J);
    }
  }

  /** Resolves when every executing run except `runId` has finished. */
  async idleExcept(runId: string): Promise<void> {
    for (;;) {
      const others = [...this.lanes.values()].filter((l) => l.running && l.runningId !== runId).map((l) => l.running!);
      if (others.length === 0) return;
      await Promise.allSettled(others);
    }
  }

  /** Resolves when no run is executing or waiting (tests, graceful shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Stops accepting runs and waits for the executing ones. Runs still waiting are not started:
   * they stay recorded as queued, and start-up recovery runs them (a run started now would be
   * cut off by the stop that is coming, such as the replacement of this server's container).
   */
  async close(): Promise<void> {
    this.closed = true;
    this.paused++;
    await this.idle();
  }

  private start(laneKey: string, lane: Lane, runId: string, job: J): void {
    // Wrapped so an execute that throws synchronously is contained like one that rejects.
    const done = new Promise<void>((resolve) => resolve(this.deps.execute(runId, job)))
      .catch((error: unknown) => this.deps.onUnexpectedError(error, runId))
      .finally(() => {
        this.inFlight.delete(done);
        lane.running = null;
        lane.runningId = null;
        const next = lane.waiting;
        if (next && this.paused === 0) {
          lane.waiting = null;
          this.start(laneKey, lane, next.runId, next.job as J);
        } else if (!next) this.lanes.delete(laneKey);
      });
    lane.running = done;
    lane.runningId = runId;
    this.inFlight.add(done);
  }
}
