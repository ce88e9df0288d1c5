import type { Command } from 'commander';
import type { UnpinAnswer } from '../api-types.js';
import { ExitCode } from '../exit-codes.js';
import { shortCommit } from '../output.js';
import { addRemoteOptions, connect, type RemoteOptions } from '../remote.js';
import { runCommand, type CliContext } from '../run-command.js';

/** `unpin <service>`: the service follows git again; the next run deploys what git says. */
export function registerUnpinCommand(program: Command, ctx: CliContext): void {
  addRemoteOptions(
    program
      .command('unpin <service>')
      .description('let a rolled-back service follow git again: the next run deploys what git says (POST /api/services/:name/unpin)'),
  ).action((service: string, options: RemoteOptions) =>
    runCommand(ctx, options, async (out) => {
      const answer = await connect(options, ctx.env).post<UnpinAnswer>(`/api/services/${encodeURIComponent(service)}/unpin`);
      if (out.json) out.printJson(answer);
      else if (answer.was) out.print(`${service} was pinned to ${shortCommit(answer.was.commit)} (${answer.was.reason}); it follows git from the next run (gitops-deploy-server deploy)`);
      else out.print(`${service} was not pinned`);
      return ExitCode.ok;
    }),
  );
}
