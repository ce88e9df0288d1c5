import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { extractComposeInputs, type ComposeInputs } from './compose-inputs.js';

function inputsOf(document: unknown): ComposeInputs {
  const result = extractComposeInputs(document);
  assert.ok(result.ok, result.ok ? '' : result.message);
  return result.inputs;
}

function messageOf(document: unknown): string {
  const result = extractComposeInputs(document);
  assert.equal(result.ok, false);
  return result.ok ? '' : result.message;
}

describe('extractComposeInputs', () => {
  it('reads env_file as a string, a list of strings and a list of mappings', () => {
    const inputs = inputsOf({
      services: {
        a: { image: 'nginx:1', env_file: '../../secrets/app.env' },
        b: { env_file: ['a.env', './b.env'] },
        c: { env_file: [{ path: 'opt.env', required: false }, { path: 'req.env' }] },
      },
    });
    assert.deepEqual(
      inputs.services.map((s) => [s.name, s.image, s.envFiles]),
      [
        ['a', 'nginx:1', [{ path: '../../secrets/app.env', required: true }]],
        ['b', undefined, [{ path: 'a.env', required: true }, { path: './b.env', required: true }]],
        ['c', undefined, [{ path: 'opt.env', required: false }, { path: 'req.env', required: true }]],
      ],
    );
  });

  it('merges env files across services: required wins', () => {
    const inputs = inputsOf({
      services: {
        a: { env_file: [{ path: 'shared.env', required: false }] },
        b: { env_file: 'shared.env' },
      },
    });
    assert.deepEqual(inputs.envFiles, [{ path: 'shared.env', required: true }]);
  });

  it('keeps bind sources from short and long syntax and drops named and anonymous volumes', () => {
    const inputs = inputsOf({
      services: {
        app: {
          volumes: [
            './config/app.ini:/etc/app.ini:ro',
            '../shared:/shared',
            '/etc/localtime:/etc/localtime:ro',
            '.:/src',
            'data:/var/lib/data',
            '/anonymous',
            '~/home:/home',
            { type: 'bind', source: './tls.pem', target: '/tls.pem' },
            { type: 'volume', source: 'cache', target: '/cache' },
          ],
        },
      },
    });
    assert.deepEqual(inputs.services[0]?.bindSources, ['./config/app.ini', '../shared', '/etc/localtime', '.', './tls.pem']);
  });

  it('tells read-only bind mounts from the ones a container may write', () => {
    const inputs = inputsOf({
      services: {
        proxy: {
          volumes: [
            './acme.json:/acme.json',
            './traefik.toml:/etc/traefik.toml:ro',
            './db.sqlite:/data/db.sqlite:rw,z',
            './labelled.conf:/labelled.conf:z,ro',
            { type: 'bind', source: './long-ro.conf', target: '/x', read_only: true },
            { type: 'bind', source: './long-rw.db', target: '/y' },
            './both.db:/both.db',
          ],
        },
        reader: { volumes: ['./both.db:/both.db:ro', './app.conf:/app.conf'] },
      },
      configs: { conf: { file: './app.conf' } },
    });
    assert.deepEqual(inputs.services[0]?.bindMounts.map((m) => [m.source, m.readOnly]), [
      ['./acme.json', false],
      ['./traefik.toml', true],
      ['./db.sqlite', false],
      ['./labelled.conf', true],
      ['./long-ro.conf', true],
      ['./long-rw.db', false],
      ['./both.db', false],
    ]);
    // Read-only anywhere, or read by compose as a config, is configuration: only the rest is writable.
    assert.deepEqual(inputs.writableMountPaths, ['./acme.json', './db.sqlite', './long-rw.db']);
  });

  it('skips interpolated entries', () => {
    const inputs = inputsOf({
      services: { app: { env_file: ['${ENV_DIR}/app.env', 'plain.env'], volumes: ['${DATA}:/data', './$X:/x', './ok:/ok'] } },
    });
    assert.deepEqual(inputs.envFiles, [{ path: 'plain.env', required: true }]);
    assert.deepEqual(inputs.mountedPaths, ['./ok']);
  });

  it('adds files of top-level configs and secrets and of extends', () => {
    const inputs = inputsOf({
      services: { app: { extends: { file: 'base.yml', service: 'base' }, volumes: ['./a:/a'] }, b: { volumes: ['./a:/b'] } },
      configs: { conf: { file: './app.conf' }, external: { external: true } },
      secrets: { token: { file: '../../secrets/token.txt' } },
    });
    assert.deepEqual(inputs.mountedPaths, ['./a', './app.conf', '../../secrets/token.txt', 'base.yml']);
  });

  it('lists compose service names in document order', () => {
    const inputs = inputsOf({ services: { web: { image: 'web' }, db: { image: 'postgres:16' } } });
    assert.deepEqual(
      inputs.services.map((s) => s.name),
      ['web', 'db'],
    );
  });

  it('reports bad shapes as results', () => {
    assert.match(messageOf(null), /empty/);
    assert.match(messageOf(['services']), /mapping at the top level/);
    assert.match(messageOf('text'), /mapping at the top level/);
    assert.match(messageOf({ version: '3' }), /no "services"/);
    assert.match(messageOf({ services: ['a'] }), /"services" must be a mapping/);
    assert.match(messageOf({ services: { app: 'nginx' } }), /service "app" must be a mapping/);
    assert.match(messageOf({ services: { app: { env_file: 3 } } }), /env_file must be a string or a list/);
    assert.match(messageOf({ services: { app: { env_file: [{ required: true }] } } }), /env_file\[0\]/);
    assert.match(messageOf({ services: { app: { env_file: [{ path: 'a', required: 'no' }] } } }), /required must be true or false/);
    assert.match(messageOf({ services: { app: { volumes: './a:/a' } } }), /volumes must be a list/);
    assert.match(messageOf({ services: { app: { volumes: [3] } } }), /volumes\[0\]/);
  });
});
