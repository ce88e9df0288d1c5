import path from 'node:path';
import { stringify } from 'yaml';
import { parseComposeYaml } from '../../domain/compose-inputs.js';
import { readGitopsExtension } from '../../domain/compose-extension.js';
import { createRedactor, lineBufferedSink } from '../../domain/redact.js';
import type { SettleRules } from '../../domain/settle.js';
import { serviceVerdict, stackServiceKey, type ServiceBaseline, type SwarmServiceInspect, type ServiceVerdict } from '../../domain/swarm-converge.js';
import { digestOf, isContentAddressedName, renderStack, withoutDigest } from '../../domain/swarm-stack.js';
import type { DeployedCompose, ServiceSource } from '../../domain/types.js';
import { AppError, toAppError } from '../../errors.js';
import type { ActionContext, DeployResult, Runtime, UpdateResult } from '../../ports/runtime.js';
import { readComposeModel } from '../compose/compose-file.js';
import { readInputFile } from '../safe-read.js';
import type { SwarmCli } from './swarm-cli.js';

export interface SwarmRuntimeDeps {
  cli: Pick<SwarmCli, 'deploy' | 'updateImage' | 'services' | 'tasks' | 'objects' | 'removeObject' | 'removeStack' | 'networks' | 'clientVersion'>;
  /** Registry credentials (DOCKER_CONFIG) for `--with-registry-auth`, read afresh per action. */
  authEnv: () => Record<string, string>;
  registrySecrets?: () => string[];
  /** The server's environment as the tools see it (image references are interpolated from it). */
  processEnv: Record<string, string | undefined>;
  /** The digest a registry serves for a tag now (registry-digest.ts): what an update pins. */
  digest: (reference: string) => Promise<string>;
  /** ROLLBACK_ON_FAILURE: false renders `failure_action: pause` (a service opts out with x-gitops). */
  rollbackOnFailure: boolean;
  /** DEPLOY_SETTLE_SECONDS (x-gitops settle overrides it) and DEPLOY_HEALTH_TIMEOUT_SECONDS: the converge wait. */
  gate: SettleRules;
  /** Clock and sleep (tests); default: the real ones. */
  timing?: { now: () => number; sleep: (ms: number) => Promise<void>; pollMs?: number };
}

const realTiming = { now: () => performance.now(), sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)), pollMs: 1_000 };

/**
 * Docker Swarm stacks: a service directory whose stack file `docker stack deploy` rolls out on
 * the Swarm manager DOCKER_HOST points at. Swarm does the rolling, health-gating and rolling
 * back (`update_config.failure_action: rollback`, set when the stack file does not say); this
 * runtime renders the stack (content-addressed configs and secrets, pinned images, see
 * domain/swarm-stack.ts), deploys it, and waits on task state for the verdict
 * (domain/swarm-converge.ts). A Swarm rollback is reported with the health gate's
 * CONTAINER_EXITED, so the pipeline records `rolled-back` and pins the service as for compose.
 */
export class SwarmRuntime implements Runtime {
  readonly kind = 'swarm' as const;
  constructor(private readonly deps: SwarmRuntimeDeps) {}
  private version: Promise<string> | undefined;

  /** `docker stack (docker CLI 28.2.2)`, asked once. */
  describeTool(): Promise<string> {
    this.version ??= this.deps.cli.clientVersion().catch(() => 'unknown');
    return this.version.then((v) => `docker stack (docker CLI ${v})`);
  }

  async deploy(service: ServiceSource, ctx: ActionContext): Promise<DeployResult> {
    return this.redacted(service, ctx, async (out) => {
      const before = await this.deps.cli.services(service.projectName);
      const { objectNames, settleMs } = await this.deployStack(service, before, out, ctx.signal);
      const { images, touched } = await this.converge(service, before, settleMs, out, ctx.signal);
      await this.removeOldObjects(service.projectName, objectNames, out);
      return { images, gated: touched };
    });
  }

