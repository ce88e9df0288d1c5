import { createRedactor, lineBufferedSink } from '../../domain/redact.js';
import { checkEngineState, imagesByService, type ExpectedService } from '../../domain/engine-state.js';
import type { RuntimeKind, ServiceSource } from '../../domain/types.js';
import { AppError, isAppError } from '../../errors.js';
import type { ActionContext, DeployResult, Runtime, UpdateResult } from '../../ports/runtime.js';
import type { EngineCli } from '../engine-cli.js';
import type { ProcessRunner } from '../process-runner.js';
import { readComposeModel, type ComposeServiceModel } from './compose-file.js';

/** How one compose tool is invoked. */
export interface ComposeTool {
  /** Name for messages: `podman-compose`, `docker compose`, `docker-compose`. */
  name: string;
  /** argv that brings a project up detached, run in the service directory. */
  up(project: string, composeFile: string): { command: string; args: string[] };
  /**
   * Whether `up` recreates containers whose configuration or image changed. Docker Compose does;
   * podman-compose 1.0.3 does not (it restarts the old container and exits 0), so for it the
   * runtime removes the containers that must change first and lets `up` create them anew.
   */
  recreatesChanged: boolean;
  /**
   * Whether `.env` beats the process environment in `${VAR}` interpolation. Docker Compose lets
   * the environment win; podman-compose 1.0.3 loads `.env` over it. Image references must be
   * resolved the way the tool resolves them, or the state check compares against the wrong image.
   */
  envFileWins: boolean;
}

export interface ComposeRuntimeDeps {
  kind: RuntimeKind;
  tool: () => Promise<ComposeTool>;
  engine: EngineCli;
  run: ProcessRunner;
  /** Registry credentials for pulls, read afresh per action (a sync may have changed them). */
  authEnv: () => Record<string, string>;
  /** The environment compose interpolates from, to resolve image references. */
  processEnv: Record<string, string | undefined>;
  timeoutMs: number;
  stopTimeoutSeconds: number;
}

/** Images that exist only locally are never pulled (`localhost/...`): there is no registry to ask. */
const isPullable = (reference: string) => !reference.startsWith('localhost/');

/** A runtime = a compose tool + the engine CLI that checks its work. */
export class ComposeRuntime implements Runtime {
  readonly kind: RuntimeKind;
  constructor(private readonly deps: ComposeRuntimeDeps) {
    this.kind = deps.kind;
  }

  deploy(service: ServiceSource, ctx: ActionContext): Promise<DeployResult> {
    return this.redacted(service, ctx, (model, out) => this.deployModel(service, model, out));
  }

  update(service: ServiceSource, ctx: ActionContext): Promise<UpdateResult> {
    return this.redacted(service, ctx, (model, out) => this.updateModel(service, model, out));
  }

  /**
   * Reads the compose model and runs `work` with an output sink and errors from which every
   * env file value is removed: the output and errors are stored and served by the API.
   */
  private async redacted<T>(service: ServiceSource, ctx: ActionContext, work: (model: ComposeServiceModel[], ctx: ActionContext) => Promise<T>): Promise<T> {
    const { envFileWins } = await this.deps.tool();
    const { services, envValues } = await readComposeModel(service, this.deps.processEnv, { envFileWins });
    const redact = createRedactor(envValues);
    const sink = lineBufferedSink(ctx.output, redact);
    try {
      return await work(services, { ...ctx, output: sink.write });
    } catch (error) {
      throw redactError(error, redact);
    } finally {
      sink.flush();
    }
  }

  private async deployModel(service: ServiceSource, model: ComposeServiceModel[], ctx: ActionContext): Promise<DeployResult> {
    const { engine } = this.deps;
    const tool = await this.deps.tool();
    const env = this.authEnv();
    // Pull before touching anything: a failed pull leaves the running version alone.
    const expected = await this.ensureImages(model, env, ctx, false);
    let replaced = new Set<string>();
    if (!tool.recreatesChanged) {
      const existing = await engine.listProjectContainers(service.projectName);
      await engine.removeContainers(existing.map((c) => c.id), this.deps.stopTimeoutSeconds, ctx.output);
      replaced = new Set(existing.map((c) => c.id));
    }
    const said = await this.up(tool, service, env, ctx);
    const actual = await this.verify(tool, service, expected, replaced, ctx, said);
    return { images: imagesByService(actual) };
  }

