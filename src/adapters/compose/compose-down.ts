import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import type { DeployedCompose } from '../../domain/types.js';
import { AppError, isAppError } from '../../errors.js';
import type { ActionContext } from '../../ports/runtime.js';
import type { EngineCli } from '../engine-cli.js';
import type { ProcessRunner } from '../process-runner.js';
import type { ComposeTool } from './compose-runtime.js';

export interface ComposeDownDeps {
  tool: () => Promise<ComposeTool>;
  engine: EngineCli;
  run: ProcessRunner;
  /** Where the stored compose file is written out for the tool (one directory per project, removed after). */
  workDir: string;
  timeoutMs: number;
  stopTimeoutSeconds: number;
}

/**
 * The stored compose file as `down` reads it: without `env_file` entries. `down` sets no
 * environment, and the env files went with the directory; docker-compose 1.29 refuses to
 * `down` at all when one is missing. Everything else (service and container names, networks)
 * is the file as it was deployed. Text that does not parse is written as it is.
 */
export function composeForDown(text: string): string {
  let model: unknown;
  try {
    model = parse(text);
  } catch {
    return text;
  }
  const services = (model as { services?: unknown } | null)?.services;
  if (typeof services !== 'object' || services === null) return text;
  for (const definition of Object.values(services as Record<string, unknown>)) {
    if (typeof definition === 'object' && definition !== null) delete (definition as Record<string, unknown>)['env_file'];
  }
  return stringify(model);
}

/**
 * `<tool> -p P -f F down -t N` from the tool's own `up` argv (every tool takes the same global
 * options before the subcommand), so a new tool needs no second argv builder.
 */
export function downCommand(tool: ComposeTool, project: string, composeFile: string, stopTimeoutSeconds: number): { command: string; args: string[] } {
  const { command, args } = tool.up(project, [composeFile]);
  const at = args.lastIndexOf('up');
  if (at < 0) throw new AppError('INTERNAL', `${tool.name}: no up subcommand to derive down from`);
  return { command, args: [...args.slice(0, at), 'down', '--timeout', String(stopTimeoutSeconds)] };
}

/**
 * Takes a removed service's project down: the tool's `down` with the stored compose file
 * (volumes kept: no `-v`), then whatever the tool left (podman-compose 1.0.3 leaves its
 * networks; a tool that cannot read the file leaves everything) removed through the engine by
 * the project label, then checked: it resolves only when no container or network is left.
 */
export async function composeDown(deps: ComposeDownDeps, target: DeployedCompose & { service: string }, ctx: ActionContext): Promise<void> {
  const { engine } = deps;
  const tool = await deps.tool();
  const dir = path.join(deps.workDir, target.projectName);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  try {
    await writeFile(path.join(dir, target.composeFile), composeForDown(target.text));
    const { command, args } = downCommand(tool, target.projectName, target.composeFile, deps.stopTimeoutSeconds);
    ctx.output(`$ ${[command, ...args].join(' ')}\n`);
    try {
      await deps.run({ command, args, cwd: dir, timeoutMs: deps.timeoutMs, onOutput: ctx.output, ...(ctx.signal ? { signal: ctx.signal } : {}) });
    } catch (error) {
      // Aborts and a missing tool are not for the engine to paper over.
      if (!isAppError(error) || (error.code !== 'PROCESS_FAILED' && error.code !== 'PROCESS_TIMEOUT')) throw error;
      ctx.output(`${tool.name} down failed (${error.code}); removing what is left of project ${target.projectName} through the engine\n`);
    }
    const left = await engine.listProjectContainers(target.projectName);
    if (left.length > 0) {
      ctx.output(`removing containers ${left.map((c) => c.name).join(', ')}\n`);
      await engine.removeContainers(left.map((c) => c.id), deps.stopTimeoutSeconds, ctx.output, ctx.signal);
    }
    const networks = await engine.listProjectNetworks(target.projectName);
    if (networks.length > 0) {
      ctx.output(`removing networks ${networks.join(', ')}\n`);
      await engine.removeNetworks(networks, ctx.output, ctx.signal);
    }
    const [containersAfter, networksAfter] = [await engine.listProjectContainers(target.projectName), await engine.listProjectNetworks(target.projectName)];
    if (containersAfter.length > 0 || networksAfter.length > 0) {
      const what = [...containersAfter.map((c) => `container ${c.name}`), ...networksAfter.map((n) => `network ${n}`)].join(', ');
      throw new AppError('ENGINE_STATE_MISMATCH', `after ${tool.name} down of ${target.projectName}: still there: ${what}`);
    }
    ctx.output(`project ${target.projectName} is down; its volumes are kept\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
