import type { RuntimeRegistry } from '../../ports/runtime.js';
import { EngineCli } from '../engine-cli.js';
import type { SettleRules } from '../../domain/settle.js';
import type { ProcessRunner } from '../process-runner.js';
import { createRegistryDigests } from '../registry-digest.js';
import { ComposeRuntime } from './compose-runtime.js';
import { dockerComposeTool, podmanComposeTool } from './tools.js';
import type { RuntimeKind } from '../../domain/types.js';
import { SwarmCli } from '../swarm/swarm-cli.js';
import { SwarmRuntime } from '../swarm/swarm-runtime.js';

/** The engine CLIs, one per runtime kind (a Swarm stack runs on the docker engine). */
export function createEngines(run: ProcessRunner, timeoutMs: number, engineEnv: Record<string, string | undefined> = {}): Record<RuntimeKind, EngineCli> {
  const docker = new EngineCli('docker', run, timeoutMs, engineEnv);
  return { podman: new EngineCli('podman', run, timeoutMs, engineEnv), docker, swarm: docker };
}

/** The registry of runtimes: one per kind, chosen per service by its compose file name. */
export function createRuntimes(options: {
  engines?: Record<RuntimeKind, EngineCli>;
  run: ProcessRunner;
  authEnv: () => Record<string, string>;
  /** Registry credential strings to mask in output (registry-auth.ts registryCredentialValues). */
  registrySecrets?: () => string[];
  processEnv: Record<string, string | undefined>;
  overrideDir: string;
  dockerCompose: 'auto' | 'plugin' | 'standalone';
  /** The podman-compose command (PODMAN_COMPOSE_COMMAND); its version is detected once. */
  podmanComposeCommand?: string;
  /** The standalone Docker Compose command (DOCKER_COMPOSE_COMMAND): 1.29 or Compose v2's binary. */
  dockerComposeCommand?: string;
  timeoutMs: number;
  stopTimeoutSeconds: number;
  /** The health gate's settle window and timeout. */
  gate: SettleRules;
  /** How an update asks the registry for a tag's digest; default: a manifest HEAD with the pull's credentials. */
  registryDigest?: (reference: string, authEnv: Record<string, string>) => Promise<string>;
  /** ROLLBACK_ON_FAILURE, which Swarm stacks render as `update_config.failure_action` (default true). */
  rollbackOnFailure?: boolean;
}): RuntimeRegistry {
  const engines = options.engines ?? createEngines(options.run, options.timeoutMs);
  const common = {
    run: options.run,
    authEnv: options.authEnv,
    ...(options.registrySecrets ? { registrySecrets: options.registrySecrets } : {}),
    processEnv: options.processEnv,
    overrideDir: options.overrideDir,
    timeoutMs: options.timeoutMs,
    stopTimeoutSeconds: options.stopTimeoutSeconds,
    gate: options.gate,
    registryDigest: options.registryDigest ?? ((reference: string, authEnv: Record<string, string>) => createRegistryDigests({ authEnv: () => authEnv }).digest(reference)),
  };
  return {
    podman: new ComposeRuntime({
      ...common,
      kind: 'podman',
      tool: podmanComposeTool({ command: options.podmanComposeCommand, run: options.run }),
      engine: engines.podman,
    }),
    docker: new ComposeRuntime({
      ...common,
      kind: 'docker',
      tool: dockerComposeTool({ preference: options.dockerCompose, standaloneCommand: options.dockerComposeCommand, run: options.run }),
      engine: engines.docker,
    }),
    swarm: new SwarmRuntime({
      cli: new SwarmCli(options.run, options.timeoutMs),
      authEnv: options.authEnv,
      ...(options.registrySecrets ? { registrySecrets: options.registrySecrets } : {}),
      processEnv: options.processEnv,
      digest: (reference) => common.registryDigest(reference, options.authEnv()),
      rollbackOnFailure: options.rollbackOnFailure ?? true,
      gate: options.gate,
    }),
  };
}
