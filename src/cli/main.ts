#!/usr/bin/env node
import { Command } from 'commander';
import { ConfigError, loadConfig } from '../config.js';
import { exampleCurl, readVersion, startServer } from '../main.js';

/** Command-line entry point; `serve` starts the server from the environment. */
const program = new Command();
program.name('gitops-deploy-server').description('Push-based GitOps deploy server for Podman and Docker Compose').version(readVersion());

program
  .command('serve')
  .description('start the server (configured by environment variables, see the README)')
  .action(async () => {
    let config;
    try {
      config = loadConfig(process.env);
    } catch (error) {
      if (error instanceof ConfigError) {
        process.stderr.write(`gitops-deploy-server: ${error.message}\n`);
        process.exit(2);
      }
      throw error;
    }
    const server = await startServer(config);
    if (config.exampleMode) {
      process.stderr.write(
        [
          '',
          'gitops-deploy-server is running on the example environment repository.',
          `  checkout:        ${config.envRepoPath}`,
          `  remote to push:  ${server.exampleRemote ?? ''}   (git clone it, edit, commit, push)`,
          `  webhook secret:  ${server.webhookSecret}`,
          '  trigger a deploy of what changed:',
          `    ${exampleCurl(server.url, server.webhookSecret)}`,
          `  then follow it:  curl ${server.url}/api/runs/<runId>   and   curl ${server.url}/api/services`,
          '',
        ].join('\n') + '\n',
      );
    }
    const stop = (signal: string) => {
      process.stderr.write(`gitops-deploy-server: ${signal} received, finishing running deployments\n`);
      server.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`gitops-deploy-server: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
