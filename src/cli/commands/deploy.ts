import type { Command } from 'commander';
import type { ActionAnswer, RunDetail } from '../api-types.js';
import { ExitCode, usageError } from '../exit-codes.js';
import { followRun } from '../follow-run.js';
import { addRemoteOptions, connect, type RemoteOptions } from '../remote.js';
import { runCommand, type CliContext } from '../run-command.js';

interface DeployOptions extends RemoteOptions {
  update?: boolean;
  force?: boolean;
  follow: boolean;
}

const EXAMPLES = `
Examples:
  $ gitops-deploy-server deploy                  # sync and deploy every changed service, following the run
  $ gitops-deploy-server deploy app              # redeploy app from the checkout as it is, changed or not
  $ gitops-deploy-server deploy app --update     # pull app's images and recreate what changed
  $ gitops-deploy-server deploy app --force      # recreate every container of app, even unchanged ones
  $ run=$(gitops-deploy-server deploy --no-follow) && gitops-deploy-server logs "$run"`;

/**
 * `deploy [service]`: starts a run through the API and follows it to its end, so the exit code
 * says whether every deployment succeeded.
 */
export function registerDeployCommand(program: Command, ctx: CliContext): void {
  addRemoteOptions(
    program
      .command('deploy [service]')
      .description('deploy every changed service (POST /api/deploy), or redeploy one service (POST /api/services/:name/deploy), and follow the run')
      .option('--update', "with a service: pull its images and recreate the containers whose image changed (POST /api/services/:name/update)")
      .option('--force', 'with a service: recreate every container of it, even those that run their current configuration')
      .option('--no-follow', 'print the run id and exit 0 without waiting for the run')
      .addHelpText('after', EXAMPLES),
  ).action((service: string | undefined, options: DeployOptions) =>
      runCommand(ctx, options, async (out) => {
        if (options.update && service === undefined) throw usageError('--update needs a service: gitops-deploy-server deploy <service> --update');
        if (options.force && service === undefined) throw usageError('--force needs a service: gitops-deploy-server deploy <service> --force');
        if (options.force && options.update) throw usageError('--force and --update do not go together: --force recreates everything, --update what a new image changed');
        const client = connect(options, ctx.env);
        const path =
          service === undefined ? '/api/deploy' : `/api/services/${encodeURIComponent(service)}/${options.update ? 'update' : 'deploy'}`;
        const answer = await client.post<ActionAnswer>(path, options.force ? { body: { force: true } } : {});
        if (!options.follow) {
          if (out.json) out.printJson(answer);
          else out.print(answer.runId);
          return ExitCode.ok;
        }
        out.progress(
          answer.coalesced
            ? `joined run ${answer.runId}, which is waiting to start; following it (Ctrl-C stops following, not the run)`
            : `following run ${answer.runId} (Ctrl-C stops following, not the run)`,
        );
        const result = await followRun(client, answer.runId, out, out.json ? 'silent' : 'human');
        if (out.json) out.printJson(await client.get<RunDetail>(`/api/runs/${encodeURIComponent(answer.runId)}`));
        return result.status === 'succeeded' && result.failedServices.length === 0 ? ExitCode.ok : ExitCode.failed;
      }),
    );
}