  async update(service: ServiceSource, ctx: ActionContext): Promise<UpdateResult> {
    return this.redacted(service, ctx, async (out) => {
      const before = await this.deps.cli.services(service.projectName);
      if (before.length === 0) {
        // Never deployed: the first deploy resolves every tag to its digest anyway.
        out('the stack is not deployed yet: deploying it\n');
        const { objectNames, settleMs } = await this.deployStack(service, before, out, ctx.signal);
        const { images, touched } = await this.converge(service, before, settleMs, out, ctx.signal);
        await this.removeOldObjects(service.projectName, objectNames, out);
        return { imagesBefore: {}, imagesAfter: images, recreated: touched, gated: touched };
      }
      const imagesBefore = imagesOf(service.projectName, before);
      const model = await readComposeModel(service, this.deps.processEnv);
      const env = this.authEnv();
      const updated: string[] = [];
      for (const s of model.services) {
        const running = before.find((b) => stackServiceKey(service.projectName, b.Spec.Name) === s.name);
        if (!s.image || !running || s.image.includes('@') || s.image.startsWith('localhost/')) continue;
        const digest = await this.deps.digest(s.image);
        const pinned = `${s.image}@${digest}`;
        if (running.Spec.TaskTemplate?.ContainerSpec?.['Image'] === pinned) continue;
        await this.deps.cli.updateImage(running.Spec.Name, pinned, env, out, ctx.signal);
        updated.push(s.name);
      }
      if (updated.length === 0) out('every service already runs the digest its tag points at\n');
      const settleMs = this.settleMs(await this.stackDocument(service));
      const { images, touched } = await this.converge(service, before, settleMs, out, ctx.signal);
      return { imagesBefore, imagesAfter: images, recreated: updated.sort(), gated: touched };
    });
  }

  /**
   * Pruning a removed stack: `docker stack rm`, then waits (bounded by the health timeout) until
   * Swarm has no service or network of it left; `docker stack rm` returns before they are gone.
   */
  async down(target: DeployedCompose & { service: string }, ctx: ActionContext): Promise<void> {
    const { now, sleep, pollMs } = { ...realTiming, ...this.deps.timing };
    const stack = target.projectName;
    await this.deps.cli.removeStack(stack, ctx.output, ctx.signal);
    const deadline = now() + this.deps.gate.healthTimeoutMs;
    for (;;) {
      const left = [...(await this.deps.cli.services(stack)).map((s) => s.Spec.Name), ...(await this.deps.cli.networks(stack))];
      if (left.length === 0) break;
      if (now() >= deadline) throw new AppError('COMPOSE_FAILED', `docker stack rm ${stack}: still there after ${this.deps.gate.healthTimeoutMs / 1000} s: ${left.join(', ')}`);
      await sleep(pollMs);
    }
    ctx.output(`the stack ${stack} is gone (volumes kept)\n`);
  }

  /** Renders the stack file and hands it to `docker stack deploy`. */
  private async deployStack(service: ServiceSource, before: SwarmServiceInspect[], out: (chunk: string) => void, signal?: AbortSignal) {
    const document = await this.stackDocument(service);
    const extension = readGitopsExtension(document);
    if (!extension.ok) throw new AppError('COMPOSE_FILE_INVALID', extension.message);
    const runningImages = Object.fromEntries(
      before.flatMap((s) => {
        const image = s.Spec.TaskTemplate?.ContainerSpec?.['Image'];
        return typeof image === 'string' ? [[stackServiceKey(service.projectName, s.Spec.Name), image] as const] : [];
      }),
    );
    let rendered;
    try {
      rendered = renderStack(document, {
        stack: service.projectName,
        dir: service.dir.split(path.sep).join('/'),
        digests: service.files,
        runningImages,
        rollback: this.deps.rollbackOnFailure && extension.extension.rollback,
      });
    } catch (error) {
      throw new AppError('COMPOSE_FILE_INVALID', `${service.composeFile}: ${(error as Error).message}`);
    }
    await this.deps.cli.deploy(service.projectName, `# Rendered by gitops-deploy-server from ${service.composeFile}\n${stringify(rendered.document)}`, service.dir, this.authEnv(), out, signal);
    return { objectNames: rendered.objectNames, settleMs: this.settleMs(document) };
  }

