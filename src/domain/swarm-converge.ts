/**
 * Whether a Swarm stack has converged, from `docker service inspect` and `docker inspect --type
 * task` JSON: the CLI's exit code only says the specs were accepted. Pure.
 *
 * A service has converged when no update of its own is in progress and its desired replicas run
 * tasks of its current container spec. Its `UpdateStatus` is read only when it is fresh (its
 * `StartedAt` differs from the one seen before the deploy): a stale `rollback_completed` belongs to
 * an earlier failed update. A fresh `rollback_completed` is Swarm's own rollback
 * (`update_config.failure_action: rollback`); `paused` is its failure without one.
 */

/** The part of `docker service inspect` the verdict reads. */
export interface SwarmServiceInspect {
  ID: string;
  Version?: { Index?: number };
  Spec: {
    Name: string;
    Labels?: Record<string, string> | null;
    TaskTemplate?: { ContainerSpec?: Record<string, unknown> };
    Mode?: { Replicated?: { Replicas?: number }; Global?: unknown; ReplicatedJob?: unknown; GlobalJob?: unknown };
  };
  UpdateStatus?: { State?: string; StartedAt?: string; CompletedAt?: string; Message?: string } | null;
}

/** The part of a task's inspect JSON the verdict reads. */
export interface SwarmTaskInspect {
  ID: string;
  ServiceID: string;
  Slot?: number;
  CreatedAt?: string;
  DesiredState?: string;
  Spec?: { ContainerSpec?: Record<string, unknown> };
  Status?: { State?: string; Err?: string; Message?: string; Timestamp?: string; ContainerStatus?: { ExitCode?: number } };
}

/** What a service looked like before the deploy: an update status with this start is not ours. */
export interface ServiceBaseline {
  version: number | undefined;
  updateStartedAt: string | undefined;
}

export type ServiceVerdict =
  | { kind: 'converged'; running: string[] }
  | { kind: 'pending'; why: string; taskError?: string }
  | { kind: 'rolled-back'; why: string; taskError?: string }
  | { kind: 'failed'; why: string; taskError?: string };

/** The stack service's key in the stack file (`<stack>_web` → `web`). */
export function stackServiceKey(stack: string, serviceName: string): string {
  return serviceName.startsWith(`${stack}_`) ? serviceName.slice(stack.length + 1) : serviceName;
}

/**
 * Fields of a container spec the daemon may fill in on the service but not on its tasks (seen
 * with dockerd 20.10: StopGracePeriod); the rest is compared, with empty values dropped.
 */
const DAEMON_DEFAULTED = new Set(['StopGracePeriod', 'Privileges', 'Isolation', 'DNSConfig']);

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const v = canonical((value as Record<string, unknown>)[key]);
    const empty = v === null || v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);
    if (!empty) out[key] = v;
  }
  return out;
}

/** Whether a task runs the service's current container spec (image, args, env, configs, secrets, mounts, ...). */
export function runsCurrentSpec(service: SwarmServiceInspect, task: SwarmTaskInspect): boolean {
  const strip = (spec: Record<string, unknown> | undefined) => JSON.stringify(canonical(Object.fromEntries(Object.entries(spec ?? {}).filter(([k]) => !DAEMON_DEFAULTED.has(k)))));
  return strip(service.Spec.TaskTemplate?.ContainerSpec) === strip(task.Spec?.ContainerSpec);
}

/** The newest error a task of the service reported (`docker service ps --no-trunc`'s Error column). */
export function lastTaskError(tasks: readonly SwarmTaskInspect[]): string | undefined {
  const failed = tasks
    .filter((t) => t.Status?.Err)
    .sort((a, b) => (a.Status?.Timestamp ?? a.CreatedAt ?? '').localeCompare(b.Status?.Timestamp ?? b.CreatedAt ?? ''));
  const last = failed.at(-1);
  return last ? `task ${last.ID.slice(0, 12)} ${last.Status?.State ?? 'failed'}: ${last.Status?.Err}` : undefined;
}

/** One service's verdict; `tasks` are the service's tasks (history included). */
export function serviceVerdict(service: SwarmServiceInspect, tasks: readonly SwarmTaskInspect[], baseline: ServiceBaseline | undefined): ServiceVerdict {
  const mine = tasks.filter((t) => t.ServiceID === service.ID);
  const taskError = lastTaskError(mine);
  const withError = (v: Exclude<ServiceVerdict, { kind: 'converged' }>): ServiceVerdict => (taskError ? { ...v, taskError } : v);
  const status = service.UpdateStatus ?? undefined;
  const fresh = status?.State !== undefined && status.StartedAt !== baseline?.updateStartedAt;
  if (fresh) {
    const state = status!.State!;
    const message = status!.Message ? `: ${status!.Message}` : '';
    if (state === 'rollback_completed') return withError({ kind: 'rolled-back', why: `Swarm rolled the update back${message}` });
    if (state === 'paused' || state === 'rollback_paused') return withError({ kind: 'failed', why: `Swarm ${state === 'paused' ? 'paused the update' : 'paused the rollback'}${message}` });
    if (state === 'updating' || state === 'rollback_started') return withError({ kind: 'pending', why: state === 'updating' ? 'update in progress' : `rolling back${message}` });
  }
  const mode = service.Spec.Mode ?? {};
  // Jobs run to completion; the server deploys long-running services and does not wait on them.
  if (mode.ReplicatedJob !== undefined || mode.GlobalJob !== undefined) return { kind: 'converged', running: [] };
  const desired = mine.filter((t) => t.DesiredState === 'running');
  const running = desired.filter((t) => t.Status?.State === 'running' && runsCurrentSpec(service, t));
  const wanted = mode.Global !== undefined ? Math.max(desired.length, 1) : (mode.Replicated?.Replicas ?? 1);
  if (running.length === wanted && desired.length === wanted) return { kind: 'converged', running: running.map((t) => t.ID).sort() };
  return withError({ kind: 'pending', why: `${running.length}/${wanted} tasks running the current spec` });
}
