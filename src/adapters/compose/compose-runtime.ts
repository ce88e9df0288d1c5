import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { readGitopsExtension } from '../../domain/compose-extension.js';
import { checkEngineState, imagesByService, type ContainerState, type ExpectedService } from '../../domain/engine-state.js';
import type { SettleRules } from '../../domain/settle.js';
import { createRedactor, lineBufferedSink } from '../../domain/redact.js';
import { CONFIG_HASH_LABEL, referencedVariables, serviceConfigHash } from '../../domain/service-config-hash.js';
import type { DeployedCompose, RuntimeKind, ServiceSource } from '../../domain/types.js';
import { AppError, isAppError, toAppError } from '../../errors.js';
import type { ActionContext, DeployResult, Runtime, UpdateResult } from '../../ports/runtime.js';
import { sha256hex } from '../../util/digest.js';
import type { EngineCli } from '../engine-cli.js';
import { probeDuring, waitSettled, type HealthGateDeps } from '../health-gate.js';
import type { ProcessRunner } from '../process-runner.js';
import { checkCompat, type CompatProblem } from '../../domain/compose-compat.js';
import { createNoiseFolder, noiseRulesFor, withoutNoise } from '../../domain/tool-noise.js';
import { composeDown } from './compose-down.js';
import { interpolationEnv, readComposeModel, type ComposeModel, type ComposeServiceModel, type ToolDotenv } from './compose-file.js';
import { imageFreshness, type Freshness } from './image-freshness.js';

/** How one compose tool is invoked. */
export interface ComposeTool {
  /** Name for messages: `podman-compose`, `docker compose`, `docker-compose`. */
  name: string;
  /** The version the tool reported (`1.0.3`, `1.3.0`, `2.26.1`, `1.29.2`), or `unknown`; see describeTool in tools.ts. */
  version: string;
  /**
   * argv that brings a project up detached from the given compose files, run in the service
   * directory; `services` (only when `upNamesServices`) limits it to those compose services.
   */
  up(project: string, composeFiles: readonly string[], services?: readonly string[]): { command: string; args: string[] };
  /**
   * Whether `up` is given the compose services to create. podman-compose 1.3 takes the whole
   * project down when any container's config hash differs; naming only the services without a
   * running container keeps the others running.
   */
  upNamesServices: boolean;
  /**
   * Whether `up` recreates containers whose configuration changed. Docker Compose does;
   * podman-compose 1.0.3 does not (it restarts the old container and exits 0), so for it the
   * runtime removes exactly the containers whose configuration hash differs and lets `up`
   * create them anew, leaving the unchanged ones running.
   */
  recreatesChanged: boolean;
  /**
   * Whether `.env` beats the process environment in `${VAR}` interpolation. Docker Compose lets
   * the environment win; podman-compose 1.0.3 loads `.env` over it. Image references must be
   * resolved the way the tool resolves them, or the state check compares against the wrong image.
   */
  envFileWins: boolean;
  /** How this tool parses `.env` and `env_file` files: what it runs is what the server must expect and redact. */
  dotenv: ToolDotenv;
}

export interface ComposeRuntimeDeps {
  kind: RuntimeKind;
  tool: () => Promise<ComposeTool>;
  engine: EngineCli;
  run: ProcessRunner;
  /** Registry credentials for pulls, read afresh per action (a sync may have changed them). */
  authEnv: () => Record<string, string>;
  /** Registry credential strings (registry-auth.ts), read afresh per action and masked like the service's secrets. */
  registrySecrets?: () => string[];
  /** The environment compose interpolates from, to resolve image references. */
  processEnv: Record<string, string | undefined>;
  /** Where the generated compose override files (configuration hash labels) are written. */
  overrideDir: string;
  timeoutMs: number;
  stopTimeoutSeconds: number;
  /** The health gate's rules: DEPLOY_SETTLE_SECONDS (a compose file's `x-gitops: { settle }` overrides it) and DEPLOY_HEALTH_TIMEOUT_SECONDS. */
  gate: SettleRules;
  /** The gate's clock, sleep and poll interval (tests); default: the real ones. */
  gateTiming?: Omit<HealthGateDeps, 'engine'>;
  /** The registry's digest for a tag (manifest HEAD with the pull's credentials): an update pulls only what moved. Absent: always pull. */
  registryDigest?: (reference: string, authEnv: Record<string, string>) => Promise<string>;
}

