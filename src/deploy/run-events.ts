import type { DeploymentRecord, RunEventRecord, RunRecord, Store } from '../ports/store.js';

export type RunEventListener = (event: RunEventRecord) => void;

/** Lines kept per deployment in the event stream; the stored output keeps its own bounded tail. */
const MAX_OUTPUT_LINES = 5_000;
/** A line longer than this is cut: one runaway line must not bloat every client's stream. */
const MAX_LINE_CHARS = 4_000;

/**
 * The events of runs: appended to the store first (so a reconnecting client or a restarted
 * server replays them), then handed to live listeners: the SSE streams of that run, and
 * observers of every run (metrics, notifications). A listener that throws is isolated.
 */
export class RunEventBus {
  private readonly byRun = new Map<string, Set<RunEventListener>>();
  private readonly everyRun = new Set<RunEventListener>();

  constructor(
    private readonly store: Pick<Store, 'appendRunEvent'>,
    private readonly onListenerError: (error: unknown) => void = () => {},
  ) {}

  publish(runId: string, type: RunEventRecord['type'], data: Record<string, unknown>): RunEventRecord {
    const event = this.store.appendRunEvent(runId, type, data);
    for (const listener of [...(this.byRun.get(runId) ?? []), ...this.everyRun]) {
      try {
        listener(event);
      } catch (error) {
        this.onListenerError(error);
      }
    }
    return event;
  }

  /** A run's state as a `run` event, followed by `end` once it finished (the stream closes after `end`). */
  publishRun(run: RunRecord, extra: Record<string, unknown> = {}): void {
    const error = run.error === null ? null : { code: run.errorCode, message: run.error };
    this.publish(run.id, 'run', { runId: run.id, trigger: run.trigger, status: run.status, commit: run.commit, error, ...extra });
    if (run.status === 'succeeded' || run.status === 'failed') this.publish(run.id, 'end', { runId: run.id, trigger: run.trigger, status: run.status });
  }

  /** A deployment's state as a `deployment` event; `extra` adds what observers need (the runtime). */
  publishDeployment(record: DeploymentRecord, extra: Record<string, unknown> = {}): void {
    const durationSeconds =
      record.startedAt && record.finishedAt ? (Date.parse(record.finishedAt) - Date.parse(record.startedAt)) / 1000 : null;
    this.publish(record.runId, 'deployment', {
      runId: record.runId,
      deploymentId: record.id,
      service: record.service,
      action: record.action,
      status: record.status,
      reason: record.reason,
      error: record.error === null ? null : { code: record.errorCode, message: record.error },
      startedAt: record.startedAt,
      finishedAt: record.finishedAt,
      durationSeconds,
      ...extra,
    });
  }

  /** Live events of one run; returns the unsubscribe function. */
  subscribe(runId: string, listener: RunEventListener): () => void {
    const set = this.byRun.get(runId) ?? new Set();
    set.add(listener);
    this.byRun.set(runId, set);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.byRun.delete(runId);
    };
  }

  /** Live events of every run. */
  observe(listener: RunEventListener): () => void {
    this.everyRun.add(listener);
    return () => this.everyRun.delete(listener);
  }

  /**
   * A sink for one deployment's tool output: splits chunks into lines and publishes one event per
   * line. `flush` publishes a last line without a newline.
   */
  outputSink(runId: string, deploymentId: string, service: string): { write(chunk: string): void; flush(): void } {
    let pending = '';
    let lines = 0;
    const emit = (line: string) => {
      lines++;
      if (lines > MAX_OUTPUT_LINES) {
        if (lines === MAX_OUTPUT_LINES + 1) this.publish(runId, 'output', { runId, deploymentId, service, line: '[... further output is only in the stored deployment output ...]' });
        return;
      }
      this.publish(runId, 'output', { runId, deploymentId, service, line: line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}…` : line });
    };
    return {
      write(chunk) {
        pending += chunk;
        const parts = pending.split(/\r?\n/);
        pending = parts.pop() ?? '';
        for (const line of parts) emit(line);
      },
      flush() {
        if (pending !== '') emit(pending);
        pending = '';
      },
    };
  }
}
