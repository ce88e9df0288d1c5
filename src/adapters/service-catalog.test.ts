import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { changedFiles } from '../domain/fingerprint.js';
import { MISSING_DIGEST, type ServiceSource } from '../domain/types.js';
import { createGitRepository } from './git-repository.js';
import { createProcessRunner } from './process-runner.js';
import { createServiceCatalog } from './service-catalog.js';

const run = createProcessRunner({ baseEnv: process.env });
const identity = ['-c', 'user.name=Test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false'];
const roots: string[] = [];
let repo: string;

async function git(...args: string[]): Promise<void> {
  await run({ command: 'git', args: [...identity, '-C', repo, ...args] });
}

function write(file: string, content: string): void {
  mkdirSync(dirname(join(repo, file)), { recursive: true });
  writeFileSync(join(repo, file), content);
}

async function commitAll(): Promise<void> {
  await git('add', '-A');
  await git('commit', '-q', '--allow-empty', '-m', 'change');
}

function catalog(options: { inputFileLimit?: number } = {}) {
  return createServiceCatalog({
    repoPath: repo,
    servicesDirectory: 'services',
    defaultRuntime: 'docker',
    repository: createGitRepository({ path: repo, run }),
    ...options,
  });
}

async function service(name: string, options: { inputFileLimit?: number } = {}): Promise<ServiceSource> {
  const found = await catalog(options).find(name);
  assert.ok(found, `service ${name} not found`);
  return found;
}

const APP_COMPOSE = `
services:
  app:
    image: example/app:1
    env_file: ../../secrets/app.env
    volumes:
      - ./config:/etc/app:ro
      - ./local.conf:/etc/local.conf:ro
      - ./data:/var/lib/app
      - appdata:/cache
`;