const realTiming: Omit<HealthGateDeps, 'engine'> = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Images that exist only locally are never pulled (`localhost/...`): there is no registry to ask. */
const isPullable = (reference: string) => !reference.startsWith('localhost/');

/**
 * A runtime = a compose tool + the engine CLI that checks its work. Both actions converge the
 * project the same way: make the images present (pull first, so a failed pull touches nothing),
 * label every compose service with the hash of its configuration, let the tool recreate what
 * differs, check that the engine runs exactly that, then wait for the containers it created or
 * recreated to settle (the health gate; untouched containers are not waited on).
 */
export class ComposeRuntime implements Runtime {
  readonly kind: RuntimeKind;
  constructor(private readonly deps: ComposeRuntimeDeps) {
    this.kind = deps.kind;
  }

  /** The tool and version that runs this runtime's services: `podman-compose 1.3.0`. */
  async describeTool(): Promise<string> {
    const tool = await this.deps.tool();
    return `${tool.name} ${tool.version}`;
  }

  async deploy(service: ServiceSource, ctx: ActionContext): Promise<DeployResult> {
    const { after, gated } = await this.redacted(service, ctx, (model, out) => this.converge(service, model, out, false));
    return { images: imagesByService(after), gated };
  }

  async update(service: ServiceSource, ctx: ActionContext): Promise<UpdateResult> {
    const { before, after, gated } = await this.redacted(service, ctx, (model, out) => this.converge(service, model, out, true));
    const ids = (list: ContainerState[], name: string) => list.filter((c) => c.service === name).map((c) => c.id).sort().join();
    const recreated = [...new Set(after.map((c) => c.service))].filter((name) => ids(before, name) !== ids(after, name)).sort();
    return { imagesBefore: imagesByService(before), imagesAfter: imagesByService(after), recreated, gated };
  }

  /** Pruning: see compose-down.ts (the stored compose file, written under the override directory). */
  down(target: DeployedCompose & { service: string }, ctx: ActionContext): Promise<void> {
    const { tool, engine, run, timeoutMs, stopTimeoutSeconds } = this.deps;
    return composeDown({ tool, engine, run, timeoutMs, stopTimeoutSeconds, workDir: path.join(this.deps.overrideDir, 'down') }, target, ctx);
  }

  /** The project's containers on this runtime's engine (the drift check: one engine call). */
  containers(service: ServiceSource): Promise<ContainerState[]> {
    return this.deps.engine.listProjectContainers(service.projectName);
  }

  /**
   * Reads the compose model and runs `work` with an output sink and errors from which every
   * secret (the model's secret values, the registry credentials) is removed: this is the one
   * redactor of a deployment's text. The pipeline stores the output, streams it as events and
   * records the error, from which notifications are written.
   */
  private async redacted<T>(service: ServiceSource, ctx: ActionContext, work: (model: ComposeModel, ctx: ActionContext) => Promise<T>): Promise<T> {
    const tool = await this.deps.tool();
    const model = await readComposeModel(service, this.deps.processEnv, { dotenv: tool.dotenv, envFileWins: tool.envFileWins });
    // The catalog refused such a file already; this catches one that changed since, before anything is touched.
    const problem = compatProblem(model, tool);
    if (problem) throw new AppError(problem.code, `${service.name}: ${problem.message}`);
    const redact = createRedactor([...model.secretValues, ...(this.deps.registrySecrets?.() ?? [])]);
    const sink = lineBufferedSink(ctx.output, redact);
    try {
      return await work(model, { ...ctx, output: sink.write });
    } catch (error) {
      throw redactError(error, redact);
    } finally {
      sink.flush();
    }
  }

