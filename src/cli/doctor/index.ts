import { ConfigError, loadConfig, type Config } from '../../config.js';
import { createProcessRunner } from '../../adapters/process-runner.js';
import { fail, type CheckResult, type DoctorContext } from './check.js';
import { checkDataDir } from './data-dir.js';
import { checkEngineSockets } from './engine-sockets.js';
import { checkRepository } from './repository.js';
import { checkApiToken, checkWebhookSecret } from './settings.js';
import { checkSwarm } from './swarm.js';
import { checkTools } from './tools.js';

export type { CheckResult } from './check.js';

/** The server's secrets: never in a child's environment (as the server does it). */
const SECRET_VARIABLES = ['WEBHOOK_SECRET', 'WEBHOOK_SECRET_FILE', 'API_TOKEN', 'API_TOKEN_FILE'];

/**
 * Checks the machine the server runs on, reading the same environment the server would, in
 * this order: configuration, engine sockets, tools, repository (checkout, remote, services),
 * webhook secret, API token, data directory and database. Nothing is changed.
 */
export async function runDoctor(options: { env: NodeJS.ProcessEnv; timeoutMs: number; uid: number }): Promise<CheckResult[]> {
  let config: Config | undefined;
  const results: CheckResult[] = [];
  try {
    config = loadConfig(options.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) results.push(fail('config', problem, 'fix this variable in the server\'s environment (README, "Configuration")'));
  }
  const childEnv = config?.childEnv ?? Object.fromEntries(Object.entries(options.env).filter(([key]) => !SECRET_VARIABLES.includes(key)));
  const ctx: DoctorContext = { env: options.env, config, run: createProcessRunner({ baseEnv: childEnv }), timeoutMs: options.timeoutMs, uid: options.uid, runtimesInUse: undefined };

  // The repository is read first (it says which runtimes are in use), reported after the tools.
  const repository = config ? await checkRepository(ctx, config) : undefined;
  ctx.runtimesInUse = repository?.runtimesInUse;
  const [engines, tools, swarm] = await Promise.all([checkEngineSockets(ctx), checkTools(ctx), checkSwarm(ctx)]);
  results.push(...engines, ...tools, ...swarm);
  if (config && repository) {
    results.push(...repository.results, checkWebhookSecret(ctx, config), checkApiToken(ctx, config), ...(await checkDataDir(config)));
  }
  return results;
}
