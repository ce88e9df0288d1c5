import type { ProcessRunner } from '../../adapters/process-runner.js';
import type { RuntimeKind } from '../../domain/types.js';
import { parseToolVersion } from '../../adapters/compose/tools.js';
import { isAppError } from '../../errors.js';
import { fail, pass, warn, type CheckResult, type DoctorContext } from './check.js';

interface Probe {
  command: string;
  args: string[];
  /** The version in the command's output. */
  version: (output: string) => string | undefined;
}

const first = (pattern: RegExp) => (output: string) => pattern.exec(output)?.[1];

const probes = (ctx: DoctorContext) =>
  ({
    git: { command: 'git', args: ['--version'], version: first(/git version (\S+)/) },
    podman: { command: 'podman', args: ['--version'], version: first(/podman version (\S+)/i) },
    // The commands and version probes the server itself uses (PODMAN_COMPOSE_COMMAND, DOCKER_COMPOSE_COMMAND).
    'podman-compose': { command: ctx.config?.podmanComposeCommand ?? 'podman-compose', args: ['version'], version: parseToolVersion },
    docker: { command: 'docker', args: ['--version'], version: first(/Docker version ([^\s,]+)/i) },
    'docker compose': { command: 'docker', args: ['compose', 'version', '--short'], version: parseToolVersion },
    'docker-compose': { command: ctx.config?.dockerComposeCommand ?? 'docker-compose', args: ['version', '--short'], version: parseToolVersion },
  }) satisfies Record<string, Probe>;

type ToolName = keyof ReturnType<typeof probes>;

const INSTALL: Record<ToolName, string> = {
  git: 'install git (apt-get install git)',
  podman: 'install Podman (apt-get install podman)',
  'podman-compose': 'install podman-compose (apt-get install podman-compose, or pip install podman-compose)',
  docker: 'install the Docker CLI (apt-get install docker.io, or docker-ce-cli from Docker)',
  'docker compose': 'install the Compose plugin (docker-compose-plugin from Docker), or set DOCKER_COMPOSE=standalone to use docker-compose',
  'docker-compose': 'install docker-compose (apt-get install docker-compose), or the Compose plugin with DOCKER_COMPOSE=plugin',
};

type ProbeResult = { ok: true; version: string } | { ok: false; why: string };

async function probe(ctx: DoctorContext, run: ProcessRunner, tool: ToolName, timeoutMs: number): Promise<ProbeResult> {
  const { command, args, version } = probes(ctx)[tool];
  try {
    const result = await run({ command, args, timeoutMs });
    return { ok: true, version: version(`${result.stdout}\n${result.output}`) ?? 'unknown version' };
  } catch (error) {
    if (isAppError(error) && error.code === 'COMMAND_NOT_FOUND') return { ok: false, why: `${command} is not installed or not on PATH` };
    if (isAppError(error) && error.code === 'PROCESS_TIMEOUT') return { ok: false, why: `\`${command} ${args.join(' ')}\` did not finish within ${Math.round(timeoutMs / 1000)} s` };
    const output = isAppError(error) && typeof error.details?.['output'] === 'string' ? (error.details['output'] as string).trim().split('\n')[0] : '';
    return { ok: false, why: `\`${command} ${args.join(' ')}\` failed${output ? `: ${output}` : ''}` };
  }
}

/** ` at PATH` when a tool setting names a command other than the tool's own name. */
function commandNote(ctx: DoctorContext, tool: ToolName): string {
  const command = probes(ctx)[tool].command;
  return tool.includes(' ') || command === tool ? '' : ` at ${command}`;
}

/** Whether a runtime's tools must be there: yes when a service uses it, or (repository unknown) when it is the default. */
function needed(ctx: DoctorContext, runtime: RuntimeKind): boolean {
  // A Swarm stack is deployed with the docker CLI.
  if (ctx.runtimesInUse) return ctx.runtimesInUse.has(runtime) || (runtime === 'docker' && ctx.runtimesInUse.has('swarm'));
  return (ctx.config?.defaultRuntime ?? 'podman') === runtime;
}

function missing(ctx: DoctorContext, runtime: RuntimeKind | 'always', tool: ToolName, why: string): CheckResult {
  const name = `tool:${tool.replace(' ', '-')}`;
  if (runtime === 'always' || needed(ctx, runtime)) return fail(name, why, INSTALL[tool]);
  const use = ctx.runtimesInUse ? `no service uses ${runtime}` : `${runtime} is not the default runtime`;
  return warn(name, `${why} (${use}, so nothing needs it yet)`, INSTALL[tool]);
}

/** git, then the Podman tools, then the Docker tools, with their versions (probed at once, reported in order). */
export async function checkTools(ctx: DoctorContext): Promise<CheckResult[]> {
  const at = (tool: ToolName) => probe(ctx, ctx.run, tool, ctx.timeoutMs);
  const report = async (tool: ToolName, runtime: RuntimeKind | 'always') => {
    const found = await at(tool);
    return found.ok ? pass(`tool:${tool.replace(' ', '-')}`, `${tool} ${found.version}${commandNote(ctx, tool)}`) : missing(ctx, runtime, tool, found.why);
  };
  return Promise.all([report('git', 'always'), report('podman', 'podman'), report('podman-compose', 'podman'), report('docker', 'docker'), dockerCompose(ctx, at)]);
}

/** The Docker Compose the server will use, as DOCKER_COMPOSE chooses it: one line. */
async function dockerCompose(ctx: DoctorContext, at: (tool: ToolName) => Promise<ProbeResult>): Promise<CheckResult> {
  const preference = ctx.config?.dockerCompose ?? 'auto';
  if (preference !== 'standalone') {
    const plugin = await at('docker compose');
    if (plugin.ok) return pass('tool:docker-compose', `docker compose ${plugin.version} (plugin)`);
    if (preference === 'plugin') return missing(ctx, 'docker', 'docker compose', `${plugin.why} (DOCKER_COMPOSE=plugin)`);
  }
  const standalone = await at('docker-compose');
  if (standalone.ok) {
    const why = preference === 'auto' ? '; the docker compose plugin is not installed' : '';
    return pass('tool:docker-compose', `docker-compose ${standalone.version} (standalone${why})${commandNote(ctx, 'docker-compose')}`);
  }
  return missing(ctx, 'docker', 'docker-compose', preference === 'auto' ? `neither the docker compose plugin nor docker-compose works (${standalone.why})` : standalone.why);
}
