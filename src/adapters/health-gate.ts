import type { ContainerState } from '../domain/engine-state.js';
import { settleVerdict, type SettleRules, type SettleVerdict } from '../domain/settle.js';
import { AppError } from '../errors.js';
import type { OutputSink } from '../ports/runtime.js';

/** What the gate needs from an engine (EngineCli provides it). */
export interface GateEngine {
  /** The current state of these containers; containers gone meanwhile are left out. */
  inspectContainers(ids: readonly string[]): Promise<ContainerState[]>;
  /** Runs a container's healthcheck once; the engine records the result in `State.Health`. */
  runHealthcheck(containerId: string, timeoutMs: number): Promise<void>;
  /** The last lines a container wrote; empty when they cannot be read. */
  logsTail(containerId: string, lines: number): Promise<string>;
  /** True where the engine does not run healthchecks by itself (Podman without systemd). */
  drivesHealthchecks(): Promise<boolean>;
}

export interface HealthGateDeps {
  engine: GateEngine;
  /** Milliseconds on a monotonic clock. */
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** How often the containers are inspected (default 500 ms). */
  pollMs?: number;
}

/** Log lines and characters a failure carries: enough to see the crash, never a whole log. */
export const LOG_LINES = 20;
const LOG_CHARS = 4_000;
const PROBE_CHARS = 1_000;

/**
 * Waits until every container is settled (domain/settle.ts), inspecting them all at once every
 * `pollMs`; each container has its own deadline, so containers gate in parallel and no gate waits
 * for another deployment's. Where the engine does not run healthchecks, the gate runs each
 * container's probe itself at the healthcheck's interval (the first one interval after the gate
 * began, as Docker does). Rejects on the first failure with its catalog code; `details.output`
 * holds each failed container's last log lines and its last probe's output.
 */
export async function waitSettled(
  deps: HealthGateDeps,
  containers: readonly ContainerState[],
  rules: SettleRules,
  ctx: { output: OutputSink; signal?: AbortSignal | undefined },
): Promise<void> {
  if (containers.length === 0) return;
  const start = deps.now();
  const pending = new Map(containers.map((c) => [c.id, c] as const));
  const nextProbe = new Map<string, number>();
  const inFlight = new Set<string>();
  const probing = new Set<Promise<void>>();
  const drives = containers.some((c) => c.healthcheck) && (await deps.engine.drivesHealthchecks());
  try {
    for (;;) {
      if (ctx.signal?.aborted) throw new AppError('PROCESS_ABORTED', 'the health gate was stopped: the server is shutting down');
      const seen = new Map((await deps.engine.inspectContainers([...pending.keys()])).map((c) => [c.id, c] as const));
      const elapsed = deps.now() - start;
      const failures: Array<{ container: ContainerState; verdict: Extract<SettleVerdict, { kind: 'failed' }> }> = [];
      for (const [id, first] of pending) {
        const container = seen.get(id);
        const verdict: SettleVerdict = container
          ? settleVerdict(container, elapsed, rules)
          : { kind: 'failed', code: 'CONTAINER_EXITED', reason: `${first.name} was removed` };
        if (verdict.kind === 'settled') {
          ctx.output(`health gate: ${verdict.reason} (${(elapsed / 1000).toFixed(1)} s)\n`);
          pending.delete(id);
        } else if (verdict.kind === 'failed') {
          failures.push({ container: container ?? first, verdict });
        } else if (container?.healthcheck && container.state === 'running' && drives) {
          const { intervalMs, timeoutMs } = container.healthcheck;
          const now = deps.now();
          if (now >= (nextProbe.get(id) ?? start + intervalMs) && !inFlight.has(id)) {
            inFlight.add(id);
            // An interval from one probe's start to the next; a slow probe is never overlapped.
            nextProbe.set(id, now + intervalMs);
            // A probe that cannot run at all shows as a healthcheck that never passes: the deadline says so.
            const probe = deps.engine.runHealthcheck(id, timeoutMs + 5_000).catch(() => undefined).finally(() => {
              inFlight.delete(id);
              probing.delete(probe);
            });
            probing.add(probe);
          }
        }
      }
      if (failures.length > 0) throw await gateFailure(deps.engine, failures, ctx.output);
      if (pending.size === 0) return;
      await deps.sleep(deps.pollMs ?? 500);
    }
  } finally {
    // A probe still running would report into a finished deployment's engine state only; let it end.
    await Promise.allSettled(probing);
  }
}

