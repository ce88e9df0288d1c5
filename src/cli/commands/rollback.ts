import type { Command } from 'commander';
import type { RollbackAnswer, RunDetail } from '../api-types.js';
import { ExitCode } from '../exit-codes.js';
import { followRun } from '../follow-run.js';
import { shortCommit } from '../output.js';
import { addRemoteOptions, connect, type RemoteOptions } from '../remote.js';
import { runCommand, type CliContext } from '../run-command.js';

interface RollbackOptions extends RemoteOptions {
  to?: string;
  follow: boolean;
}

const EXAMPLES = `
Examples:
  $ gitops-deploy-server rollback app                # back to the successful deployment before the current one
  $ gitops-deploy-server rollback app --to 1a2b3c4   # back to the last successful deployment of that commit
  $ gitops-deploy-server unpin app                   # follow git again`;

/**
 * `rollback <service> [--to ...]`: deploys an earlier successful deployment's inputs again and
 * follows the run; the service is then pinned there until git changes it or `unpin`.
 */
export function registerRollbackCommand(program: Command, ctx: CliContext): void {
  addRemoteOptions(
    program
      .command('rollback <service>')
      .description('deploy an earlier successful deployment of a service again and pin it there (POST /api/services/:name/rollback), following the run')
      .option('--to <deployment|commit>', 'the deployment id or commit (7+ hex digits) to go back to; default: the success before the current one')
      .option('--no-follow', 'print the run id and exit 0 without waiting for the run')
      .addHelpText('after', EXAMPLES),
  ).action((service: string, options: RollbackOptions) =>
    runCommand(ctx, options, async (out) => {
      const client = connect(options, ctx.env);
      const answer = await client.post<RollbackAnswer>(`/api/services/${encodeURIComponent(service)}/rollback`, { body: options.to ? { to: options.to } : {} });
      if (!options.follow) {
        if (out.json) out.printJson(answer);
        else out.print(answer.runId);
        return ExitCode.ok;
      }
      out.progress(`rolling ${service} back to ${shortCommit(answer.target.commit)} (deployment ${answer.target.deploymentId}): following run ${answer.runId}`);
      const result = await followRun(client, answer.runId, out, out.json ? 'silent' : 'human');
      if (out.json) out.printJson(await client.get<RunDetail>(`/api/runs/${encodeURIComponent(answer.runId)}`));
      return result.status === 'succeeded' && result.failedServices.length === 0 ? ExitCode.ok : ExitCode.failed;
    }),
  );
}
