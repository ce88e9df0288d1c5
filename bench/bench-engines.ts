// The engines a real-engine benchmark runs on, chosen by its first argument (podman, docker, both).
import type { TestEngines } from '../test/e2e/engines/engines.js';

export interface EngineSetup {
  engine: 'podman' | 'docker';
  composeFile: string;
  /** Environment for the server (which engine the compose tool drives) and for our own checks. */
  env: Record<string, string>;
}

export function engineSetups(engines: TestEngines, wanted: string): EngineSetup[] {
  const setups: EngineSetup[] = [];
  if (wanted === 'podman' || wanted === 'both') setups.push({ engine: 'podman', composeFile: 'podman-compose.yml', env: {} });
  if (wanted === 'docker' || wanted === 'both') setups.push({ engine: 'docker', composeFile: 'docker-compose.yml', env: { DOCKER_HOST: engines.dockerHost } });
  if (setups.length === 0) throw new Error(`unknown engine ${wanted}: podman, docker or both`);
  return setups;
}
