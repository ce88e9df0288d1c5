import { InvalidArgumentError, type Command } from 'commander';
import { SERVICE_STATES, type ServicesAnswer, type ServiceState, type ServiceSummary } from '../api-types.js';
import { ExitCode } from '../exit-codes.js';
import { formatTime, shortCommit } from '../output.js';
import { addRemoteOptions, connect, type RemoteOptions } from '../remote.js';
import { runCommand, type CliContext } from '../run-command.js';

interface StatusOptions extends RemoteOptions {
  state?: ServiceState[];
}

function parseStates(value: string): ServiceState[] {
  const states = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = states.filter((s) => !SERVICE_STATES.includes(s as ServiceState));
  if (states.length === 0 || unknown.length > 0) throw new InvalidArgumentError(`states are ${SERVICE_STATES.join(', ')} (comma-separated)`);
  return states as ServiceState[];
}

/** `status`: every service of the checkout beside what was last deployed of it. */
export function registerStatusCommand(program: Command, ctx: CliContext): void {
  addRemoteOptions(
    program
      .command('status')
      .description('list the services: runtime, state, deployed commit and time, and the reason of the last deployment (GET /api/services)')
      .option('--state <states>', `only services in these states, comma-separated: ${SERVICE_STATES.join(', ')}`, parseStates),
  ).action((options: StatusOptions) =>
    runCommand(ctx, options, async (out) => {
      const client = connect(options, ctx.env);
      const answer = await client.get<ServicesAnswer>('/api/services');
      const services = options.state ? answer.services.filter((s) => options.state!.includes(s.state)) : answer.services;
      if (out.json) {
        out.printJson({ ...answer, services });
        return ExitCode.ok;
      }
      if (services.length === 0) {
        out.print(options.state ? `no service is ${options.state.join(' or ')}` : 'no services in the checkout');
        return ExitCode.ok;
      }
      out.table(
        ['SERVICE', 'RUNTIME', 'STATE', 'COMMIT', 'DEPLOYED AT', 'LAST'],
        services.map((s) => [s.name, s.runtime ?? '-', stateWord(s, out), shortCommit(s.deployedCommit), formatTime(s.deployedAt), lastWord(s)]),
      );
      const byState = new Map<string, number>();
      for (const s of services) byState.set(s.state, (byState.get(s.state) ?? 0) + 1);
      out.print(`${services.length} service${services.length === 1 ? '' : 's'}: ${[...byState].map(([state, n]) => `${n} ${state}`).join(', ')}${answer.commit ? ` (checkout at ${shortCommit(answer.commit)})` : ''}`);
      return ExitCode.ok;
    }),
  );
}

/** The state, with a drifted service's hold from self-heal: `drifted (held: healed 3 times in the last hour)`. */
function stateWord(service: ServiceSummary, out: { status(word: string): string }): string {
  return service.state === 'drifted' && service.drift?.held ? `${out.status(service.state)} (${service.drift.held})` : out.status(service.state);
}

/** Why the service is where it is: its problem, its drift, or the last deployment's reason and error. */
function lastWord(service: ServiceSummary): string {
  if (service.problem) return `${service.problem.code}: ${service.problem.message}`;
  if (service.state === 'orphaned') return 'not in the checkout, still running (not pruned: see the server log; PRUNE=false or no removal in git)';
  if (service.state === 'drifted' && service.drift) return `${service.drift.reasons.join('; ')}${service.drift.healRunId ? ` (healing: run ${service.drift.healRunId})` : ''}`;
  const pinned = service.pinned ? `pinned to ${shortCommit(service.pinned.commit)} until git changes it; ` : '';
  const last = service.lastDeployment;
  if (pinned) return `${pinned}${last ? `${last.action} ${last.status}${last.error ? ` ${last.error.code}: ${last.error.message}` : ''}` : ''}`;
  // A failure held until its inputs change, or an own service left alone, says so first.
  if (!last) return service.stateReason ?? '-';
  const error = last.error ? ` ${last.error.code}: ${last.error.message}` : '';
  const held = service.stateReason ? `${service.stateReason}; ` : '';
  return `${held}${last.action} ${last.status}${last.reason ? ` (${last.reason})` : ''}${error}`;
}