  /** `refresh` pulls every pullable image (an update); otherwise only missing images are pulled. */
  private async converge(service: ServiceSource, model: ComposeModel, ctx: ActionContext, refresh: boolean) {
    const { engine } = this.deps;
    const tool = await this.deps.tool();
    const env = this.authEnv();
    const before = await engine.listProjectContainers(service.projectName);
    const freshness = new Map<string, Freshness>();
    const images = await this.ensureImages(model.services, env, ctx, refresh, before, freshness);
    const expected: ExpectedService[] = model.services.map((s) => {
      const imageId = s.image ? images.get(s.image) : undefined;
      const configHash = serviceConfigHash(
        { definition: s.definition, shared: model.shared, variables: model.variables, inputPaths: s.inputPaths, files: service.files, imageId },
        sha256hex,
      );
      return { name: s.name, imageId, configHash };
    });
    if (refresh && unchangedAndInPlace(freshness, expected, before)) {
      const digests = [...freshness.values()].flatMap((f) => (f.kind === 'unchanged' ? [f.digest] : []));
      ctx.output(digests.length > 0 ? `image unchanged (digest ${digests.join(', ')}); nothing recreated\n` : 'every image is pinned by digest; nothing recreated\n');
      return { before, after: before, gated: [] };
    }
    const override = await this.writeOverride(service, expected);

    let needsUp = true;
    if (!tool.recreatesChanged) {
      const wanted = new Map(expected.map((e) => [e.name, e.configHash] as const));
      // Containers of changed compose services, and of services gone from the file (orphans);
      // forced: every container of the project, which `up` then creates anew.
      // `has` first: a stray started by hand carries no label, and undefined would equal undefined.
      const stale = ctx.force ? before : before.filter((c) => !wanted.has(c.service) || wanted.get(c.service) !== c.configHash);
      if (ctx.force) ctx.output('forced: removing every container of the project so that up recreates them\n');
      await engine.removeContainers(stale.map((c) => c.id), this.deps.stopTimeoutSeconds, ctx.output, ctx.signal);
      const kept = before.filter((c) => !stale.includes(c));
      needsUp = expected.some((e) => !kept.some((c) => c.service === e.name && c.state === 'running'));
      if (!needsUp) ctx.output('every container already runs its current configuration\n');
    }
    const beforeIds = new Set(before.map((c) => c.id));
    const gateDeps = { engine, ...(this.deps.gateTiming ?? realTiming) };
    const list = () => engine.listProjectContainers(service.projectName);
    // Only a `service_healthy` dependency makes `up` itself wait for a probe.
    const upWaitsForHealth = model.services.some((s) => waitsForHealthy(s.definition));
    // Forced: every container was removed above, so every compose service is created anew.
    const toCreate = expected.filter((e) => ctx.force || !before.some((c) => c.service === e.name && c.state === 'running' && c.configHash === e.configHash)).map((e) => e.name);
    const upping = needsUp ? this.up(tool, service, model, override, env, ctx, toCreate) : Promise.resolve('');
    const said = upWaitsForHealth ? await probeDuring(gateDeps, list, beforeIds, upping) : await upping;
    const after = await this.verify(tool, service, expected, ctx, said, beforeIds);
    const fresh = after.filter((c) => !before.some((b) => b.id === c.id)).sort((a, b) => a.name.localeCompare(b.name));
    await this.gate(model, fresh, before, ctx);
    return { before, after, gated: fresh.map((c) => c.name) };
  }

