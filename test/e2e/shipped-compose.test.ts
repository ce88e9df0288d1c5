// End to end: the compose files shipped in deploy/ as an operator uses them, brought up by the
// real tools (podman-compose 1.0.3 against Podman, docker-compose 1.29 against the private
// dockerd) from their place in an environment repository, next to a `.env` and the secrets
// file. The server image is not needed for what is checked here (what the tool hands the
// engine), so the service runs busybox with a `command:` override, through the file's own
// GDS_IMAGE. Checked on the container the engine created: every setting in `.env` reaches the
// server's environment, the secrets file wins over `.env`, the layout's fixed values win over
// both, and the engine's stop timeout covers SHUTDOWN_GRACE_SECONDS.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { freePort, removeProject, requireEngines, sh, uid } from './harness.js';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const SERVICE = 'gitops-deploy-server';
/** What the shipped files set as stop_grace_period: SHUTDOWN_GRACE_SECONDS' default (60) plus a margin. */
const STOP_GRACE_SECONDS = 90;

interface Tool {
  engine: 'podman' | 'docker';
  file: 'podman-compose.yml' | 'docker-compose.yml';
  /** The compose command and the environment it runs with. */
  compose: (engines: NonNullable<ReturnType<typeof requireEngines>>) => { command: string; env: Record<string, string> };
  /** `.env` lines naming the socket to mount. */
  socketSetting: (engines: NonNullable<ReturnType<typeof requireEngines>>) => string;
}

const TOOLS: Tool[] = [
  {
    engine: 'podman',
    file: 'podman-compose.yml',
    compose: () => ({ command: 'podman-compose', env: {} }),
    socketSetting: (e) => `PODMAN_SOCKET=${e.podmanSocket}`,
  },
  {
    engine: 'docker',
    file: 'docker-compose.yml',
    compose: (e) => ({ command: 'docker-compose', env: { DOCKER_HOST: e.dockerHost } }),
    socketSetting: (e) => `DOCKER_SOCKET=${e.dockerSocket}`,
  },
];

/** podman-compose 1.0.3 (Debian 12) does not pass stop_grace_period to Podman; later releases do. */
function podmanComposeIgnoresStopGrace(): boolean {
  return /podman-composer? version:?\s+1\.0\./.test(sh('podman-compose', ['version']));
}

for (const tool of TOOLS) {
  test(`deploy/${tool.file} with ${tool.engine}: settings from .env reach the server, the stop timeout covers the shutdown grace`, { timeout: 180_000 }, async (t) => {
    const engines = requireEngines(t);
    if (!engines) return;
    const { command, env } = tool.compose(engines);
    const project = `gds-shipped-${tool.engine}-${uid()}`;
    const root = mkdtempSync(path.join(tmpdir(), 'gds-e2e-shipped-'));
    t.after(() => {
      try {
        sh(command, ['-p', project, 'down', '-v'], { cwd: path.join(root, 'services', SERVICE), env });
      } catch {
        // Whatever down left is removed below.
      }
      // podman-compose 1.0.3's down leaves the project network behind.
      removeProject(tool.engine, project, env);
      rmSync(root, { recursive: true, force: true });
    });

    const dir = path.join(root, 'services', SERVICE);
    mkdirSync(dir, { recursive: true });
    mkdirSync(path.join(root, 'secrets'));
    const shipped = readFileSync(path.join(REPO_ROOT, 'deploy', tool.file), 'utf8');
    assert.match(shipped, /^ {4}init: true$/m);
    // The only change to the shipped file: busybox needs a command to keep running.
    writeFileSync(path.join(dir, tool.file), shipped.replace(/^ {4}init: true$/m, '    init: true\n    command: ["sleep", "3600"]'));
    const port = await freePort();
    writeFileSync(
      path.join(dir, '.env'),
      [
        `ENV_REPO_PATH=${root}`,
        tool.socketSetting(engines),
        `GDS_PORT=${port}`,
        `GDS_IMAGE=${engines.busyboxImage}`,
        // Settings the file does not name: they must reach the server all the same.
        'SELF_UPDATE_HEALTH_TIMEOUT_SECONDS=123',
        'LOG_LEVEL=debug',
        'INSTANCE_LABEL=from-dot-env',
        // Fixed by the container's layout: `.env` cannot move the data directory out of its volume.
        'DATA_DIR=/somewhere-else',
        '',
      ].join('\n'),
    );
    writeFileSync(path.join(root, 'secrets', `${SERVICE}.env`), 'WEBHOOK_SECRET=shipped-compose-secret-0123456789\nINSTANCE_LABEL=from-secrets\n');

    sh(command, ['-p', project, 'up', '-d'], { cwd: dir, env });
    const ids = sh(tool.engine, ['ps', '-a', '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=${project}`], { env }).split('\n').filter(Boolean);
    assert.equal(ids.length, 1, `one container for the project: ${ids.join(', ')}`);
    const [inspected] = JSON.parse(sh(tool.engine, ['container', 'inspect', ids[0]!], { env })) as Array<{ State: { Status: string }; Config: { Env: string[]; StopTimeout?: number } }>;
    assert.equal(inspected!.State.Status, 'running');
    const containerEnv = Object.fromEntries(inspected!.Config.Env.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));

    assert.equal(containerEnv['SELF_UPDATE_HEALTH_TIMEOUT_SECONDS'], '123', 'a setting only in .env reaches the server');
    assert.equal(containerEnv['LOG_LEVEL'], 'debug');
    assert.equal(containerEnv['INSTANCE_LABEL'], 'from-secrets', 'the secrets file is read after .env');
    assert.equal(containerEnv['WEBHOOK_SECRET'], 'shipped-compose-secret-0123456789');
    assert.equal(containerEnv['DATA_DIR'], '/data', 'environment: (the layout) wins over the files');
    assert.equal(containerEnv['ENV_REPO_PATH'], root);

    const stopTimeout = inspected!.Config.StopTimeout;
    if (tool.engine === 'podman' && podmanComposeIgnoresStopGrace()) {
      // Said in the README and in the file: with this tool the container keeps Podman's default.
      // Should this fail, the tool passes stop_grace_period now: update both.
      assert.equal(stopTimeout, 10, 'podman-compose 1.0.3 ignores stop_grace_period');
      t.diagnostic(`podman-compose 1.0.3: StopTimeout ${stopTimeout} s (stop_grace_period ignored; see the README)`);
    } else {
      assert.equal(stopTimeout, STOP_GRACE_SECONDS, 'the engine waits stop_grace_period before it kills the server');
    }
  });
}
