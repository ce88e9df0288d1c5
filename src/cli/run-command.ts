import { ApiError } from './api-client.js';
import { CliError, ExitCode, type ExitCodeValue } from './exit-codes.js';
import { Output, type CliIo } from './output.js';

/** The process-level things a command needs besides its streams. */
export interface CliContext extends CliIo {
  /** Sets the exit code the process ends with (process.exitCode in real use). */
  setExitCode(code: number): void;
}

/**
 * Runs a command body with its Output and turns what it returns, or throws, into the exit
 * code. Failures are one line on stderr; with --json also `{"error":{code,message}}` on stdout,
 * so a script parsing stdout always gets JSON.
 */
export async function runCommand(ctx: CliContext, options: { json?: boolean | undefined }, body: (out: Output) => Promise<ExitCodeValue>): Promise<void> {
  const out = new Output(ctx, options);
  try {
    ctx.setExitCode(await body(out));
  } catch (error) {
    ctx.setExitCode(reportError(out, error));
  }
}

function reportError(out: Output, error: unknown): number {
  if (error instanceof CliError) {
    const prefix = error instanceof ApiError ? `${error.code} (${error.status}): ` : '';
    out.error(`gitops-deploy-server: ${prefix}${error.message}`);
    if (out.json) out.printJson({ error: { code: error.code, message: error.message } });
    return error.exitCode;
  }
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  out.error(`gitops-deploy-server: unexpected error: ${message}`);
  if (out.json) out.printJson({ error: { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) } });
  return ExitCode.failed;
}
