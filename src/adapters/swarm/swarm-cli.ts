import type { SwarmServiceInspect, SwarmTaskInspect } from '../../domain/swarm-converge.js';
import { AppError, isAppError } from '../../errors.js';
import type { ProcessRunner } from '../process-runner.js';

/** The label `docker stack deploy` puts on every service, network, config and secret of a stack. */
export const STACK_LABEL = 'com.docker.stack.namespace';

/**
 * A Swarm manager seen through the docker CLI (DOCKER_HOST from the server's environment, as for
 * the docker runtime). Every call is one argv through the process runner; nothing else talks to
 * the engine.
 */
export class SwarmCli {
  constructor(
    private readonly run: ProcessRunner,
    private readonly timeoutMs: number,
  ) {}

  /**
   * `docker stack deploy --with-registry-auth --prune -c - <stack>`, the stack read from stdin
   * with the service directory as working directory (so `.`-relative paths mean what they say).
   * Its exit code says only that the specs were accepted; convergence is checked separately.
   */
  async deploy(stack: string, stackYaml: string, dir: string, env: Record<string, string>, output: (chunk: string) => void, signal?: AbortSignal): Promise<void> {
    const args = ['stack', 'deploy', '--with-registry-auth', '--prune', '-c', '-', stack];
    output(`$ docker ${args.join(' ')}\n`);
    try {
      await this.run({ command: 'docker', args, cwd: dir, env, input: stackYaml, timeoutMs: this.timeoutMs, onOutput: output, ...(signal ? { signal } : {}) });
    } catch (error) {
      throw toolFailure(error, 'docker stack deploy');
    }
  }

  /** Points one service at a pinned image (`docker service update --image ref@digest`), without waiting. */
  async updateImage(service: string, reference: string, env: Record<string, string>, output: (chunk: string) => void, signal?: AbortSignal): Promise<void> {
    const args = ['service', 'update', '--detach', '--with-registry-auth', '--image', reference, '--', service];
    output(`$ docker ${args.join(' ')}\n`);
    try {
      await this.run({ command: 'docker', args, env, timeoutMs: this.timeoutMs, onOutput: output, ...(signal ? { signal } : {}) });
    } catch (error) {
      throw toolFailure(error, 'docker service update');
    }
  }

  /** The stack's services as `docker service inspect` shows them (empty for a stack not deployed yet). */
  async services(stack: string): Promise<SwarmServiceInspect[]> {
    const ids = lines((await this.exec(['service', 'ls', '--quiet', '--filter', `label=${STACK_LABEL}=${stack}`])).stdout);
    if (ids.length === 0) return [];
    return JSON.parse((await this.exec(['service', 'inspect', ...ids])).stdout) as SwarmServiceInspect[];
  }

  /** Every task of these services (the history Swarm keeps included), inspected. */
  async tasks(serviceIds: readonly string[], retry = true): Promise<SwarmTaskInspect[]> {
    if (serviceIds.length === 0) return [];
    const ids = new Set(lines((await this.exec(['service', 'ps', '--quiet', '--no-trunc', ...serviceIds])).stdout));
    if (ids.size === 0) return [];
    try {
      return JSON.parse((await this.exec(['inspect', '--type', 'task', ...ids])).stdout) as SwarmTaskInspect[];
    } catch (error) {
      // A task removed between the two calls (history trimmed): ask once more.
      if (retry && isAppError(error) && error.code === 'PROCESS_FAILED') return this.tasks(serviceIds, false);
      throw error;
    }
  }

  /** The docker CLI's version, for the plan and doctor (`docker stack` has no version of its own). */
  async clientVersion(): Promise<string> {
    return (await this.exec(['version', '--format', '{{.Client.Version}}'])).stdout.trim() || 'unknown';
  }

  /** `docker stack rm <stack>`: services, networks, configs and secrets of the stack go (volumes stay). */
  async removeStack(stack: string, output: (chunk: string) => void, signal?: AbortSignal): Promise<void> {
    const args = ['stack', 'rm', stack];
    output(`$ docker ${args.join(' ')}\n`);
    try {
      await this.run({ command: 'docker', args, timeoutMs: this.timeoutMs, onOutput: output, ...(signal ? { signal } : {}) });
    } catch (error) {
      throw toolFailure(error, 'docker stack rm');
    }
  }

  /** Names of the stack's networks (`docker stack rm` removes them only once their tasks are gone). */
  async networks(stack: string): Promise<string[]> {
    return lines((await this.exec(['network', 'ls', '--filter', `label=${STACK_LABEL}=${stack}`, '--format', '{{.Name}}'])).stdout);
  }

  /** Names of the stack's configs or secrets. */
  async objects(kind: 'config' | 'secret', stack: string): Promise<string[]> {
    return lines((await this.exec([kind, 'ls', '--filter', `label=${STACK_LABEL}=${stack}`, '--format', '{{.Name}}'])).stdout);
  }

  /** Removes a config or secret; false when Swarm refuses (still used by a service). */
  async removeObject(kind: 'config' | 'secret', name: string): Promise<boolean> {
    try {
      await this.exec([kind, 'rm', '--', name]);
      return true;
    } catch (error) {
      if (isAppError(error) && error.code === 'PROCESS_FAILED') return false;
      throw error;
    }
  }

  private exec(args: string[]) {
    return this.run({ command: 'docker', args, timeoutMs: this.timeoutMs }).catch((error: unknown) => {
      const stderr = String((isAppError(error) && error.details?.['stderr']) || '');
      if (isAppError(error) && error.code === 'PROCESS_FAILED' && /cannot connect|connection refused|no such file or directory.*sock|is the docker daemon running/i.test(stderr)) {
        throw new AppError('ENGINE_UNAVAILABLE', `docker cannot reach its engine: ${stderr.trim().split('\n').pop()}`, { details: isAppError(error) ? error.details : undefined });
      }
      if (isAppError(error) && error.code === 'PROCESS_FAILED' && /not a swarm manager|swarm mode/i.test(stderr)) {
        throw new AppError('COMPOSE_FAILED', `the engine is not a Swarm manager (docker swarm init, or point DOCKER_HOST at a manager): ${stderr.trim().split('\n').pop()}`, { details: isAppError(error) ? error.details : undefined });
      }
      throw error;
    });
  }
}

function lines(text: string): string[] {
  return text.split('\n').map((s) => s.trim()).filter(Boolean);
}

/** A tool's non-zero exit as COMPOSE_FAILED with its most telling line (as the compose runtime reports `up`). */
function toolFailure(error: unknown, what: string): unknown {
  if (!isAppError(error) || error.code !== 'PROCESS_FAILED') return error;
  const output = String(error.details?.['output'] ?? '');
  const said = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = [...said].reverse().find((l) => /error|denied|not found|no such|invalid|failed|manager/i.test(l)) ?? said.at(-1) ?? 'no output';
  const manager = /not a swarm manager|swarm mode/i.test(output) ? ' (the engine is not a Swarm manager: docker swarm init, or point DOCKER_HOST at a manager)' : '';
  return new AppError('COMPOSE_FAILED', `${what} failed: ${line.slice(0, 500)}${manager}`, { details: error.details, cause: error });
}
