import type { Command } from 'commander';
import { ExitCode } from '../exit-codes.js';
import { runCommand, type CliContext } from '../run-command.js';

/**
 * `health`: exits 0 when the server on this machine (or container) answers GET /health. What a
 * container health check and the self-update helper run, through `exec`, inside the instance.
 */
export function registerHealthCommand(program: Command, ctx: CliContext): void {
  program
    .command('health')
    .description('exit 0 when the local server answers /health (for container health checks)')
    .option('--url <url>', 'server URL (default: http://127.0.0.1:$PORT, PORT defaulting to 8080)')
    .option('--timeout <seconds>', 'give up after this many seconds', '5')
    .option('--json', 'print the /health answer as JSON')
    .action((options: { url?: string; timeout: string; json?: boolean }) =>
      runCommand(ctx, options, async (out) => {
        const url = `${(options.url ?? `http://127.0.0.1:${ctx.env['PORT'] || '8080'}`).replace(/\/+$/, '')}/health`;
        const seconds = Number(options.timeout);
        try {
          const response = await fetch(url, { signal: AbortSignal.timeout((Number.isFinite(seconds) && seconds > 0 ? seconds : 5) * 1000) });
          const body = (await response.json()) as { status?: string };
          if (!response.ok || body.status !== 'ok') {
            out.error(`${url} answered ${response.status}`);
            return ExitCode.failed;
          }
          if (out.json) out.printJson(body);
          else out.print(`ok ${url}`);
          return ExitCode.ok;
        } catch (error) {
          out.error(`${url} does not answer: ${error instanceof Error ? error.message : String(error)}`);
          return ExitCode.unreachable;
        }
      }),
    );
}
