import type { DeployedCompose, RuntimeKind, ServiceSource } from '../../src/domain/types.js';
import { AppError } from '../../src/errors.js';
import type { ActionContext, DeployResult, Runtime, RuntimeRegistry, UpdateResult } from '../../src/ports/runtime.js';

/**
 * A runtime that records what it was asked to do. `hold(name)` makes that service's next action
 * wait until the test releases it; `failNext(name)` makes it fail with COMPOSE_FAILED.
 */
export class FakeRuntime implements Runtime {
  readonly calls: Array<{ action: 'deploy' | 'update'; service: string; fingerprint: string }> = [];
  /** Services whose action was asked to recreate every container (`ctx.force`). */
  readonly forced: string[] = [];
  active = 0;
  maxActive = 0;
  private readonly failures = new Set<string>();
  private readonly gateFailures = new Map<string, 'CONTAINER_UNHEALTHY' | 'CONTAINER_EXITED' | 'CONTAINER_RESTARTING'>();
  private readonly holds = new Map<string, { started: () => void; release: Promise<void> }>();

  constructor(readonly kind: RuntimeKind = 'podman') {}

  failNext(service: string): void {
    this.failures.add(service);
  }

  /** The service's next action fails the health gate with `code`, as the compose runtime's gate does. */
  failGateNext(service: string, code: 'CONTAINER_UNHEALTHY' | 'CONTAINER_EXITED' | 'CONTAINER_RESTARTING' = 'CONTAINER_EXITED'): void {
    this.gateFailures.set(service, code);
  }

  /** Returns `started` (resolves when the action began) and `release` (lets it finish). */
  hold(service: string): { started: Promise<void>; release: () => void } {
    let release!: () => void;
    let started!: () => void;
    const startedPromise = new Promise<void>((resolve) => (started = resolve));
    this.holds.set(service, { started, release: new Promise<void>((resolve) => (release = resolve)) });
    return { started: startedPromise, release };
  }

  async deploy(service: ServiceSource, ctx: ActionContext): Promise<DeployResult> {
    await this.act('deploy', service, ctx);
    return { images: { main: `image-of-${service.name}` }, gated: [] };
  }

  async update(service: ServiceSource, ctx: ActionContext): Promise<UpdateResult> {
    await this.act('update', service, ctx);
    return { imagesBefore: { main: 'old' }, imagesAfter: { main: 'new' }, recreated: ['main'], gated: [] };
  }

  /** Pruning: records the take-down (with the stored compose text it was given); `failNext` fails it. */
  readonly downs: Array<DeployedCompose & { service: string }> = [];
  async down(target: DeployedCompose & { service: string }, ctx: ActionContext): Promise<void> {
    this.downs.push(target);
    ctx.output(`down ${target.projectName}\n`);
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (this.failures.delete(target.service)) throw new AppError('COMPOSE_FAILED', `${target.service} down failed on purpose`);
  }

  private async act(action: 'deploy' | 'update', service: ServiceSource, ctx: ActionContext): Promise<void> {
    this.calls.push({ action, service: service.name, fingerprint: service.fingerprint });
    if (ctx.force) this.forced.push(service.name);
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      ctx.output(`${action} ${service.name}\n`);
      // Real actions take time: yield so concurrent actions overlap as they would.
      await new Promise((resolve) => setTimeout(resolve, 5));
      const hold = this.holds.get(service.name);
      if (hold) {
        this.holds.delete(service.name);
        hold.started();
        await hold.release;
      }
      const gate = this.gateFailures.get(service.name);
      if (gate) {
        this.gateFailures.delete(service.name);
        throw new AppError(gate, `container ${service.name}-main-1 failed the gate on purpose`, {
          details: { output: `${service.name}-main-1: last log line`, imagesBefore: { main: `image-before-${service.name}` } },
        });
      }
      if (this.failures.delete(service.name)) throw new AppError('COMPOSE_FAILED', `${service.name} failed on purpose`, { details: { output: 'tool said no' } });
    } finally {
      this.active--;
    }
  }
}

/** Every runtime kind backed by one recording fake. */
export function fakeRuntimes(fake = new FakeRuntime()): RuntimeRegistry {
  return { podman: fake, docker: fake, swarm: fake };
}
