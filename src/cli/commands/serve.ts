import path from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../run-command.js';

/** `serve`: starts the server, configured by environment variables (see the README). */
export function registerServeCommand(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('start the server (configured by environment variables, see the README)')
    .addHelpText('after', '\nExit codes:\n  0  stopped by SIGTERM or SIGINT after finishing running deployments\n  1  the server failed\n  2  configuration error (every problem is listed)')
    .action(async () => {
      // Loaded here so client commands do not pay for fastify and SQLite.
      const { ConfigError, loadConfig } = await import('../../config.js');
      const { exampleCurl, startServer } = await import('../../main.js');
      const { createLogger } = await import('../../logging.js');
      let config;
      try {
        config = loadConfig(ctx.env);
      } catch (error) {
        if (error instanceof ConfigError) {
          ctx.stderr.write(`gitops-deploy-server: ${error.message}\n`);
          process.exit(2);
        }
        throw error;
      }
      // Created here, not in startServer, so the shutdown is a JSON line like every other.
      const logger = createLogger(config.logLevel);
      // The last resort: a bug that escapes every handler is logged and ends the process with 1,
      // rather than a server limping on with half its state (the restart recovers the rest).
      const fatal = (kind: string) => (error: unknown) => {
        logger.fatal({ err: error, kind }, 'unexpected error; exiting');
        logger.flush?.();
        process.exit(1);
      };
      process.on('uncaughtException', fatal('uncaughtException'));
      process.on('unhandledRejection', fatal('unhandledRejection'));
      const server = await startServer(config, { logger });
      // For the human trying the example; printed only in example mode, on stderr.
      if (config.exampleMode) {
        ctx.stderr.write(
          [
            '',
            'gitops-deploy-server is running on the example environment repository.',
            `  checkout:        ${config.envRepoPath}`,
            `  remote to push:  ${server.exampleRemote ?? ''}   (git clone it, edit, commit, push)`,
            `  webhook secret:  ${server.webhookSecret}`,
            // Printed like the secret: both were generated for this example and live in DATA_DIR.
            ...(server.apiToken === undefined ? [] : [`  dashboard:       ${server.url}/   (API token: ${server.apiToken})`]),
            '  trigger a deploy of what changed:',
            `    ${exampleCurl(server.url, server.webhookSecret)}`,
            '  (that signature covers an empty body: whoever sees it can trigger for ever; CI should sign with `sign --scheme standard` and WEBHOOK_MODE=strict, see the README)',
            `  then follow it:  GDS_URL=${server.url} ${config.apiToken === undefined ? `API_TOKEN_FILE=${path.join(config.dataDir, 'api-token')} ` : ''}npx gitops-deploy-server logs <runId>`,
            '                   (and `status`, `history`, `plan`, `deploy`; see `npx gitops-deploy-server --help`)',
            '',
          ].join('\n') + '\n',
        );
      }
      const stop = (signal: string) => {
        logger.info({ signal }, 'shutting down');
        server.close().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}