describe('createServiceCatalog', () => {
  after(() => roots.forEach((root) => rmSync(root, { recursive: true, force: true })));

  beforeEach(async () => {
    repo = mkdtempSync(join(tmpdir(), 'service-catalog-test-'));
    roots.push(repo);
    await run({ command: 'git', args: ['init', '-q', '-b', 'main', repo] });
    write('.gitignore', 'secrets/\nlocal.conf\ndata/\n');
    write('secrets/app.env', 'TOKEN=1\n');
    write('services/app/podman-compose.yml', APP_COMPOSE);
    write('services/app/config/app.ini', 'level=info\n');
    write('services/app/local.conf', 'host-specific\n');
    await commitAll();
  });

  it('fingerprints the compose file, tracked files, env files outside the directory and bind-mounted files', async () => {
    const app = await service('app');
    assert.deepEqual(Object.keys(app.files).sort(), ['../../secrets/app.env', 'config/app.ini', 'local.conf', 'podman-compose.yml']);
    assert.deepEqual(app.requiredEnvFiles, ['../../secrets/app.env']);
    assert.equal(app.runtime, 'podman');
    assert.equal(app.composeFile, 'podman-compose.yml');
    assert.equal(app.projectName, 'app');
    assert.equal(app.dir, join(repo, 'services', 'app'));
    assert.equal(app.problem, undefined);
  });

  it('lists the inputs git does not track: ignored secrets and local files, inside the checkout or outside it', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'service-catalog-outside-'));
    roots.push(outside);
    writeFileSync(join(outside, 'host.env'), 'A=1\n');
    write('shared/common.env', 'B=2\n');
    write('services/app/.env', 'C=3\n');
    write('services/app/podman-compose.yml', `${APP_COMPOSE}    env_file:\n      - ../../secrets/app.env\n      - ../../shared/common.env\n      - ${outside}/host.env\n`.replace('    env_file: ../../secrets/app.env\n', ''));
    await commitAll();
    const app = await service('app');
    assert.deepEqual(app.untrackedInputs, ['../../secrets/app.env', `${outside}/host.env`, 'local.conf']);
    const [discovered] = await catalog().discover();
    assert.deepEqual(discovered?.untrackedInputs, app.untrackedInputs);
  });

  it('a YAML error quoting an inline secret names the fault without the secret', async () => {
    write('services/broken/compose.yaml', 'services:\n  app:\n    environment:\n      DB_PASSWORD: hunter2\n     bad: [\n');
    await commitAll();
    const broken = await service('broken');
    assert.equal(broken.problem?.code, 'COMPOSE_FILE_INVALID');
    assert.match(broken.problem?.message ?? '', /at line 5, column 1/);
    assert.match(broken.problem?.message ?? '', /DB_PASSWORD: \*\*\*/);
    assert.ok(!broken.problem?.message.includes('hunter2'));
  });

  it('reads the x-gitops opt-in to image polling; a bad x-gitops is a problem, not silence', async () => {
    assert.equal((await service('app')).pollImages, undefined);
    write('services/polled/compose.yaml', 'x-gitops:\n  poll-images: true\nservices:\n  web:\n    image: nginx\n');
    write('services/typo/compose.yaml', 'x-gitops:\n  poll-image: true\nservices:\n  web:\n    image: nginx\n');
    await commitAll();
    assert.equal((await service('polled')).pollImages, true);
    const typo = await service('typo');
    assert.equal(typo.pollImages, undefined);
    assert.equal(typo.problem?.code, 'COMPOSE_FILE_INVALID');
    assert.match(typo.problem?.message ?? '', /unknown keys: poll-image/);
  });

  it('a docker-stack.yml directory is a Swarm stack whose configs and secrets files are inputs; x-gitops runtime overrides the name', async () => {
    write('services/stack/docker-stack.yml', 'services:\n  web:\n    image: nginx\n    configs: [web_conf]\nconfigs:\n  web_conf:\n    file: ./web.conf\nsecrets:\n  token:\n    file: ../../secrets/token\n');
    write('services/stack/web.conf', 'a=1\n');
    write('secrets/token', 's3cret\n');
    write('services/forced/compose.yaml', 'x-gitops:\n  runtime: swarm\nservices:\n  web:\n    image: nginx\n');
    await commitAll();
    const stack = await service('stack');
    assert.equal(stack.runtime, 'swarm');
    assert.equal(stack.composeFile, 'docker-stack.yml');
    assert.ok(stack.files['web.conf'] && stack.files['web.conf'] !== MISSING_DIGEST, JSON.stringify(stack.files));
    assert.ok(stack.files['../../secrets/token'] && stack.files['../../secrets/token'] !== MISSING_DIGEST, JSON.stringify(stack.files));
    const before = stack.fingerprint;
    write('services/stack/web.conf', 'a=2\n');
    assert.notEqual((await service('stack')).fingerprint, before, 'a config file change is a change of the stack');
    assert.equal((await service('forced')).runtime, 'swarm');
  });

  it('changes the fingerprint when a secret env file outside the directory changes, and names it', async () => {
    const before = await service('app');
    write('secrets/app.env', 'TOKEN=2\n');
    const afterChange = await service('app');
    assert.notEqual(afterChange.fingerprint, before.fingerprint);
    assert.deepEqual(changedFiles(before.files, afterChange.files), ['../../secrets/app.env']);
  });

  it('ignores untracked data written inside the service directory', async () => {
    const before = await service('app');
    write('services/app/data/db.bin', 'rows');
    write('services/app/stray.txt', 'not committed');
    assert.equal((await service('app')).fingerprint, before.fingerprint);
  });

  it('changes the fingerprint when a bind-mounted ignored file changes', async () => {
    const before = await service('app');
    write('services/app/local.conf', 'other host\n');
    const afterChange = await service('app');
    assert.deepEqual(changedFiles(before.files, afterChange.files), ['local.conf']);
  });

  it('changes the fingerprint when a tracked config file changes', async () => {
    const before = await service('app');
    write('services/app/config/app.ini', 'level=debug\n');
    await commitAll();
    assert.deepEqual(changedFiles(before.files, (await service('app')).files), ['config/app.ini']);
  });

  it('includes interpolation env files beside the compose file, tracked or not', async () => {
    write('services/app/.env', 'TAG=2\n');
    write('services/app/podman-compose.env', 'X=1\n');
    const app = await service('app');
    assert.ok(app.files['.env']?.match(/^[0-9a-f]{64}$/));
    assert.ok(app.files['podman-compose.env']?.match(/^[0-9a-f]{64}$/));
  });

  it('chooses the runtime from the compose file name', async () => {
    write('services/dock/docker-compose.yml', 'services: { a: { image: x } }\n');
    write('services/neutral/compose.yaml', 'services: { a: { image: x } }\n');
    const services = await catalog().discover();
    assert.deepEqual(
      services.map((s) => [s.name, s.runtime, s.composeFile]),
      [
        ['app', 'podman', 'podman-compose.yml'],
        ['dock', 'docker', 'docker-compose.yml'],
        ['neutral', 'docker', 'compose.yaml'],
      ],
    );
  });

  it('skips directories without a compose file, hidden directories and invalid names', async () => {
    write('services/docs/README.md', 'no compose here\n');
    write('services/.hidden/compose.yaml', 'services: {}\n');
    write('services/-dash/compose.yaml', 'services: {}\n');
    write('services/loose-file.yml', 'services: {}\n');
    assert.deepEqual(
      (await catalog().discover()).map((s) => s.name),
      ['app'],
    );
    assert.equal(await catalog().find('docs'), undefined);
    assert.equal(await catalog().find('.hidden'), undefined);
    assert.equal(await catalog().find('..'), undefined);
    assert.equal(await catalog().find('nope'), undefined);
    // has() answers the same, without hashing: what a request may name.
    assert.equal(await catalog().has('app'), true);
    for (const name of ['docs', '.hidden', '-dash', '..', 'nope', 'loose-file.yml']) assert.equal(await catalog().has(name), false, name);
  });

  it('flags a directory with two compose files as ambiguous and uses the first by list order', async () => {
    write('services/both/podman-compose.yml', 'services: { a: { image: x } }\n');
    write('services/both/compose.yaml', 'services: { a: { image: y } }\n');
    const both = await service('both');
    assert.equal(both.problem?.code, 'COMPOSE_FILE_AMBIGUOUS');
    assert.match(both.problem?.message ?? '', /compose\.yaml, podman-compose\.yml/);
    assert.equal(both.composeFile, 'compose.yaml');
  });

  it('flags unparseable or badly shaped compose files and still fingerprints them', async () => {
    write('services/broken/compose.yaml', 'services: [\n');
    write('services/shape/compose.yaml', 'services: just-a-string\n');
    write('services/shape/.env', 'A=1\n');
    const broken = await service('broken');
    assert.equal(broken.problem?.code, 'COMPOSE_FILE_INVALID');
    assert.deepEqual(Object.keys(broken.files), ['compose.yaml']);
    const shape = await service('shape');
    assert.equal(shape.problem?.code, 'COMPOSE_FILE_INVALID');
    assert.match(shape.problem?.message ?? '', /"services" must be a mapping/);
    assert.deepEqual(Object.keys(shape.files).sort(), ['.env', 'compose.yaml']);

    const before = broken.fingerprint;
    write('services/broken/compose.yaml', 'services: [[\n');
    assert.notEqual((await service('broken')).fingerprint, before);
  });

  it('lists missing required env files and marks every missing env file as missing', async () => {
    write(
      'services/envs/compose.yaml',
      ['services:', '  a:', '    env_file:', '      - path: ./missing.env', '      - path: ./optional.env', '        required: false', ''].join('\n'),
    );
    const envs = await service('envs');
    assert.deepEqual(envs.requiredEnvFiles, ['missing.env']);
    assert.equal(envs.files['missing.env'], MISSING_DIGEST);
    assert.equal(envs.files['optional.env'], MISSING_DIGEST);
    write('services/envs/optional.env', 'X=1\n');
    assert.deepEqual(changedFiles(envs.files, (await service('envs')).files), ['optional.env']);
  });

  it('hashes read-only bind-mounted files outside the repository and ignores directories, missing sources and writable ones', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'service-catalog-outside-'));
    roots.push(outside);
    writeFileSync(join(outside, 'host.conf'), 'a');
    writeFileSync(join(outside, 'state.db'), 'rows');
    write('services/host/compose.yaml', `services:\n  a:\n    volumes:\n      - ${outside}/host.conf:/h.conf:ro\n      - ${outside}/state.db:/state.db\n      - ${outside}:/dir\n      - ./absent:/absent\n`);
    const host = await service('host');
    assert.deepEqual(Object.keys(host.files).sort(), [`${outside}/host.conf`, 'compose.yaml']);
    assert.deepEqual(host.untrackedInputs, [`${outside}/host.conf`, `${outside}/state.db`, 'compose.yaml']);
    unlinkSync(join(outside, 'host.conf'));
    assert.deepEqual(changedFiles(host.files, (await service('host')).files), [`${outside}/host.conf`]);
  });

  describe('data files', () => {
    const PROXY = `
services:
  proxy:
    image: example/proxy:1
    env_file: ../../secrets/app.env
    volumes:
      - ./acme.json:/acme.json
      - ./traefik.toml:/etc/traefik.toml
      - ./host.toml:/etc/host.toml:ro
      - ../shared/routes.toml:/etc/routes.toml
      - ../../secrets/state.db:/state.db
      - type: bind
        source: ./long.conf
        target: /long.conf
        read_only: true
`;

    beforeEach(async () => {
      write('.gitignore', 'secrets/\nacme.json\nhost.toml\nlong.conf\n');
      write('services/proxy/compose.yaml', PROXY);
      write('services/proxy/traefik.toml', 'tracked, mounted read-write\n');
      write('services/shared/routes.toml', 'tracked elsewhere in the repository\n');
      await commitAll();
      write('services/proxy/acme.json', '{}');
      write('services/proxy/host.toml', 'untracked, read-only\n');
      write('services/proxy/long.conf', 'untracked, read_only: true\n');
      write('secrets/state.db', 'rows');
    });

    it('leaves read-write mounts of untracked files out; tracked files and read-only mounts count', async () => {
      const proxy = await service('proxy');
      assert.deepEqual(Object.keys(proxy.files).sort(), ['../../secrets/app.env', '../shared/routes.toml', 'compose.yaml', 'host.toml', 'long.conf', 'traefik.toml']);
      assert.deepEqual(proxy.untrackedInputs, ['../../secrets/app.env', '../../secrets/state.db', 'acme.json', 'host.toml', 'long.conf']);
      // The container writes its data: no redeploy.
      write('services/proxy/acme.json', '{"certificates": ["..."]}');
      write('secrets/state.db', 'more rows');
      assert.equal((await service('proxy')).fingerprint, proxy.fingerprint);
      write('services/proxy/host.toml', 'changed\n');
      assert.deepEqual(changedFiles(proxy.files, (await service('proxy')).files), ['host.toml']);
    });

    it('counts a writable file that is also mounted read-only elsewhere, and one that turns tracked', async () => {
      write('services/proxy/compose.yaml', `${PROXY}  reader:\n    image: example/reader:1\n    volumes: [./acme.json:/acme.json:ro]\n`);
      assert.ok('acme.json' in (await service('proxy')).files);
      write('services/proxy/compose.yaml', PROXY);
      await git('add', '-f', 'services/proxy/acme.json');
      await commitAll();
      const proxy = await service('proxy');
      assert.ok('acme.json' in proxy.files);
      assert.ok(!proxy.untrackedInputs?.includes('acme.json'));
    });

    it('leaves out what x-gitops.ignore matches, never the compose file or env files', async () => {
      write('services/proxy/compose.yaml', `x-gitops:\n  ignore: ["*.toml", "compose.yaml", "../../secrets/*", "seed/**"]\n${PROXY}`);
      write('services/proxy/seed/a/rows.csv', 'tracked seed data\n');
      write('services/proxy/.env', 'TAG=1\n');
      await commitAll();
      const proxy = await service('proxy');
      assert.deepEqual(Object.keys(proxy.files).sort(), ['../../secrets/app.env', '.env', 'compose.yaml', 'long.conf']);
      assert.deepEqual(proxy.untrackedInputs, ['../../secrets/app.env', '../../secrets/state.db', 'acme.json', 'host.toml', 'long.conf']);
      assert.equal((await catalog().discover()).find((s) => s.name === 'proxy')?.fingerprint, proxy.fingerprint);
    });
  });

  it('discovers the same services find() describes', async () => {
    write('services/other/compose.yml', 'services: { a: { image: x } }\n');
    await commitAll();
    const discovered = await catalog().discover();
    assert.deepEqual(discovered, [await service('app'), await service('other')]);
  });

  describe('inputs that are not regular files', () => {
    // A regression blocks for ever (FIFO) or reads until memory runs out (/dev/zero): fail visibly instead.
    const QUICK = { timeout: 10_000 };

    it('makes a tracked symlink to a FIFO a problem of its service, at once, and leaves other services alone', QUICK, async () => {
      write('services/other/compose.yaml', 'services:\n  web:\n    image: example/web:1\n');
      execFileSync('mkfifo', [join(repo, 'pipe')]); // untracked: git stores only the symlink
      symlinkSync('../../../pipe', join(repo, 'services/app/config/linked.ini'));
      await commitAll();
      const services = await catalog().discover();
      const app = services.find((s) => s.name === 'app');
      assert.equal(app?.problem?.code, 'INPUT_FILE_INVALID');
      assert.match(app.problem.message, /config\/linked\.ini is a FIFO/);
      assert.equal(services.find((s) => s.name === 'other')?.problem, undefined);
    });

    it('makes an env_file symlinked to /dev/zero a problem instead of reading it', QUICK, async () => {
      rmSync(join(repo, 'secrets/app.env'));
      symlinkSync('/dev/zero', join(repo, 'secrets/app.env'));
      const app = await service('app');
      assert.equal(app.problem?.code, 'INPUT_FILE_INVALID');
      assert.match(app.problem.message, /\.\.\/\.\.\/secrets\/app\.env is a character device/);
    });

    it('makes a .env that is a FIFO, and a file over the cap, problems naming the file', QUICK, async () => {
      execFileSync('mkfifo', [join(repo, 'services/app/.env')]);
      assert.match((await service('app')).problem?.message ?? '', /app: \.env is a FIFO/);
      rmSync(join(repo, 'services/app/.env'));
      write('services/app/config/app.ini', 'x'.repeat(2048));
      await commitAll();
      const app = await service('app', { inputFileLimit: 1024 });
      assert.equal(app.problem?.code, 'INPUT_FILE_INVALID');
      assert.match(app.problem.message, /config\/app\.ini is larger than 1024 bytes/);
      assert.equal((await service('app')).problem, undefined, 'the default cap takes it');
    });

    it('makes a compose file that is a FIFO a problem', QUICK, async () => {
      rmSync(join(repo, 'services/app/podman-compose.yml'));
      execFileSync('mkfifo', [join(repo, 'services/app/podman-compose.yml')]);
      const app = await service('app');
      assert.equal(app.problem?.code, 'INPUT_FILE_INVALID');
      assert.match(app.problem.message, /podman-compose\.yml is a FIFO/);
    });

    it('makes a configs file that is not a regular file a problem', QUICK, async () => {
      write('services/app/podman-compose.yml', `${APP_COMPOSE}configs:\n  conf:\n    file: ./confdir\n`);
      mkdirSync(join(repo, 'services/app/confdir'));
      assert.match((await service('app')).problem?.message ?? '', /confdir is a directory/);
    });

    it('accepts sockets, devices and directories as bind sources without hashing them', QUICK, async () => {
      const socket = join(repo, 'engine.sock');
      const server = createServer();
      await new Promise<void>((done) => server.listen(socket, done));
      try {
        execFileSync('mkfifo', [join(repo, 'services/app/events.fifo')]);
        write('services/app/podman-compose.yml', `
services:
  app:
    image: example/app:1
    volumes:
      - ${socket}:/var/run/docker.sock
      - /dev/null:/dev/null-host
      - ./events.fifo:/run/events
      - ./config:/etc/app:ro
`);
        await commitAll();
        const app = await service('app');
        assert.equal(app.problem, undefined);
        assert.deepEqual(Object.keys(app.files).sort(), ['config/app.ini', 'podman-compose.yml']);
      } finally {
        server.close();
      }
    });
  });

  it('fails when the services directory is missing instead of reporting no services', async () => {
    const broken = createServiceCatalog({
      repoPath: repo,
      servicesDirectory: 'no-such-dir',
      defaultRuntime: 'docker',
      repository: createGitRepository({ path: repo, run }),
    });
    await assert.rejects(broken.discover(), { code: 'REPOSITORY_INVALID' });
  });
});
