import type { Command } from 'commander';
import { ExitCode } from '../exit-codes.js';
import { followRun } from '../follow-run.js';
import { addRemoteOptions, connect, type RemoteOptions } from '../remote.js';
import { runCommand, type CliContext } from '../run-command.js';

/** `logs <run>`: a run's stored events and, while it runs, the live ones, until it ends. */
export function registerLogsCommand(program: Command, ctx: CliContext): void {
  addRemoteOptions(
    program
      .command('logs <run>')
      .description("print a run's events (status changes and the compose tools' output) and follow it until it ends (GET /api/runs/:id/events); with --json, one JSON event per line"),
  ).action((runId: string, options: RemoteOptions) =>
    runCommand(ctx, options, async (out) => {
      const client = connect(options, ctx.env);
      const result = await followRun(client, runId, out, out.json ? 'ndjson' : 'human');
      return result.status === 'succeeded' && result.failedServices.length === 0 ? ExitCode.ok : ExitCode.failed;
    }),
  );
}