  /**
   * Waits until every service of the stack has converged (domain/swarm-converge.ts); the services
   * the action touched (new, or a new spec version) must stay converged, on the same tasks, through
   * the settle window. Bounded by DEPLOY_HEALTH_TIMEOUT_SECONDS.
   */
  private async converge(service: ServiceSource, before: SwarmServiceInspect[], settleMs: number, out: (chunk: string) => void, signal?: AbortSignal): Promise<{ images: Record<string, string>; touched: string[] }> {
    const { now, sleep, pollMs } = { ...realTiming, ...this.deps.timing };
    const stack = service.projectName;
    const baselines = new Map<string, ServiceBaseline>(before.map((s) => [s.ID, { version: s.Version?.Index, updateStartedAt: s.UpdateStatus?.StartedAt }]));
    const deadline = now() + this.deps.gate.healthTimeoutMs;
    const steadySince = new Map<string, { at: number; tasks: string }>();
    let last: Array<[string, ServiceVerdict]> = [];
    out(`waiting for the stack ${stack} to converge (task state; settle window ${settleMs / 1000} s)\n`);
    for (;;) {
      if (signal?.aborted) throw new AppError('PROCESS_ABORTED', `waiting for the stack ${stack} was stopped (shutdown)`);
      const services = await this.deps.cli.services(stack);
      const tasks = await this.deps.cli.tasks(services.map((s) => s.ID));
      const touched = services.filter((s) => baselines.get(s.ID)?.version !== s.Version?.Index);
      last = services.map((s) => [stackServiceKey(stack, s.Spec.Name), serviceVerdict(s, tasks, baselines.get(s.ID))]);
      const bad = last.find(([, v]) => v.kind === 'rolled-back' || v.kind === 'failed');
      if (bad) throw this.failure(bad[0], bad[1], 'CONTAINER_EXITED', before, stack);
      const t = now();
      let done = services.length > 0;
      for (const s of services) {
        const verdict = last.find(([name]) => name === stackServiceKey(stack, s.Spec.Name))![1];
        if (verdict.kind !== 'converged') {
          steadySince.delete(s.ID);
          done = false;
          continue;
        }
        if (!touched.includes(s)) continue;
        const ids = verdict.running.join();
        const seen = steadySince.get(s.ID);
        if (!seen || seen.tasks !== ids) steadySince.set(s.ID, { at: t, tasks: ids });
        if (t - (steadySince.get(s.ID)?.at ?? t) < settleMs) done = false;
      }
      if (done) {
        out(`converged: ${last.map(([name]) => name).join(', ')}\n`);
        return { images: imagesOf(stack, services), touched: touched.map((s) => stackServiceKey(stack, s.Spec.Name)).sort() };
      }
      if (t >= deadline) {
        const pending = last.find(([, v]) => v.kind !== 'converged') ?? last[0];
        if (!pending) throw new AppError('CONTAINER_UNHEALTHY', `the stack ${stack} has no services after docker stack deploy`);
        throw this.failure(pending[0], pending[1], pending[1].kind !== 'converged' && pending[1].taskError ? 'CONTAINER_RESTARTING' : 'CONTAINER_UNHEALTHY', before, stack, this.deps.gate.healthTimeoutMs);
      }
      await sleep(pollMs);
    }
  }

