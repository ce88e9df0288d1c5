/**
 * The run queue: turns triggers into runs and decides when each run executes.
 *
 * Concurrency model
 * - Every run belongs to a lane: `deploy-all` for deploy-all-changed, `update:<service>` for a
 *   redeploy-and-update of one service, `deploy:<service>` for an operator's redeploy.
 * - A lane executes one run at a time and keeps the runs waiting behind it in order. A trigger
 *   that finds a waiting run joins it instead of making a new one (coalescing): a burst of fifty
 *   webhooks gives at most two runs, and because the waiting run syncs only when it starts, it
 *   deploys the newest commit. Runs restored at start-up (accepted by the previous instance,
 *   never started) keep their ids and wait in order.
 * - Lanes execute concurrently; what they share (the parallelism limit, one action per service at
 *   a time, the repository lock) is enforced by the pipeline's locks, not here.
 * - Exclusive sections (a self-update swapping the server): one at a time, in arrival order. The
 *   holder pauses the queue and waits until every other executing run has finished or is itself
 *   waiting for the exclusive section (parked). A parked run has touched nothing yet, so it cannot
 *   be cut off; counting it as idle is what keeps two self-updates from waiting for each other.
 * - Closing pauses for good: triggers are still recorded as queued runs (a webhook that lands
 *   while the server drains is not lost) and the next instance carries them out.
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

interface Lane<J> {
  running: Promise<void> | null;
  runningId: string | null;
  waiting: Array<{ runId: string; job: J }>;
}

export interface RunQueueDeps<J extends RunJob> {
  /** Records a queued run and returns its id (synchronous, so enqueue answers at once). */
  createRun(job: J): string;
  /** Carries a run out; must not throw (failures are recorded on the run), but a throw is contained. */
  execute(runId: string, job: J): Promise<void>;
  onUnexpectedError(error: unknown, runId: string): void;
}

/** Thrown by `exclusive` when the queue closes while a run waits for the section. */
export class QueueClosedError extends Error {
  constructor() {
    super('the run queue closed while the run waited for an exclusive section');
    this.name = 'QueueClosedError';
  }
}

export class RunQueue<J extends RunJob> {
  private readonly lanes = new Map<string, Lane<J>>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;
  /** While above zero, runs are recorded and wait, but none starts. */
  private paused = 0;
  /** The exclusive section: its tail, and the runs waiting to enter it. */
  private exclusiveTail: Promise<void> = Promise.resolve();
  private readonly parked = new Map<string, () => void>();
  /** Wakes `idleExcept` when a run parks. */
  private parkedChanged: (() => void) | null = null;

  constructor(private readonly deps: RunQueueDeps<J>) {}

  enqueue(job: J): EnqueueResult {
    const lane = this.lane(job.lane);
    const last = lane.waiting.at(-1);
    if (last) return { runId: last.runId, coalesced: true };
    const runId = this.deps.createRun(job);
    this.admit(job.lane, lane, runId, job);
    return { runId, coalesced: false };
  }

  /** Queues a run that is already recorded (restored at start-up), under its own id. */
  restore(runId: string, job: J): void {
    this.admit(job.lane, this.lane(job.lane), runId, job);
  }

  /** Whether a lane has a run executing or waiting. */
  busy(laneKey: string): boolean {
    const lane = this.lanes.get(laneKey);
    return !!lane && (lane.running !== null || lane.waiting.length > 0);
  }

  /** Number of runs executing or waiting. */
  depth(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += (lane.running ? 1 : 0) + lane.waiting.length;
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
    for (const [key, lane] of this.lanes) this.startNext(key, lane);
  }

  /**
   * Enters the exclusive section for `runId` (which must be executing): waits for the section,
   * then pauses the queue and waits until every other executing run has finished or is parked.
   * Resolves with the function that leaves the section and lets runs start again. Rejects with
   * QueueClosedError when the queue closes while waiting for the section.
   */
  async exclusive(runId: string): Promise<() => void> {
    if (this.closed) throw new QueueClosedError();
    const previous = this.exclusiveTail;
    let leave!: () => void;
    const mine = new Promise<void>((resolve) => (leave = resolve));
    this.exclusiveTail = previous.then(() => mine);
    let cancel!: () => void;
    const cancelled = new Promise<'closed'>((resolve) => (cancel = () => resolve('closed')));
    this.parked.set(runId, cancel);
    this.parkedChanged?.();
    let outcome: void | 'closed';
    try {
      outcome = await Promise.race([previous, cancelled]);
    } finally {
      this.parked.delete(runId);
    }
    if (outcome === 'closed' || this.closed) {
      // Hand the section on in order: whoever waits behind this run must not wait for ever.
      void previous.then(leave);
      throw new QueueClosedError();
    }
    this.pause();
    await this.idleExcept(runId);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      leave();
      this.resume();
    };
  }

  /** Resolves when every executing run except `runId` (and parked ones) has finished. */
  async idleExcept(runId: string): Promise<void> {
    for (;;) {
      const others = [...this.lanes.values()]
        .filter((l) => l.running && l.runningId !== runId && !this.parked.has(l.runningId!))
        .map((l) => l.running!);
      if (others.length === 0) return;
      const parked = new Promise<void>((resolve) => (this.parkedChanged = resolve));
      await Promise.race([Promise.allSettled(others), parked]);
      this.parkedChanged = null;
    }
  }

  /** Resolves when no run is executing (tests, graceful shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Stops starting runs, for good. Runs still waiting are not started: they stay recorded as
   * queued and the next instance runs them (a run started now would be cut off by the stop that
   * is coming). Runs waiting for the exclusive section give up (QueueClosedError). Executing runs
   * go on; `idle()` waits for them.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.paused++;
    for (const cancel of [...this.parked.values()]) cancel();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private lane(key: string): Lane<J> {
    let lane = this.lanes.get(key);
    if (!lane) this.lanes.set(key, (lane = { running: null, runningId: null, waiting: [] }));
    return lane;
  }

  private admit(key: string, lane: Lane<J>, runId: string, job: J): void {
    lane.waiting.push({ runId, job });
    this.startNext(key, lane);
  }

  private startNext(key: string, lane: Lane<J>): void {
    if (lane.running || this.paused > 0) return;
    const next = lane.waiting.shift();
    if (!next) {
      this.lanes.delete(key);
      return;
    }
    this.start(key, lane, next.runId, next.job);
  }

  private start(laneKey: string, lane: Lane<J>, runId: string, job: J): void {
    // Wrapped so an execute that throws synchronously is contained like one that rejects.
    const done = new Promise<void>((resolve) => resolve(this.deps.execute(runId, job)))
      .catch((error: unknown) => this.deps.onUnexpectedError(error, runId))
      .finally(() => {
        this.inFlight.delete(done);
        lane.running = null;
        lane.runningId = null;
        this.startNext(laneKey, lane);
      });
    lane.running = done;
    lane.runningId = runId;
    this.inFlight.add(done);
  }
}
