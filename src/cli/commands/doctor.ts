import type { Command } from 'commander';
import { runDoctor } from '../doctor/index.js';
import { EXIT_CODES_HELP, ExitCode } from '../exit-codes.js';
import { parseSeconds } from '../remote.js';
import { runCommand, type CliContext } from '../run-command.js';

interface DoctorOptions {
  json?: boolean;
  timeout: number;
}

/**
 * `doctor`: checks, on the machine the server runs on and with its environment, everything a
 * deployment needs, one pass/fail line each with the fix.
 */
export function registerDoctorCommand(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description(
      "check this machine with the server's environment: configuration, engine sockets, compose tools and their versions, the environment repository and its remote, the webhook secret and API token, the data directory and database",
    )
    .option('--timeout <seconds>', 'longest a single probe (socket, command, git remote) may take', parseSeconds, 20)
    .option('--json', 'print {"checks":[{name, ok, level, detail, fix}]} as JSON')
    .addHelpText('after', `\nRun it where the server runs, with the same environment variables (it reads them as \`serve\` does).\n${EXIT_CODES_HELP}`)
    .action((options: DoctorOptions) =>
      runCommand(ctx, options, async (out) => {
        out.progress('checking…');
        const checks = await runDoctor({ env: ctx.env, timeoutMs: options.timeout * 1000, uid: process.getuid?.() ?? 0 });
        const failed = checks.filter((c) => c.level === 'fail').length;
        if (out.json) {
          out.printJson({ checks });
        } else {
          const width = Math.max(...checks.map((c) => c.name.length));
          for (const check of checks) {
            out.print(`${out.symbol(check.level)} ${check.name.padEnd(width)}  ${check.detail}`);
            if (check.fix && check.level !== 'pass') out.print(`    ${out.style.dim('fix:')} ${check.fix}`);
          }
          const warned = checks.filter((c) => c.level === 'warn').length;
          out.print(`${checks.length - failed - warned} passed, ${warned} warning${warned === 1 ? '' : 's'}, ${failed} failed`);
        }
        return failed > 0 ? ExitCode.failed : ExitCode.ok;
      }),
    );
}