  /** A gate failure with the failing task's error, and what ran before (for the pipeline's rollback). */
  private failure(name: string, verdict: ServiceVerdict, code: 'CONTAINER_EXITED' | 'CONTAINER_RESTARTING' | 'CONTAINER_UNHEALTHY', before: SwarmServiceInspect[], stack: string, timeoutMs?: number): AppError {
    const why = verdict.kind === 'converged' ? 'converged' : verdict.why;
    const taskError = verdict.kind === 'converged' ? undefined : verdict.taskError;
    const when = timeoutMs !== undefined ? ` within ${timeoutMs / 1000} s (DEPLOY_HEALTH_TIMEOUT_SECONDS)` : '';
    const message = `${name}: ${timeoutMs !== undefined ? `not converged${when}: ` : ''}${why}${taskError ? `; ${taskError}` : ''}`;
    return new AppError(code, message, {
      details: { output: taskError ?? '', swarmRolledBack: verdict.kind === 'rolled-back', imagesBefore: imagesOf(stack, before) },
    });
  }

  /** After a converge: configs and secrets this server made for the stack that the stack no longer uses. */
  private async removeOldObjects(stack: string, keep: readonly string[], out: (chunk: string) => void): Promise<void> {
    for (const kind of ['config', 'secret'] as const) {
      for (const name of await this.deps.cli.objects(kind, stack)) {
        if (keep.includes(name) || !isContentAddressedName(stack, name)) continue;
        // Swarm refuses to remove one a service still uses: it stays, and goes with a later converge.
        out((await this.deps.cli.removeObject(kind, name)) ? `removed old ${kind} ${name}\n` : `kept ${kind} ${name}: still in use\n`);
      }
    }
  }

  private settleMs(document: unknown): number {
    const extension = readGitopsExtension(document);
    const seconds = extension.ok ? extension.extension.settleSeconds : undefined;
    return seconds === undefined ? this.deps.gate.settleMs : seconds * 1000;
  }

  private async stackDocument(service: ServiceSource): Promise<unknown> {
    const read = await readInputFile(path.join(service.dir, service.composeFile));
    if (read.kind !== 'ok') throw new AppError('COMPOSE_FILE_INVALID', `${service.composeFile} ${read.kind === 'missing' ? 'does not exist' : read.reason}`);
    const parsed = parseComposeYaml(read.value.toString('utf8'));
    if (!parsed.ok) throw new AppError('COMPOSE_FILE_INVALID', `${service.composeFile}: ${parsed.message.split('\n')[0]}`);
    return parsed.document;
  }

  private authEnv(): Record<string, string> {
    try {
      return this.deps.authEnv();
    } catch (error) {
      throw new AppError('PULL_FAILED', `registry credentials cannot be read: ${(error as Error).message}`);
    }
  }

  /** Runs an action with output and errors passed through the service's one redactor (as the compose runtime does). */
  private async redacted<T>(service: ServiceSource, ctx: ActionContext, work: (out: (chunk: string) => void) => Promise<T>): Promise<T> {
    const model = await readComposeModel(service, this.deps.processEnv);
    const redact = createRedactor([...model.secretValues, ...(this.deps.registrySecrets?.() ?? [])]);
    const sink = lineBufferedSink(ctx.output, redact);
    try {
      return await work(sink.write);
    } catch (thrown) {
      const error = toAppError(thrown);
      const details = error.details ? Object.fromEntries(Object.entries(error.details).map(([k, v]) => [k, typeof v === 'string' ? redact(v) : v])) : undefined;
      throw new AppError(error.code, redact(error.message), { details });
    } finally {
      sink.flush();
    }
  }
}

/** Per stack service, the digest its spec pins (`sha256:…`), or the reference when it pins none. */
function imagesOf(stack: string, services: readonly SwarmServiceInspect[]): Record<string, string> {
  const images: Record<string, string> = {};
  for (const s of services) {
    const image = s.Spec.TaskTemplate?.ContainerSpec?.['Image'];
    if (typeof image === 'string') images[stackServiceKey(stack, s.Spec.Name)] = digestOf(image) ?? withoutDigest(image);
  }
  return images;
}