  /**
   * The health gate over the containers this action created or recreated. A failure keeps its
   * catalog code and gains `imagesBefore`, what a rollback puts back.
   */
  private async gate(model: ComposeModel, fresh: ContainerState[], before: ContainerState[], ctx: ActionContext): Promise<void> {
    if (fresh.length === 0) return;
    const extension = readGitopsExtension(model.shared);
    if (!extension.ok) throw new AppError('COMPOSE_FILE_INVALID', extension.message);
    const settleSeconds = extension.extension.settleSeconds;
    const rules = settleSeconds === undefined ? this.deps.gate : { ...this.deps.gate, settleMs: settleSeconds * 1000 };
    const checks = fresh.filter((c) => c.healthcheck).map((c) => c.name);
    ctx.output(
      `health gate: waiting for ${fresh.map((c) => c.name).join(', ')}` +
        ` (${checks.length > 0 ? `healthcheck: ${checks.join(', ')}; ` : ''}settle window ${rules.settleMs / 1000} s)\n`,
    );
    try {
      await waitSettled({ engine: this.deps.engine, ...(this.deps.gateTiming ?? realTiming) }, fresh, rules, ctx);
    } catch (error) {
      if (isAppError(error) && error.code.startsWith('CONTAINER_')) {
        throw new AppError(error.code, error.message, { details: { ...error.details, imagesBefore: imagesByService(before) }, cause: error });
      }
      throw error;
    }
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
   * `refresh`), and returns the image id of each reference.
   */
  private async ensureImages(
    model: ComposeServiceModel[],
    env: Record<string, string>,
    ctx: ActionContext,
    refresh: boolean,
    before: ContainerState[] = [],
    freshness = new Map<string, Freshness>(),
  ): Promise<Map<string, string | undefined>> {
    const { engine } = this.deps;
    const ids = new Map<string, string | undefined>();
    for (const reference of new Set(model.flatMap((s) => (s.image ? [s.image] : [])))) {
      let pull = refresh;
      if (refresh && isPullable(reference) && this.deps.registryDigest) {
        const users = new Set(model.filter((s) => s.image === reference).map((s) => s.name));
        const fresh = await imageFreshness({ engine, registryDigest: this.deps.registryDigest }, reference, before.filter((c) => users.has(c.service)), env);
        freshness.set(reference, fresh);
        if (fresh.kind === 'pinned') ctx.output(`${reference} is pinned by digest: never updated\n`);
        else if (fresh.kind === 'unchanged') ctx.output(`${reference}: the registry still serves ${fresh.digest}, the image running; not pulled\n`);
        else if (fresh.note) ctx.output(`${fresh.note}\n`);
        pull = fresh.kind === 'pull';
      }
      let id = pull ? undefined : await engine.imageId(reference);
      const builds = model.some((s) => s.image === reference && s.builds);
      if (!id && isPullable(reference) && !(builds && !pull)) {
        ctx.output(`pulling ${reference}\n`);
        await engine.pull(reference, env, ctx.output, ctx.signal);
      }
      id ??= await engine.imageId(reference);
      if (!id && !builds) throw new AppError('PULL_FAILED', `image ${reference} is not available locally and cannot be pulled`);
      ids.set(reference, id);
    }
    return ids;
  }

  /**
   * Writes the compose override that labels each compose service with its configuration hash.
   * The operator's compose file is never modified; the override lives in the server's data dir.
   */
  private async writeOverride(service: ServiceSource, expected: ExpectedService[]): Promise<string> {
    const file = path.join(this.deps.overrideDir, `${service.projectName}.labels.yml`);
    const services = Object.fromEntries(expected.map((e) => [e.name, { labels: { [CONFIG_HASH_LABEL]: e.configHash } }]));
    await mkdir(this.deps.overrideDir, { recursive: true });
    await writeFile(file, `# Written by gitops-deploy-server for ${service.name}; regenerated on every deployment.\n${stringify({ services })}`);
    return file;
  }

  /**
   * The problem with running this service's compose file with this runtime's tool, or undefined:
   * what the catalog reports before any plan or deployment (see domain/compose-compat.ts).
   */
  async checkCompose(service: ServiceSource): Promise<CompatProblem | undefined> {
    const tool = await this.deps.tool();
    return compatProblem(await readComposeModel(service, this.deps.processEnv, { dotenv: tool.dotenv, envFileWins: tool.envFileWins }), tool);
  }