  private async updateModel(service: ServiceSource, model: ComposeServiceModel[], ctx: ActionContext): Promise<UpdateResult> {
    const { engine } = this.deps;
    const tool = await this.deps.tool();
    const env = this.authEnv();
    const before = await engine.listProjectContainers(service.projectName);
    const expected = await this.ensureImages(model, env, ctx, true);
    let replaced = new Set<string>();
    if (!tool.recreatesChanged) {
      const wanted = new Map(expected.map((e) => [e.name, e.imageId] as const));
      const stale = before.filter((c) => {
        const imageId = wanted.get(c.service);
        return imageId !== undefined && c.imageId !== imageId;
      });
      await engine.removeContainers(stale.map((c) => c.id), this.deps.stopTimeoutSeconds, ctx.output);
      replaced = new Set(stale.map((c) => c.id));
    }
    const said = await this.up(tool, service, env, ctx);
    const after = await this.verify(tool, service, expected, replaced, ctx, said);
    const imagesBefore = imagesByService(before);
    const imagesAfter = imagesByService(after);
    const recreated = Object.keys(imagesAfter).filter((name) => imagesBefore[name] !== imagesAfter[name]);
    return { imagesBefore, imagesAfter, recreated };
  }

  private authEnv(): Record<string, string> {
    try {
      return this.deps.authEnv();
    } catch (error) {
      throw new AppError('PULL_FAILED', `registry credentials cannot be read: ${(error as Error).message}`);
    }
  }

  /**
   * Makes sure every image is present, pulling the missing ones (or all pullable ones when
   * `refresh`), and returns each service's image id for the state check.
   */
  private async ensureImages(model: ComposeServiceModel[], env: Record<string, string>, ctx: ActionContext, refresh: boolean): Promise<ExpectedService[]> {
    const { engine } = this.deps;
    const ids = new Map<string, string | undefined>();
    for (const reference of new Set(model.flatMap((s) => (s.image ? [s.image] : [])))) {
      let id = refresh ? undefined : await engine.imageId(reference);
      const builds = model.some((s) => s.image === reference && s.builds);
      if (!id && isPullable(reference) && !(builds && !refresh)) {
        ctx.output(`pulling ${reference}\n`);
        await engine.pull(reference, env, ctx.output);
      }
      id ??= await engine.imageId(reference);
      if (!id && !builds) throw new AppError('PULL_FAILED', `image ${reference} is not available locally and cannot be pulled`);
      ids.set(reference, id);
    }
    return model.map((s) => ({ name: s.name, imageId: s.image ? ids.get(s.image) : undefined }));
  }

  /** Runs the tool's `up`; returns its output, which may tell why the state check then fails. */
  private async up(tool: ComposeTool, service: ServiceSource, env: Record<string, string>, ctx: ActionContext): Promise<string> {
    const { command, args } = tool.up(service.projectName, service.composeFile);
    ctx.output(`$ ${[command, ...args].join(' ')}\n`);
    try {
      const result = await this.deps.run({ command, args, cwd: service.dir, env, timeoutMs: this.deps.timeoutMs, onOutput: ctx.output, signal: ctx.signal });
      return result.output;
    } catch (error) {
      if (isAppError(error) && error.code === 'PROCESS_FAILED') {
        throw new AppError('COMPOSE_FAILED', `${tool.name} up failed: ${lastErrorLine(String(error.details?.['output'] ?? ''))}`, { details: error.details, cause: error });
      }
      throw error;
    }
  }

  /** Reads the engine's real state and fails the deployment unless it matches the compose file. */
  private async verify(tool: ComposeTool, service: ServiceSource, expected: ExpectedService[], replaced: Set<string>, ctx: ActionContext, toolOutput: string) {
    const actual = await this.deps.engine.listProjectContainers(service.projectName);
    const problems = checkEngineState(expected, actual, replaced);
    if (problems.length > 0) {
      ctx.output(`state check failed:\n${problems.map((p) => `  ${p}\n`).join('')}`);
      const said = lastErrorLine(toolOutput);
      throw new AppError('ENGINE_STATE_MISMATCH', `after ${tool.name} up: ${problems.join('; ')} (${tool.name}: ${said})`, { details: { problems } });
    }
    return actual;
  }
}

/** The same error with every string it carries passed through `redact`. */
function redactError(error: unknown, redact: (text: string) => string): unknown {
  if (!isAppError(error)) return error;
  const details = error.details
    ? Object.fromEntries(Object.entries(error.details).map(([k, v]) => [k, typeof v === 'string' ? redact(v) : Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? redact(x) : x)) : v]))
    : undefined;
  return new AppError(error.code, redact(error.message), { details });
}

/** The most telling line of a tool's output: its last error line, else its last line. */
export function lastErrorLine(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const errorLine = [...lines].reverse().find((l) => /error|denied|not found|no such|invalid|failed|couldn't/i.test(l));
  return (errorLine ?? lines.at(-1) ?? 'no output').slice(0, 500);
}
