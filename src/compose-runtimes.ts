import { homedir } from 'node:os';
import path from 'node:path';
import { createEngines, createRuntimes } from './adapters/compose/index.js';
import type { ProcessRunner } from './adapters/process-runner.js';
import { prepareRegistryAuth, registryCredentialValues } from './adapters/registry-auth.js';
import type { Config } from './config.js';
import type { RuntimeRegistry } from './ports/runtime.js';
import type { ServiceSource } from './domain/types.js';

/**
 * The compose runtimes as both composition roots (the server and the self-update helper) build
 * them from the configuration, with registry credentials merged afresh before each pull.
 */
export function composeRuntimes(config: Config, run: ProcessRunner, engines: ReturnType<typeof createEngines>): RuntimeRegistry {
  return createRuntimes({
    engines,
    run,
    authEnv: () =>
      prepareRegistryAuth({
        envRepoPath: config.envRepoPath,
        ghcrUser: config.ghcrUser,
        registryAuthFile: config.registryAuthFile,
        stateDir: path.join(config.dataDir, 'registry-auth'),
        dockerConfigDir: config.childEnv['DOCKER_CONFIG'] ?? path.join(homedir(), '.docker'),
      }),
    registrySecrets: () => registryCredentialValues({ envRepoPath: config.envRepoPath, ghcrUser: config.ghcrUser, registryAuthFile: config.registryAuthFile }),
    processEnv: config.childEnv,
    overrideDir: path.join(config.dataDir, 'compose-overrides'),
    dockerCompose: config.dockerCompose,
    podmanComposeCommand: config.podmanComposeCommand,
    dockerComposeCommand: config.dockerComposeCommand,
    timeoutMs: config.composeTimeoutMs,
    stopTimeoutSeconds: config.stopTimeoutSeconds,
    gate: { settleMs: config.deploySettleMs, healthTimeoutMs: config.deployHealthTimeoutMs },
    rollbackOnFailure: config.rollbackOnFailure,
  });
}

/** The catalog's compat check over a registry: each service asks the runtime that would run it. */
export function compatOf(runtimes: RuntimeRegistry): (service: ServiceSource) => Promise<{ code: 'COMPOSE_UNSUPPORTED'; message: string } | undefined> {
  return async (service) => runtimes[service.runtime].checkCompose?.(service);
}
