import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { checkCompat, toolGeneration } from './compose-compat.js';

const PC10 = { name: 'podman-compose', version: '1.0.3' };
const PC13 = { name: 'podman-compose', version: '1.3.0' };
const DC129 = { name: 'docker-compose', version: '1.29.2' };
const V2 = { name: 'docker compose', version: '2.26.1' };
const ALL = [PC10, PC13, DC129, V2];

const EVERYTHING = parse(`
name: stack
include: [more.yaml]
services:
  app:
    image: busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000
    env_file:
      - path: ../../secrets/app.env
        required: false
  dbg:
    image: busybox
    profiles: [debug]
`);

test('tool generations: podman-compose 1.0 apart from 1.1+, docker-compose 1 apart from v2', () => {
  assert.equal(toolGeneration(PC10), 'podman-compose-1.0');
  assert.equal(toolGeneration(PC13), 'podman-compose-1.1+');
  assert.equal(toolGeneration(DC129), 'docker-compose-1');
  assert.equal(toolGeneration(V2), 'compose-v2');
  assert.equal(toolGeneration({ name: 'docker-compose', version: '2.26.1-4' }), 'compose-v2');
  assert.equal(toolGeneration({ name: 'podman-compose', version: 'unknown' }), 'podman-compose-1.0', 'as tools.ts runs an unknown version');
  assert.equal(toolGeneration({ name: 'docker-compose', version: 'unknown' }), 'docker-compose-1');
  assert.equal(toolGeneration({ name: 'docker compose', version: 'unknown' }), 'compose-v2');
});

test('the current tools run every construct of the list but include, which the server does not follow yet', () => {
  for (const tool of [PC13, V2]) {
    const message = checkCompat(EVERYTHING, tool)?.message ?? '';
    assert.match(message, /include \(top level\): the server does not read included files yet/);
    assert.doesNotMatch(message, /env_file|profiles|name/);
  }
  const { include: _include, ...rest } = EVERYTHING as Record<string, unknown>;
  assert.equal(checkCompat(rest, PC13), undefined);
  assert.equal(checkCompat(rest, V2), undefined);
});

test('podman-compose 1.0: extends of a service in the same file (it changes the extended one); extends.file is fine', () => {
  const same = parse('services:\n  base: { image: x }\n  app: { extends: { service: base } }\n');
  assert.match(checkCompat(same, PC10)?.message ?? '', /extends of a service in the same file \(service "app"\)/);
  assert.match(checkCompat(parse('services:\n  base: { image: x }\n  app: { extends: base }\n'), PC10)?.message ?? '', /extends/);
  for (const tool of [PC13, DC129, V2]) assert.equal(checkCompat(same, tool), undefined);
});

test('podman-compose 1.0: a service left on the default network beside custom networks (it has no default network then)', () => {
  const document = parse('services:\n  a: { image: x, networks: [front] }\n  b: { image: x }\nnetworks: { front: {}, back: {} }\n');
  assert.match(checkCompat(document, PC10)?.message ?? '', /a service on the default network beside custom networks \(service "b"\)/);
  for (const tool of [PC13, DC129, V2]) assert.equal(checkCompat(document, tool), undefined);
  const declared = parse('services:\n  a: { image: x, networks: [front] }\n  b: { image: x }\nnetworks: { front: {}, default: {} }\n');
  assert.equal(checkCompat(declared, PC10), undefined, 'a declared default network is fine');
  const host = parse('services:\n  a: { image: x, networks: [front] }\n  b: { image: x, network_mode: host }\nnetworks: { front: {} }\n');
  assert.equal(checkCompat(host, PC10), undefined);
});

test('podman-compose 1.0.3: long env_file, include and profiles are named with the tool version', () => {
  const problem = checkCompat(EVERYTHING, PC10);
  assert.equal(problem?.code, 'COMPOSE_UNSUPPORTED');
  assert.match(problem!.message, /^podman-compose 1\.0\.3 cannot run/);
  assert.match(problem!.message, /long-syntax env_file \(path\/required\) \(service "app"\)/);
  assert.match(problem!.message, /include \(top level\)/);
  assert.match(problem!.message, /profiles \(service "dbg"\)/);
  assert.doesNotMatch(problem!.message, /top-level name/, 'podman-compose 1.0.3 ignores name:, and -p decides the project anyway');
});

test('docker-compose 1.29: long env_file, include and top-level name; profiles run', () => {
  const message = checkCompat(EVERYTHING, DC129)?.message ?? '';
  assert.match(message, /^docker-compose 1\.29\.2 cannot run/);
  for (const construct of ['long-syntax env_file', 'include', 'top-level name']) assert.ok(message.includes(construct), construct);
  assert.ok(!message.includes('profiles'));
});

test('constructs every generation runs are never refused', () => {
  const plain = parse(`
version: "3.8"
services:
  db:
    image: 127.0.0.1:5055/busybox:test@sha256:0000000000000000000000000000000000000000000000000000000000000000
    container_name: db
    volumes: [data:/data]
    networks: [back]
  web:
    extends: { file: common.yaml, service: web }
    env_file: ../../secrets/web.env
    networks: [back]
    depends_on:
      db: { condition: service_started }
volumes: { data: {} }
networks: { back: {} }
`);
  for (const tool of ALL) assert.equal(checkCompat(plain, tool), undefined, `${tool.name} ${tool.version}`);
});

test('podman-compose 1.0 refuses a referenced variable that podman-compose.env sets otherwise than .env', () => {
  const document = parse('services:\n  web:\n    image: busybox\n    ports: ["${HOST_PORT}:80"]\n');
  const facts = { referenced: ['HOST_PORT'], dotenv: { HOST_PORT: '8080', OTHER: 'x' }, podmanComposeEnv: { HOST_PORT: '8081', OTHER: 'y' } };
  assert.match(checkCompat(document, PC10, facts)?.message ?? '', /set differently in \.env and podman-compose\.env \(HOST_PORT\)/);
  assert.equal(checkCompat(document, PC10, { ...facts, dotenv: { HOST_PORT: '8081' } }), undefined, 'the same value is no clash');
  assert.equal(checkCompat(document, PC10, { ...facts, dotenv: {} }), undefined, 'only podman-compose.env sets it');
  for (const tool of [PC13, DC129, V2]) assert.equal(checkCompat(document, tool, facts), undefined, 'the others let the environment win');
});
