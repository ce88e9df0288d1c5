import { isAppError } from '../../errors.js';
import { fail, pass, type CheckResult, type DoctorContext } from './check.js';

const NAME = 'swarm';
const FIX = 'make the engine DOCKER_HOST points at a Swarm manager (`docker swarm init`, or `docker swarm join` as a manager), or point DOCKER_HOST at one';

/**
 * When a service is a Docker Swarm stack: the docker engine must be a Swarm manager, or every
 * `docker stack deploy` fails. No line at all when no service uses Swarm.
 */
export async function checkSwarm(ctx: DoctorContext): Promise<CheckResult[]> {
  if (!ctx.runtimesInUse?.has('swarm')) return [];
  try {
    const result = await ctx.run({ command: 'docker', args: ['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}'], timeoutMs: ctx.timeoutMs });
    const [state, manager] = result.stdout.trim().split(/\s+/);
    if (state === 'active' && manager === 'true') return [pass(NAME, 'the docker engine is a Swarm manager')];
    return [fail(NAME, `the docker engine is not a Swarm manager (Swarm state ${state ?? 'unknown'}, manager ${manager ?? 'unknown'}); Swarm stacks cannot be deployed`, FIX)];
  } catch (error) {
    const why = isAppError(error) ? String(error.details?.['stderr'] ?? error.message).trim().split('\n').pop() : String(error);
    return [fail(NAME, `\`docker info\` failed: ${why}`, FIX)];
  }
}
