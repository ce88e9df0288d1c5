import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMPOSE_FILE_NAMES, composeProjectName, isValidServiceName, runtimeForComposeFile } from './service-layout.js';
import { sha256hex } from '../util/digest.js';

const sha256 = sha256hex;
const COMPOSE_PROJECT = /^[a-z0-9][a-z0-9_-]*$/;

describe('isValidServiceName', () => {
  it('accepts ordinary directory names', () => {
    for (const name of ['my-app', 'app_1', 'App.v2', 'a', '0day', 'x'.repeat(128)]) {
      assert.equal(isValidServiceName(name), true, name);
    }
  });

  it('refuses names that could escape, hide, inject or confuse', () => {
    const refused = [
      '', '.', '..', '.hidden', '-rf', '_x', 'a/b', 'a\\b', 'a%2Fb', '..%2Fetc', '$(x)', '`id`', 'a;b', 'a b', 'a\nb',
      'a..b', 'app/', 'x'.repeat(129), 'café', 'appΩ', '应用', 'a\u0000b',
    ];
    for (const name of refused) {
      assert.equal(isValidServiceName(name), false, JSON.stringify(name));
    }
  });
});

describe('composeProjectName', () => {
  it('keeps a name that is already a valid project name', () => {
    assert.equal(composeProjectName('my-app', sha256), 'my-app');
    assert.equal(composeProjectName('app_1', sha256), 'app_1');
  });

  it('maps other names to valid lowercase names with a short hash', () => {
    for (const dir of ['My App', 'App.v2', 'APP', '.hidden', '---', 'café', '_x']) {
      const name = composeProjectName(dir, sha256);
      assert.match(name, COMPOSE_PROJECT, `${dir} -> ${name}`);
      assert.equal(name, name.toLowerCase());
      assert.ok(name.endsWith(`-${sha256(dir).slice(0, 6)}`), `${dir} -> ${name}`);
    }
    assert.equal(composeProjectName('App.v2', sha256), `app-v2-${sha256('App.v2').slice(0, 6)}`);
  });

  it('keeps distinct directory names apart', () => {
    const names = ['My App', 'my-app', 'my app', 'MY-APP', 'my.app'].map((dir) => composeProjectName(dir, sha256));
    assert.equal(new Set(names).size, names.length, names.join(', '));
    assert.notEqual(composeProjectName('My App', sha256), composeProjectName('my-app', sha256));
  });

  it('names something even when nothing usable is left', () => {
    assert.match(composeProjectName('...', sha256), /^service-[0-9a-f]{6}$/);
  });
});

describe('runtimeForComposeFile', () => {
  it('follows the seed rule and falls back to the default', () => {
    assert.equal(runtimeForComposeFile('podman-compose.yml', 'docker'), 'podman');
    assert.equal(runtimeForComposeFile('docker-compose.yaml', 'podman'), 'docker');
    assert.equal(runtimeForComposeFile('compose.yaml', 'docker'), 'docker');
    assert.equal(runtimeForComposeFile('compose.yml', 'podman'), 'podman');
  });

  it('reads a docker-stack file as a Swarm stack, whatever the default', () => {
    assert.equal(runtimeForComposeFile('docker-stack.yml', 'podman'), 'swarm');
    assert.equal(runtimeForComposeFile('docker-stack.yaml', 'docker'), 'swarm');
  });

  it('knows the six compose file names and the two stack file names', () => {
    assert.equal(COMPOSE_FILE_NAMES.length, 8);
    assert.ok(COMPOSE_FILE_NAMES.includes('docker-stack.yml') && COMPOSE_FILE_NAMES.includes('docker-stack.yaml'));
  });
});
