import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, DEFAULT_ENV_REPO_PATH, loadConfig, type ConfigFs } from './config.js';

const SECRET = 'sixteen-chars-or-more-secret';

/** A file system holding only the given files; `/env-repo` exists when listed. */
function fakeFs(files: Record<string, string> = {}, dirs: string[] = []): ConfigFs & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    readFile(file) {
      reads.push(file);
      const content = files[file];
      if (content === undefined) throw new Error(`ENOENT: no such file or directory, open '${file}'`);
      return content;
    },
    exists: (file) => file in files || dirs.includes(file),
  };
}

function configError(env: NodeJS.ProcessEnv, fs: ConfigFs = fakeFs()): ConfigError {
  try {
    loadConfig(env, fs);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig', () => {
  it('uses the defaults, with the checkout at /env-repo when it exists', () => {
    const config = loadConfig({ WEBHOOK_SECRET: SECRET }, fakeFs({}, [DEFAULT_ENV_REPO_PATH]));
    assert.equal(config.port, 8080);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.servicesDirectory, 'services');
    assert.equal(config.deployServerName, 'gitops-deploy-server');
    assert.equal(config.envRepoPath, '/env-repo');
    assert.equal(config.exampleMode, false);
    assert.equal(config.envRepoUrl, undefined);
    assert.equal(config.webhookSecret, SECRET);
    assert.equal(config.defaultRuntime, 'podman');
    assert.equal(config.parallelism, 4);
    assert.equal(config.composeTimeoutMs, 900_000);
    assert.equal(config.gitTimeoutMs, 120_000);
    assert.equal(config.maxBodyBytes, 1024 * 1024);
    assert.equal(config.dockerCompose, 'auto');
    assert.equal(config.logLevel, 'info');
    assert.equal(config.dataDir, path.resolve('./data'));
  });

  it('reads every variable it knows', () => {
    const config = loadConfig(
      {
        PORT: '9000', HOST: '127.0.0.1', DATA_DIR: '/var/lib/gitops', ENV_REPO_URL: 'https://git.example.com/env.git',
        ENV_REPO_BRANCH: 'release/prod', GITOPS_SERVICES_DIRECTORY: 'stacks/', DEPLOY_SERVER_NAME: 'deployer',
        WEBHOOK_SECRET: SECRET, DEFAULT_RUNTIME: 'docker', DEPLOY_PARALLELISM: '8', COMPOSE_TIMEOUT_SECONDS: '60',
        GIT_TIMEOUT_SECONDS: '30', MAX_BODY_BYTES: '2048', DOCKER_COMPOSE: 'standalone', LOG_LEVEL: 'debug', GHCR_USER: 'bot',
      },
      fakeFs(),
    );
    assert.equal(config.port, 9000);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.envRepoPath, '/var/lib/gitops/env-repo');
    assert.equal(config.envRepoUrl, 'https://git.example.com/env.git');
    assert.equal(config.envRepoBranch, 'release/prod');
    assert.equal(config.exampleMode, false);
    assert.equal(config.servicesDirectory, 'stacks');
    assert.equal(config.deployServerName, 'deployer');
    assert.equal(config.defaultRuntime, 'docker');
    assert.equal(config.parallelism, 8);
    assert.equal(config.composeTimeoutMs, 60_000);
    assert.equal(config.gitTimeoutMs, 30_000);
    assert.equal(config.maxBodyBytes, 2048);
    assert.equal(config.dockerCompose, 'standalone');
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.ghcrUser, 'bot');
  });

  it('uses ENV_REPO_PATH as given', () => {
    const config = loadConfig({ WEBHOOK_SECRET: SECRET, ENV_REPO_PATH: '/srv/env' }, fakeFs());
    assert.equal(config.envRepoPath, '/srv/env');
    assert.equal(config.exampleMode, false);
  });

  it('serves the example repository when nothing is configured and /env-repo is missing', () => {
    const config = loadConfig({}, fakeFs());
    assert.equal(config.exampleMode, true);
    assert.equal(config.webhookSecret, undefined);
    assert.equal(config.envRepoPath, path.join(path.resolve('./data'), 'example', 'env-repo'));
  });

  it('treats blank variables as unset', () => {
    const config = loadConfig({ PORT: '', ENV_REPO_PATH: '', WEBHOOK_SECRET: '' }, fakeFs());
    assert.equal(config.port, 8080);
    assert.equal(config.exampleMode, true);
  });

  it('reads WEBHOOK_SECRET_FILE and strips the trailing newline', () => {
    const fs = fakeFs({ '/run/secrets/webhook': `${SECRET}\n` }, [DEFAULT_ENV_REPO_PATH]);
    const config = loadConfig({ WEBHOOK_SECRET_FILE: '/run/secrets/webhook' }, fs);
    assert.equal(config.webhookSecret, SECRET);
    assert.deepEqual(fs.reads, ['/run/secrets/webhook']);
    const crlf = loadConfig({ WEBHOOK_SECRET_FILE: '/s' }, fakeFs({ '/s': `${SECRET}\r\n` }, [DEFAULT_ENV_REPO_PATH]));
    assert.equal(crlf.webhookSecret, SECRET);
  });

  it('reports an unreadable secret file', () => {
    const error = configError({ WEBHOOK_SECRET_FILE: '/nope', ENV_REPO_PATH: '/srv/env' });
    assert.equal(error.problems.length, 1);
    assert.match(error.problems[0]!, /WEBHOOK_SECRET_FILE \/nope cannot be read/);
  });

  it('requires a secret outside example mode, and warns about a short one', () => {
    assert.deepEqual(configError({ ENV_REPO_PATH: '/srv/env' }).problems, ['WEBHOOK_SECRET or WEBHOOK_SECRET_FILE is required']);
    assert.deepEqual(configError({}, fakeFs({}, [DEFAULT_ENV_REPO_PATH])).problems, ['WEBHOOK_SECRET or WEBHOOK_SECRET_FILE is required']);
    const short = loadConfig({ ENV_REPO_PATH: '/srv/env', WEBHOOK_SECRET: 'short' }, fakeFs({}));
    assert.equal(short.webhookSecret, 'short', 'the old server accepted short secrets; so do we');
    assert.match(short.warnings.join('\n'), /shorter than 16/);
  });

  it('reports several problems together in one ConfigError', () => {
    const error = configError({ PORT: 'abc', DEPLOY_PARALLELISM: '0', ENV_REPO_PATH: '/srv/env' });
    assert.equal(error.problems.length, 3, error.problems.join('\n'));
    assert.ok(error.problems.some((p) => /PORT must be a whole number/.test(p)));
    assert.ok(error.problems.some((p) => /DEPLOY_PARALLELISM must be between 1 and 64/.test(p)));
    assert.ok(error.problems.some((p) => /WEBHOOK_SECRET or WEBHOOK_SECRET_FILE is required/.test(p)));
    for (const problem of error.problems) assert.ok(error.message.includes(problem));
  });

  it('reports conflicting settings', () => {
    const error = configError({
      WEBHOOK_SECRET: SECRET, WEBHOOK_SECRET_FILE: '/s', ENV_REPO_PATH: '/a', ENV_REPO_URL: 'https://x/y.git',
    }, fakeFs({ '/s': SECRET }));
    assert.equal(error.problems.length, 2, error.problems.join('\n'));
  });

  it('refuses bad values with messages that name the variable', () => {
    const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
      [{ PORT: '70000' }, /PORT/],
      [{ GITOPS_SERVICES_DIRECTORY: '../elsewhere' }, /GITOPS_SERVICES_DIRECTORY/],
      [{ GITOPS_SERVICES_DIRECTORY: '/abs' }, /GITOPS_SERVICES_DIRECTORY/],
      [{ DEPLOY_SERVER_NAME: '../x' }, /DEPLOY_SERVER_NAME/],
      [{ DEFAULT_RUNTIME: 'lxc' }, /DEFAULT_RUNTIME/],
      [{ ENV_REPO_BRANCH: 'main; rm -rf /' }, /ENV_REPO_BRANCH/],
      [{ LOG_LEVEL: 'verbose' }, /LOG_LEVEL/],
      [{ MAX_BODY_BYTES: '0' }, /MAX_BODY_BYTES/],
    ];
    for (const [env, pattern] of cases) {
      const error = configError({ WEBHOOK_SECRET: SECRET, ENV_REPO_PATH: '/srv/env', ...env });
      assert.match(error.problems.join('\n'), pattern, JSON.stringify(env));
    }
  });

  describe('the environment of git and the compose tools', () => {
    const withRepo = fakeFs({ '/s': SECRET }, [DEFAULT_ENV_REPO_PATH]);
    const childEnv = (env: NodeJS.ProcessEnv) => loadConfig({ WEBHOOK_SECRET: SECRET, ...env }, withRepo).childEnv;

    it('keeps cloud credentials and other variables nobody named out', () => {
      const env = childEnv({ PATH: '/usr/bin', AWS_SECRET_ACCESS_KEY: 'aws-secret', AWS_ACCESS_KEY_ID: 'AKIA', GOOGLE_APPLICATION_CREDENTIALS: '/k.json', DATABASE_URL: 'postgres://u:p@db/x', FOO: 'bar' });
      assert.deepEqual(env, { PATH: '/usr/bin' });
    });

    it('passes each allow-listed variable, the locale and git\'s own', () => {
      const allowed = [
        'PATH', 'HOME', 'USER', 'LANG', 'TZ', 'TMPDIR', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy',
        'SSH_AUTH_SOCK', 'CONTAINER_HOST', 'CONTAINER_CONNECTION', 'CONTAINERS_CONF', 'CONTAINERS_REGISTRIES_CONF', 'CONTAINERS_STORAGE_CONF',
        'DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_CONFIG', 'DOCKER_CONTEXT', 'REGISTRY_AUTH_FILE', 'XDG_RUNTIME_DIR',
        'XDG_CONFIG_HOME', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'LC_ALL', 'LC_CTYPE', 'GIT_SSH_COMMAND', 'GIT_SSL_CAINFO', 'GIT_CONFIG_GLOBAL',
      ];
      const env = childEnv(Object.fromEntries(allowed.map((name) => [name, `value-of-${name}`])));
      for (const name of allowed) assert.equal(env[name], `value-of-${name}`, name);
    });

    it('keeps what would redirect the server\'s git or compose project out', () => {
      const env = childEnv({ GIT_DIR: '/elsewhere/.git', GIT_WORK_TREE: '/elsewhere', GIT_INDEX_FILE: '/i', COMPOSE_PROJECT_NAME: 'x', COMPOSE_FILE: 'y.yml', GIT_TERMINAL_PROMPT: '1' });
      assert.deepEqual(env, {});
    });

    it('passes the variables CHILD_ENV_PASS names, and only those that are set', () => {
      assert.deepEqual(childEnv({ CHILD_ENV_PASS: 'FOO', FOO: 'bar', BAZ: 'no' }), { FOO: 'bar' });
      assert.deepEqual(childEnv({ CHILD_ENV_PASS: ' FOO , COMPOSE_HTTP_TIMEOUT,', FOO: 'bar', COMPOSE_HTTP_TIMEOUT: '120' }), { FOO: 'bar', COMPOSE_HTTP_TIMEOUT: '120' });
      assert.deepEqual(childEnv({ CHILD_ENV_PASS: 'UNSET_ONE' }), {});
    });

    it('never passes the server\'s own settings or secrets, and refuses them in CHILD_ENV_PASS', () => {
      const own = {
        PORT: '8080', HOST: '0.0.0.0', DATA_DIR: '/data', ENV_REPO_PATH: '/env-repo', API_TOKEN: 'api-token-0123456789', GIT_TIMEOUT_SECONDS: '30',
        COMPOSE_TIMEOUT_SECONDS: '60', INSTANCE_LABEL: 'v1', SHUTDOWN_GRACE_SECONDS: '30', NOTIFY_WEBHOOK_URL: 'https://hooks.example.com/x',
        NOTIFY_WEBHOOK_SECRET: 'hook-secret', NOTIFY_NTFY_TOKEN: 'tk', CHILD_ENV_PASS: '',
      };
      const env = childEnv(own);
      assert.deepEqual(env, {});
      assert.ok(!Object.values(loadConfig({ WEBHOOK_SECRET_FILE: '/s' }, withRepo).childEnv).includes(SECRET));
      assert.equal('WEBHOOK_SECRET_FILE' in loadConfig({ WEBHOOK_SECRET_FILE: '/s' }, withRepo).childEnv, false);

      const named = ['PORT', 'WEBHOOK_SECRET', 'WEBHOOK_SECRET_FILE', 'API_TOKEN', 'NOTIFY_WEBHOOK_SECRET', 'NOTIFY_SLACK_WEBHOOK_URL', 'GIT_TIMEOUT_SECONDS', 'CHILD_ENV_PASS', 'COMPOSE_PROJECT_NAME', 'GIT_DIR'];
      const error = configError({ WEBHOOK_SECRET: SECRET, ...own, CHILD_ENV_PASS: named.join(',') }, withRepo);
      assert.equal(error.problems.length, named.length, error.problems.join('\n'));
      named.forEach((name, i) => assert.match(error.problems[i]!, new RegExp(`^CHILD_ENV_PASS: ${name} `)));
      assert.match(configError({ WEBHOOK_SECRET: SECRET, CHILD_ENV_PASS: 'FOO BAR' }, withRepo).problems.join('\n'), /"FOO BAR" is not a variable name/);
    });
  });

  it('reads SHUTDOWN_GRACE_SECONDS: 60 s by default, 0 to 3600', () => {
    const repo = fakeFs({}, [DEFAULT_ENV_REPO_PATH]);
    assert.equal(loadConfig({ WEBHOOK_SECRET: SECRET }, repo).shutdownGraceMs, 60_000);
    assert.equal(loadConfig({ WEBHOOK_SECRET: SECRET, SHUTDOWN_GRACE_SECONDS: '0' }, repo).shutdownGraceMs, 0);
    assert.equal(loadConfig({ WEBHOOK_SECRET: SECRET, SHUTDOWN_GRACE_SECONDS: '3600' }, repo).shutdownGraceMs, 3_600_000);
    for (const bad of ['3601', '-1', '1.5', 'soon']) {
      assert.match(configError({ WEBHOOK_SECRET: SECRET, SHUTDOWN_GRACE_SECONDS: bad }, repo).problems.join('\n'), /SHUTDOWN_GRACE_SECONDS/, bad);
    }
  });

  it('reads the API token from the variable or its file; without one the API is off', () => {
    const repo = fakeFs({ '/run/secrets/token': 'file-token-0123456789abcdef\n' }, [DEFAULT_ENV_REPO_PATH]);
    assert.equal(loadConfig({ WEBHOOK_SECRET: SECRET }, repo).apiToken, undefined);
    assert.equal(loadConfig({ WEBHOOK_SECRET: SECRET, API_TOKEN: 'direct-token-0123456789' }, repo).apiToken, 'direct-token-0123456789');
    assert.equal(loadConfig({ WEBHOOK_SECRET: SECRET, API_TOKEN_FILE: '/run/secrets/token' }, repo).apiToken, 'file-token-0123456789abcdef');
    const short = loadConfig({ WEBHOOK_SECRET: SECRET, API_TOKEN: 'short' }, repo);
    assert.match(short.warnings.join('\n'), /API token is shorter than 16/);
    const both = configError({ WEBHOOK_SECRET: SECRET, API_TOKEN: 'a-token-0123456789', API_TOKEN_FILE: '/run/secrets/token' }, repo);
    assert.match(both.problems.join('\n'), /API_TOKEN or API_TOKEN_FILE, not both/);
    const unreadable = configError({ WEBHOOK_SECRET: SECRET, API_TOKEN_FILE: '/nope' }, repo);
    assert.match(unreadable.problems.join('\n'), /API_TOKEN_FILE \/nope cannot be read/);
  });

  it('reads the operator-surface settings and reports bad ones with the others', () => {
    const repo = fakeFs({}, [DEFAULT_ENV_REPO_PATH]);
    const config = loadConfig(
      { WEBHOOK_SECRET: SECRET, PUBLIC_URL: 'https://deploy.example.com/', INSTANCE_LABEL: 'blue', SELF_UPDATE_HEALTH_TIMEOUT_SECONDS: '30', NOTIFY_WEBHOOK_URL: 'https://hooks.example.com/x', NOTIFY_WEBHOOK_SECRET: 'hook-secret' },
      repo,
    );
    assert.equal(config.publicUrl, 'https://deploy.example.com');
    assert.equal(config.instanceLabel, 'blue');
    assert.equal(config.selfUpdateHealthTimeoutMs, 30_000);
    assert.equal(config.notify.webhook?.url, 'https://hooks.example.com/x');
    assert.equal('NOTIFY_WEBHOOK_SECRET' in config.childEnv, false, 'notification secrets stay out of child processes');
    assert.equal('NOTIFY_WEBHOOK_URL' in config.childEnv, false);
    const error = configError({ WEBHOOK_SECRET: SECRET, ENV_REPO_PATH: '/srv/env', PUBLIC_URL: 'ftp://x', SELF_UPDATE_HEALTH_TIMEOUT_SECONDS: '1', NOTIFY_NTFY_URL: 'not a url', PORT: 'x' });
    const text = error.problems.join('\n');
    for (const name of ['PUBLIC_URL', 'SELF_UPDATE_HEALTH_TIMEOUT_SECONDS', 'NOTIFY_NTFY_URL', 'PORT']) assert.match(text, new RegExp(name));
  });

  it('lets the self-update helper start without the webhook secret it never uses', () => {
    const config = loadConfig({ ENV_REPO_PATH: '/srv/env' }, fakeFs(), { requireWebhookSecret: false });
    assert.equal(config.webhookSecret, undefined);
    assert.match(configError({ ENV_REPO_PATH: '/srv/env' }).problems.join('\n'), /WEBHOOK_SECRET or WEBHOOK_SECRET_FILE is required/);
  });
  describe('webhook hardening settings', () => {
    const base = { WEBHOOK_SECRET: SECRET, ENV_REPO_PATH: '/srv/env' };

    it('has safe defaults: compat mode, 20 failures a minute, no proxy trusted, no polling, no Docker Hub route', () => {
      const config = loadConfig(base, fakeFs());
      assert.equal(config.webhookSecretPrevious, undefined);
      assert.equal(config.webhookMode, 'compat');
      assert.equal(config.authFailuresPerMinute, 20);
      assert.equal(config.trustProxy, false);
      assert.equal(config.pollIntervalMs, undefined);
      assert.equal(config.imagePollIntervalMs, 300_000, 'image polling only concerns services that opt in');
      assert.equal(config.dockerHubToken, undefined);
    });

    it('reads each setting, the secrets also from files, and keeps them all from child processes', () => {
      const token = 'dh_0123456789abcdefghijklmnop';
      const config = loadConfig({
        ...base, PATH: '/bin', WEBHOOK_SECRET_PREVIOUS_FILE: '/run/secrets/old', WEBHOOK_MODE: 'strict',
        WEBHOOK_AUTH_FAILURES_PER_MINUTE: '5', TRUST_PROXY: '10.0.0.1, 192.168.0.0/16,loopback', POLL_INTERVAL_SECONDS: '30',
        DOCKERHUB_WEBHOOK_TOKEN: token,
      }, fakeFs({ '/run/secrets/old': 'the-old-secret-being-rotated\n' }));
      assert.equal(config.webhookSecretPrevious, 'the-old-secret-being-rotated');
      assert.equal(config.webhookMode, 'strict');
      assert.equal(config.authFailuresPerMinute, 5);
      assert.equal(config.trustProxy, '10.0.0.1,192.168.0.0/16,loopback');
      assert.equal(config.pollIntervalMs, 30_000);
      assert.equal(config.dockerHubToken, token);
      assert.deepEqual(config.childEnv, { PATH: '/bin' });
      assert.equal(loadConfig({ ...base, WEBHOOK_SECRET_PREVIOUS: 'another-old-secret' }, fakeFs()).webhookSecretPrevious, 'another-old-secret');
    });

    it('takes a hop count for TRUST_PROXY; 0, false and POLL_INTERVAL_SECONDS=0 mean off', () => {
      assert.equal(loadConfig({ ...base, TRUST_PROXY: '2' }, fakeFs()).trustProxy, 2);
      assert.equal(loadConfig({ ...base, TRUST_PROXY: '0' }, fakeFs()).trustProxy, false);
      assert.equal(loadConfig({ ...base, TRUST_PROXY: 'false' }, fakeFs()).trustProxy, false);
      assert.equal(loadConfig({ ...base, POLL_INTERVAL_SECONDS: '0' }, fakeFs()).pollIntervalMs, undefined);
      assert.equal(loadConfig({ ...base, IMAGE_POLL_INTERVAL_SECONDS: '0' }, fakeFs()).imagePollIntervalMs, undefined);
      assert.equal(loadConfig({ ...base, IMAGE_POLL_INTERVAL_SECONDS: '60' }, fakeFs()).imagePollIntervalMs, 60_000);
      assert.match(configError({ ...base, IMAGE_POLL_INTERVAL_SECONDS: 'often' }).problems.join('\n'), /IMAGE_POLL_INTERVAL_SECONDS must be a whole number/);
      assert.equal(loadConfig({ ...base, TRUST_PROXY: '::1,fd00::/8' }, fakeFs()).trustProxy, '::1,fd00::/8');
    });

    it('reads UPDATE_DEBOUNCE_SECONDS: 10 s by default, 0 off, at most 600', () => {
      assert.equal(loadConfig(base, fakeFs()).updateDebounceMs, 10_000);
      assert.equal(loadConfig({ ...base, UPDATE_DEBOUNCE_SECONDS: '0' }, fakeFs()).updateDebounceMs, 0);
      assert.match(configError({ ...base, UPDATE_DEBOUNCE_SECONDS: '601' }).problems.join('\n'), /UPDATE_DEBOUNCE_SECONDS/);
    });

    it('refuses bad values, every one named, in one ConfigError', () => {
      const problems = configError({
        ...base, WEBHOOK_MODE: 'lenient', WEBHOOK_AUTH_FAILURES_PER_MINUTE: '0', TRUST_PROXY: 'proxy.example.com,10.0.0.0/33',
        POLL_INTERVAL_SECONDS: '-5', DOCKERHUB_WEBHOOK_TOKEN: 'short',
      }).problems.join('\n');
      assert.match(problems, /WEBHOOK_MODE must be compat or strict/);
      assert.match(problems, /WEBHOOK_AUTH_FAILURES_PER_MINUTE must be a whole number/);
      assert.match(problems, /TRUST_PROXY .*not understood: proxy\.example\.com, 10\.0\.0\.0\/33/);
      assert.match(problems, /POLL_INTERVAL_SECONDS must be a whole number/);
      assert.match(problems, /DOCKERHUB_WEBHOOK_TOKEN must be 24 to 256/);
      assert.doesNotMatch(problems, /short/, 'the token value is not repeated');
    });

    it('refuses TRUST_PROXY=true (any client could pick its address) and a previous secret that is set twice or empty', () => {
      assert.match(configError({ ...base, TRUST_PROXY: 'true' }).problems.join('\n'), /TRUST_PROXY=true would let any client choose its address/);
      assert.match(
        configError({ ...base, WEBHOOK_SECRET_PREVIOUS: 'x'.repeat(20), WEBHOOK_SECRET_PREVIOUS_FILE: '/f' }, fakeFs({ '/f': 'y' })).problems.join('\n'),
        /Set WEBHOOK_SECRET_PREVIOUS or WEBHOOK_SECRET_PREVIOUS_FILE, not both/,
      );
      assert.match(configError({ ...base, WEBHOOK_SECRET_PREVIOUS_FILE: '/f' }, fakeFs({ '/f': '\n' })).problems.join('\n'), /WEBHOOK_SECRET_PREVIOUS_FILE \/f is empty/);
      assert.ok(loadConfig({ ...base, WEBHOOK_SECRET_PREVIOUS: SECRET }, fakeFs()).warnings.some((w) => /same as WEBHOOK_SECRET/.test(w)));
    });
  });
});

