import path from 'node:path';
import { createEngines, createRuntimes } from './adapters/compose/index.js';
import type { ProcessRunner } from './adapters/process-runner.js';
import { prepareRegistryAuth, registryCredentialValues } from './adapters/registry-auth.js';
import { createRegistryDigests } from './adapters/registry-digest.js';
import type { Config } from './config.js';
import type { RuntimeRegistry } from './ports/runtime.js';

/**
 * The compose runtimes as both composition roots (the server and the self-update helper) build
 * them from the configuration, with registry credentials merged afresh before each pull.
 */
export function composeRuntimes(config: Config, run: ProcessRunner, engines: ReturnType<typeof createEngines>): RuntimeRegistry {
  const authEnv = () =>
    prepareRegistryAuth({
      envRepoPath: config.envRepoPath,
      ghcrUser: config.ghcrUser,
      registryAuthFile: config.registryAuthFile,
      stateDir: path.join(config.dataDir, 'registry-auth'),
    });
  const digests = createRegistryDigests({ authEnv });
  return createRuntimes({
    engines,
    run,
    authEnv,
    registryDigest: (reference) => digests.digest(reference),
    rollbackOnFailure: config.rollbackOnFailure,
    registrySecrets: () => registryCredentialValues({ envRepoPath: config.envRepoPath, ghcrUser: config.ghcrUser, registryAuthFile: config.registryAuthFile }),
    processEnv: config.childEnv,
    overrideDir: path.join(config.dataDir, 'compose-overrides'),
    dockerCompose: config.dockerCompose,
    timeoutMs: config.composeTimeoutMs,
    stopTimeoutSeconds: config.stopTimeoutSeconds,
    gate: { settleMs: config.deploySettleMs, healthTimeoutMs: config.deployHealthTimeoutMs },
  });
}