/** The error for the first failure, with every failed container's logs and probe output. */
async function gateFailure(
  engine: GateEngine,
  failures: Array<{ container: ContainerState; verdict: Extract<SettleVerdict, { kind: 'failed' }> }>,
  output: OutputSink,
): Promise<AppError> {
  const blocks: string[] = [];
  for (const { container, verdict } of failures) {
    const logs = (await engine.logsTail(container.id, LOG_LINES)).trimEnd();
    const probe = container.health?.lastProbe;
    blocks.push(
      [
        `health gate: ${verdict.reason}`,
        ...(probe ? [`last health probe of ${container.name} (exit ${probe.exitCode}):`, indent(tail(probe.output, PROBE_CHARS))] : []),
        logs ? `last ${LOG_LINES} log lines of ${container.name}:\n${indent(tail(logs, LOG_CHARS))}` : `${container.name} wrote no log lines`,
      ].join('\n'),
    );
  }
  const text = `${blocks.join('\n')}\n`;
  output(text);
  const [first] = failures;
  const message = failures.map((f) => f.verdict.reason).join('; ');
  return new AppError(first!.verdict.code, message, {
    details: { output: text, containers: failures.map((f) => ({ name: f.container.name, service: f.container.service, code: f.verdict.code })) },
  });
}

/** The end of `text`, at most `chars` characters, cut at a line start. */
function tail(text: string, chars: number): string {
  const trimmed = text.trimEnd();
  if (trimmed.length <= chars) return trimmed;
  const cut = trimmed.slice(-chars);
  const newline = cut.indexOf('\n');
  return `…\n${newline >= 0 ? cut.slice(newline + 1) : cut}`;
}

const indent = (text: string) => text.split('\n').map((l) => `  ${l}`).join('\n');

/**
 * Runs the healthchecks of new containers while `work` (the tool's `up`) runs, where the engine
 * does not: docker-compose waits in `up` for a `depends_on: condition: service_healthy`
 * dependency, which on Podman would otherwise stay `starting` for good. Each container's first
 * probe is one interval after it was first seen running; containers in `skip` (those that ran
 * before the action) are left alone. Resolves or rejects as `work` does.
 */
export async function probeDuring<T>(
  deps: HealthGateDeps,
  list: () => Promise<ContainerState[]>,
  skip: ReadonlySet<string>,
  work: Promise<T>,
): Promise<T> {
  let done = false;
  const finished = work.finally(() => {
    done = true;
  });
  const settledWork = finished.then(
    () => undefined,
    () => undefined,
  );
  const loop = (async () => {
    if (!(await deps.engine.drivesHealthchecks().catch(() => false))) return;
    const due = new Map<string, number>();
    while (!done) {
      const containers = await list().catch(() => [] as ContainerState[]);
      const now = deps.now();
      const probes: Array<Promise<void>> = [];
      for (const c of containers) {
        if (skip.has(c.id) || !c.healthcheck || c.state !== 'running' || c.health?.status === 'healthy') continue;
        const next = due.get(c.id) ?? now + c.healthcheck.intervalMs;
        due.set(c.id, next);
        if (now < next) continue;
        due.set(c.id, now + c.healthcheck.intervalMs);
        probes.push(deps.engine.runHealthcheck(c.id, c.healthcheck.timeoutMs + 5_000).catch(() => undefined));
      }
      await Promise.all(probes);
      if (!done) await Promise.race([deps.sleep(deps.pollMs ?? 500), settledWork]);
    }
  })();
  try {
    return await finished;
  } finally {
    await loop;
  }
}