describe('health gate settings', () => {
  const base = { WEBHOOK_SECRET: SECRET, ENV_REPO_PATH: '/srv/env' };
  it('defaults to a 5 s settle window and a 300 s health timeout, and reads both', () => {
    const defaults = loadConfig(base, fakeFs());
    assert.equal(defaults.deploySettleMs, 5_000);
    assert.equal(defaults.deployHealthTimeoutMs, 300_000);
    const set = loadConfig({ ...base, DEPLOY_SETTLE_SECONDS: '0', DEPLOY_HEALTH_TIMEOUT_SECONDS: '30' }, fakeFs());
    assert.equal(set.deploySettleMs, 0);
    assert.equal(set.deployHealthTimeoutMs, 30_000);
  });

  it('refuses values out of range', () => {
    const error = configError({ ...base, DEPLOY_SETTLE_SECONDS: '3601', DEPLOY_HEALTH_TIMEOUT_SECONDS: '0' });
    assert.ok(error.problems.includes('DEPLOY_SETTLE_SECONDS must be between 0 and 3600'), error.message);
    assert.ok(error.problems.includes('DEPLOY_HEALTH_TIMEOUT_SECONDS must be between 1 and 86400'), error.message);
  });

  it('are server settings: never passed to the compose tools', () => {
    const config = loadConfig({ ...base, DEPLOY_SETTLE_SECONDS: '2', PATH: '/usr/bin' }, fakeFs());
    assert.equal(config.childEnv['DEPLOY_SETTLE_SECONDS'], undefined);
  });

  it('PRUNE defaults to true with PRUNE_MAX_FRACTION 0.5; both are checked', () => {
    const base = { WEBHOOK_SECRET: SECRET };
    assert.deepEqual(loadConfig(base, fakeFs()).prune, { enabled: true, maxFraction: 0.5 });
    assert.deepEqual(loadConfig({ ...base, PRUNE: 'false', PRUNE_MAX_FRACTION: '1' }, fakeFs()).prune, { enabled: false, maxFraction: 1 });
    assert.equal(loadConfig({ ...base, PRUNE_MAX_FRACTION: '0.25' }, fakeFs()).prune.maxFraction, 0.25);
    const error = configError({ ...base, PRUNE: 'no', PRUNE_MAX_FRACTION: '1.5' });
    assert.ok(error.problems.some((p) => /PRUNE must be true or false/.test(p)));
    assert.ok(error.problems.some((p) => /PRUNE_MAX_FRACTION must be a number from 0 to 1/.test(p)));
  });
});