  /**
   * Runs the tool's `up`; returns its output, which may tell why the state check then fails.
   * The interpolation variables go in the tool's environment, where every tool but
   * podman-compose 1.0 lets them beat its own `.env` reading (the compat check covers 1.0).
   */
  private async up(tool: ComposeTool, service: ServiceSource, model: ComposeModel, override: string, auth: Record<string, string>, ctx: ActionContext, toCreate: readonly string[]): Promise<string> {
    const up = tool.up(service.projectName, [service.composeFile, override], tool.upNamesServices ? toCreate : undefined);
    // Forced: a tool that recreates what changed is told to recreate everything.
    const { command, args } = ctx.force && tool.recreatesChanged ? { ...up, args: [...up.args, '--force-recreate'] } : up;
    ctx.output(`$ ${[command, ...args].join(' ')}   # ${tool.name} ${tool.version}\n`);
    const env = { ...interpolationEnv(model.variables), ...auth };
    // The tool's known-noise lines (podman-compose's "already in use" for kept containers) are
    // folded into one line, so that a successful deployment reads as one; the raw output (and
    // so an error message taken from it) is unchanged.
    const folder = createNoiseFolder(noiseRulesFor(tool));
    const onOutput = (chunk: string) => {
      const text = folder.write(chunk);
      if (text) ctx.output(text);
    };
    try {
      const result = await this.deps.run({ command, args, cwd: service.dir, env, timeoutMs: this.deps.timeoutMs, onOutput, signal: ctx.signal });
      // Without the noise: a failed state check quotes the tool's last error line, never one of those.
      return withoutNoise(result.output, noiseRulesFor(tool));
    } catch (error) {
      if (isAppError(error) && error.code === 'PROCESS_FAILED') {
        throw new AppError('COMPOSE_FAILED', `${tool.name} up failed: ${lastErrorLine(String(error.details?.['output'] ?? ''))}`, { details: error.details, cause: error });
      }
      throw error;
    } finally {
      const rest = folder.end();
      if (rest) ctx.output(rest);
    }
  }

  /** Reads the engine's real state and fails the deployment unless it matches the compose file (the gate judges new containers' state). */
  private async verify(tool: ComposeTool, service: ServiceSource, expected: ExpectedService[], ctx: ActionContext, toolOutput: string, beforeIds: ReadonlySet<string>) {
    const actual = await this.deps.engine.listProjectContainers(service.projectName);
    // The containers up created are judged by the gate, which waits for them to settle.
    const problems = checkEngineState(expected, actual, new Set(actual.filter((c) => !beforeIds.has(c.id)).map((c) => c.id)));
    if (problems.length > 0) {
      ctx.output(`state check failed:\n${problems.map((p) => `  ${p}\n`).join('')}`);
      const said = toolOutput ? ` (${tool.name}: ${lastErrorLine(toolOutput)})` : '';
      throw new AppError('ENGINE_STATE_MISMATCH', `after ${tool.name} up: ${problems.join('; ')}${said}`, { details: { problems } });
    }
    return actual;
  }
}

/** The compat check over a compose model: the document, and the interpolation facts podman-compose 1.0 needs. */
function compatProblem(model: ComposeModel, tool: ComposeTool): CompatProblem | undefined {
  return checkCompat(model.document, tool, {
    referenced: referencedVariables(JSON.stringify(model.document)),
    dotenv: model.interpolationFiles['.env'] ?? {},
    podmanComposeEnv: model.interpolationFiles['podman-compose.env'] ?? {},
  });
}

/**
 * Whether an update has nothing to do: no image moved (each unchanged or digest-pinned) and every
 * compose service already runs, under its current configuration hash, with nothing stray.
 */
function unchangedAndInPlace(freshness: ReadonlyMap<string, Freshness>, expected: ExpectedService[], before: ContainerState[]): boolean {
  if (freshness.size === 0 || [...freshness.values()].some((f) => f.kind === 'pull')) return false;
  const wanted = new Map(expected.map((e) => [e.name, e.configHash] as const));
  if (before.some((c) => wanted.get(c.service) !== c.configHash || c.state !== 'running')) return false;
  return expected.every((e) => before.some((c) => c.service === e.name));
}

/** Whether a compose service has a `depends_on` entry with `condition: service_healthy`. */
function waitsForHealthy(definition: unknown): boolean {
  const dependsOn = (definition as { depends_on?: unknown } | null)?.depends_on;
  if (typeof dependsOn !== 'object' || dependsOn === null || Array.isArray(dependsOn)) return false;
  return Object.values(dependsOn).some((d) => (d as { condition?: unknown } | null)?.condition === 'service_healthy');
}

/** The same error with every string it carries passed through `redact`. */
function redactError(thrown: unknown, redact: (text: string) => string): unknown {
  // Not only catalogued errors: an unexpected one's message is recorded too (as INTERNAL).
  const error = toAppError(thrown);
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
