import path from 'node:path';
import { createEngines } from './adapters/compose/index.js';
import { createGitRepository } from './adapters/git-repository.js';
import { createProcessRunner } from './adapters/process-runner.js';
import { createServiceCatalog } from './adapters/service-catalog.js';
import { openSqliteStore } from './adapters/sqlite-store.js';
import { loadConfig } from './config.js';
import { RunEventBus } from './deploy/run-events.js';
import { runSelfUpdate } from './deploy/self-update-helper.js';
import { composeRuntimes } from './compose-runtimes.js';
import { createLogger } from './logging.js';
import { systemClock } from './ports/clock.js';

/**
 * Composition root of the self-update helper container: the same adapters as the server (store
 * in the shared data directory, catalog over the mounted repository, compose runtimes), no HTTP,
 * no secrets. Resolves to the deployment's final status.
 */
export async function selfUpdateMain(env: NodeJS.ProcessEnv, deploymentId: string): Promise<string> {
  const config = loadConfig(env, undefined, { requireWebhookSecret: false });
  const logger = createLogger(config.logLevel).child({ role: 'self-update-helper' });
  const run = createProcessRunner({ baseEnv: config.childEnv });
  const store = openSqliteStore({ file: path.join(config.dataDir, 'state.db'), clock: systemClock });
  try {
    const repository = createGitRepository({ path: config.envRepoPath, run, timeoutMs: config.gitTimeoutMs });
    const catalogFor = (root: string, listing: Parameters<typeof createServiceCatalog>[0]['repository']) =>
      createServiceCatalog({ repoPath: root, servicesDirectory: config.servicesDirectory, defaultRuntime: config.defaultRuntime, repository: listing });
    const engines = createEngines(run, config.composeTimeoutMs, config.childEnv);
    const runtimes = composeRuntimes(config, run, engines);
    logger.info({ deploymentId }, 'self-update helper started');
    return await runSelfUpdate(
      {
        store,
        events: new RunEventBus(store),
        catalog: catalogFor(config.envRepoPath, repository),
        catalogFor,
        repository,
        runtimes,
        engines,
        clock: systemClock,
        logger,
        selfService: config.deployServerName,
        // Inside the repository's .git: mounted at the same path on the host, never tracked.
        rollbackDir: path.join(config.envRepoPath, '.git', 'gds-self-rollback'),
        healthTimeoutMs: config.selfUpdateHealthTimeoutMs,
      },
      deploymentId,
    );
  } finally {
    store.close();
  }
}
