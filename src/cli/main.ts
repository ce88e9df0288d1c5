#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerDeployCommand } from './commands/deploy.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerHealthCommand } from './commands/health.js';
import { registerHistoryCommand } from './commands/history.js';
import { registerLogsCommand } from './commands/logs.js';
import { registerPlanCommand } from './commands/plan.js';
import { registerRollbackCommand } from './commands/rollback.js';
import { registerUnpinCommand } from './commands/unpin.js';
import { registerSelfUpdateCommand } from './commands/self-update.js';
import { registerServeCommand } from './commands/serve.js';
import { registerSignCommand } from './commands/sign.js';
import { registerStatusCommand } from './commands/status.js';
import { EXIT_CODES_HELP, ExitCode } from './exit-codes.js';
import type { CliContext } from './run-command.js';
import { readVersion } from '../version.js';

/** The registry of commands: one module each, in the order `--help` lists them. */
const COMMANDS = [
  registerServeCommand,
  registerPlanCommand,
  registerDeployCommand,
  registerStatusCommand,
  registerHistoryCommand,
  registerLogsCommand,
  registerRollbackCommand,
  registerUnpinCommand,
  registerSignCommand,
  registerDoctorCommand,
  registerHealthCommand,
  registerSelfUpdateCommand,
];

/** Command-line entry point: `serve` runs the server; the other commands talk to one or check this machine. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command()
    .name('gitops-deploy-server')
    .description('Push-based GitOps deploy server for Podman and Docker Compose')
    .version(readVersion())
    // Usage errors become CommanderError (inherited by every command registered below), mapped to exit 2.
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: (text) => ctx.stdout.write(text), writeErr: (text) => ctx.stderr.write(text) })
    .addHelpText('after', `\nRemote commands (plan, deploy, status, history, logs, rollback, unpin) reach the server at --url / $GDS_URL\nwith the token in --token / $API_TOKEN / $API_TOKEN_FILE.\n${EXIT_CODES_HELP}`);
  for (const register of COMMANDS) register(program, ctx);
  return program;
}

const ctx: CliContext = {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  // The exit code, not process.exit(): piped stdout is flushed before the process ends.
  setExitCode: (code) => void (process.exitCode = code),
};

// `gitops-deploy-server history | head`: the reader having had enough is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(ExitCode.ok);
    throw error;
  });
}

buildProgram(ctx)
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    if (error instanceof CommanderError) {
      // --help and --version exit 0; every usage mistake (already explained by commander) exits 2.
      process.exitCode = error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
      return;
    }
    process.stderr.write(`gitops-deploy-server: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = ExitCode.failed;
  });
