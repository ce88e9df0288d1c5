import type { Command } from 'commander';
import { selfUpdateMain } from '../../helper-main.js';
import { ExitCode } from '../exit-codes.js';
import { runCommand, type CliContext } from '../run-command.js';

/**
 * `self-update --deployment ID`: the entry point of the short-lived helper container that the
 * server starts to replace its own container. Not meant to be run by hand.
 */
export function registerSelfUpdateCommand(program: Command, ctx: CliContext): void {
  program
    .command('self-update', { hidden: true })
    .description("carry out a handed-off update of the server's own service (run by the server in a helper container)")
    .requiredOption('--deployment <id>', 'the handed-off deployment')
    .action((options: { deployment: string }) =>
      runCommand(ctx, {}, async (out) => {
        const status = await selfUpdateMain(ctx.env, options.deployment);
        out.print(`self-update ${options.deployment}: ${status}`);
        return status === 'succeeded' ? ExitCode.ok : ExitCode.failed;
      }),
    );
}
