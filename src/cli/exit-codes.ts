/**
 * The exit codes scripts can rely on. Every command documents them in its help; every failure
 * the CLI reports carries one, so the top-level handler never guesses from message text.
 */
export const ExitCode = {
  /** The command did what it was asked (the run or every deployment succeeded, every check passed). */
  ok: 0,
  /** The run or a deployment failed, or a doctor check failed. */
  failed: 1,
  /** Wrong usage (unknown option, bad value) or missing/invalid configuration (no token, bad URL). */
  usage: 2,
  /** The server could not be reached, or refused the token (401/403). */
  unreachable: 3,
  /** The server answered an error for the request (404 unknown service or run, other 4xx/5xx). */
  apiError: 4,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit-code table, appended to every command's help. */
export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  the run or a deployment failed; a doctor check failed
  2  usage or configuration error
  3  the server could not be reached, or refused the token (401/403)
  4  the server answered an error for the request (404 unknown service or run, other 4xx/5xx)`;

/**
 * A failure the CLI reports: a stable `code` (the API's error code, or one of the CLI's own:
 * USAGE, CONFIG, SERVER_UNREACHABLE, ...) and the exit code it ends the process with.
 */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: ExitCodeValue,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** A usage or configuration mistake the user can fix on the command line or in the environment. */
export function usageError(message: string, code = 'USAGE'): CliError {
  return new CliError(code, message, ExitCode.usage);
}