describe('retries and SELF_DEPLOY', () => {
  const base = { WEBHOOK_SECRET: SECRET, ENV_REPO_PATH: '/srv/env' };

  it('retries after 30 s doubling up to 30 min by default; 0 turns retries off; the cap is never below the first delay', () => {
    const defaults = loadConfig(base, fakeFs());
    assert.equal(defaults.retryBackoffMs, 30_000);
    assert.equal(defaults.retryBackoffMaxMs, 1_800_000);
    assert.equal(loadConfig({ ...base, RETRY_BACKOFF_SECONDS: '0' }, fakeFs()).retryBackoffMs, undefined);
    const set = loadConfig({ ...base, RETRY_BACKOFF_SECONDS: '600', RETRY_BACKOFF_MAX_SECONDS: '60' }, fakeFs());
    assert.equal(set.retryBackoffMs, 600_000);
    assert.equal(set.retryBackoffMaxMs, 600_000);
    const error = configError({ ...base, RETRY_BACKOFF_SECONDS: 'soon' });
    assert.ok(error.problems.includes('RETRY_BACKOFF_SECONDS must be a whole number'), error.message);
    assert.ok(configError({ ...base, RETRY_BACKOFF_MAX_SECONDS: '0' }).problems.includes('RETRY_BACKOFF_MAX_SECONDS must be between 1 and 86400'));
  });

  it('deploys the own service only through its container unless SELF_DEPLOY=in-place, and refuses other values', () => {
    assert.equal(loadConfig(base, fakeFs()).selfDeploy, 'container');
    assert.equal(loadConfig({ ...base, SELF_DEPLOY: 'in-place' }, fakeFs()).selfDeploy, 'in-place');
    const error = configError({ ...base, SELF_DEPLOY: 'yes' });
    assert.ok(error.problems.includes('SELF_DEPLOY must be container or in-place'), error.message);
    assert.equal(loadConfig({ ...base, SELF_DEPLOY: 'in-place', PATH: '/usr/bin' }, fakeFs()).childEnv['SELF_DEPLOY'], undefined, 'a server setting');
  });
});
