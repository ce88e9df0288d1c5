import { existsSync } from 'node:fs';
import http from 'node:http';
import { fail, pass, warn, type CheckResult, type DoctorContext } from './check.js';

const NAME = 'engine-socket';

/** Where an engine API is reached: a unix socket path or a TCP host and port. */
type Target = { socketPath: string } | { host: string; port: number };

interface EngineInfo {
  product: string;
  version: string;
  apiVersion: string;
}

const START_FIX =
  'start the engine API: Podman `systemctl enable --now podman.socket` (rootless: `systemctl --user enable --now podman.socket`), Docker `systemctl start docker`; or point CONTAINER_HOST / DOCKER_HOST at a running engine (unix:///path/to/socket)';

/**
 * The engine sockets the compose tools will talk to: the ones CONTAINER_HOST and DOCKER_HOST
 * name, else the usual places (each that exists). Each is asked `/_ping` and `/version`.
 */
export async function checkEngineSockets(ctx: DoctorContext): Promise<CheckResult[]> {
  const configured = (['CONTAINER_HOST', 'DOCKER_HOST'] as const)
    .map((variable) => ({ variable, value: ctx.env[variable] }))
    .filter((c): c is { variable: 'CONTAINER_HOST' | 'DOCKER_HOST'; value: string } => c.value !== undefined && c.value !== '');
  if (configured.length > 0) {
    const seen = new Set<string>();
    const results: CheckResult[] = [];
    for (const { variable, value } of configured) {
      if (seen.has(value)) continue;
      seen.add(value);
      results.push(await checkEndpoint(`${variable}=${value}`, value, ctx.timeoutMs));
    }
    return results;
  }
  const defaults = ['/run/podman/podman.sock', `/run/user/${ctx.uid}/podman/podman.sock`, '/var/run/docker.sock'].filter((socket) => existsSync(socket));
  if (defaults.length === 0) {
    return [
      warn(
        NAME,
        'no engine socket: CONTAINER_HOST and DOCKER_HOST are unset and none of /run/podman/podman.sock, /run/user/<uid>/podman/podman.sock, /var/run/docker.sock exists (podman and podman-compose work without one; docker and docker compose need one)',
        START_FIX,
      ),
    ];
  }
  return Promise.all(defaults.map((socket) => checkEndpoint(socket, `unix://${socket}`, ctx.timeoutMs)));
}

async function checkEndpoint(label: string, value: string, timeoutMs: number): Promise<CheckResult> {
  let target: Target;
  try {
    target = parseEngineHost(value);
  } catch (error) {
    return warn(NAME, `${label}: ${(error as Error).message}`, 'the doctor checks unix:// and tcp:// engine addresses; check this one with `podman --remote info` or `docker info`');
  }
  const where = 'socketPath' in target ? target.socketPath : `${target.host}:${target.port}`;
  if ('socketPath' in target && !existsSync(target.socketPath)) {
    return fail(NAME, `${label}: no socket at ${target.socketPath}`, START_FIX);
  }
  try {
    const info = await engineInfo(target, timeoutMs);
    return pass(NAME, `${label}: ${info.product} ${info.version} (API ${info.apiVersion})`);
  } catch (error) {
    return fail(NAME, `${label}: ${describeConnectError(error, where, timeoutMs)}`, connectFix(error));
  }
}

/** `unix:///run/podman/podman.sock` or `tcp://host:port` (what podman and docker accept in their host variables). */
export function parseEngineHost(value: string): Target {
  if (value.startsWith('/')) return { socketPath: value };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`not an engine address (expected unix:///path or tcp://host:port)`);
  }
  if (url.protocol === 'unix:') return { socketPath: decodeURIComponent(url.pathname) };
  if (url.protocol === 'tcp:' || url.protocol === 'http:') return { host: url.hostname, port: Number(url.port || 2375) };
  throw new Error(`${url.protocol}// addresses are not checked here`);
}

async function engineInfo(target: Target, timeoutMs: number): Promise<EngineInfo> {
  const ping = await getText(target, '/_ping', timeoutMs);
  if (ping.status !== 200) throw new Error(`/_ping answered ${ping.status} ${ping.body.slice(0, 120)}`);
  const version = await getText(target, '/version', timeoutMs);
  if (version.status !== 200) throw new Error(`/version answered ${version.status}`);
  const body = JSON.parse(version.body) as { Version?: string; ApiVersion?: string; Components?: Array<{ Name?: string; Version?: string }> };
  const podman = body.Components?.find((c) => c.Name?.includes('Podman'));
  return {
    product: podman ? 'Podman Engine' : 'Docker Engine',
    version: podman?.Version ?? body.Version ?? 'unknown',
    apiVersion: body.ApiVersion ?? 'unknown',
  };
}

function getText(target: Target, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ ...target, path, headers: { host: 'd' }, timeout: timeoutMs }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    request.on('error', reject);
  });
}

function describeConnectError(error: unknown, where: string, timeoutMs: number): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EACCES') return `permission denied on ${where}`;
  if (code === 'ECONNREFUSED') return `nothing answers on ${where} (a stale socket, or the engine is stopped)`;
  if (code === 'ETIMEDOUT') return `${where} did not answer within ${Math.round(timeoutMs / 1000)} s`;
  return `${where}: ${(error as Error).message}`;
}

function connectFix(error: unknown): string {
  if ((error as NodeJS.ErrnoException).code === 'EACCES') {
    return "run the server as root or as a user in the socket's group (e.g. `docker`), or use the rootless Podman socket of the server's user";
  }
  return START_FIX;
}
