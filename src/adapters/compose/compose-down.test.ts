import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { composeForDown, downCommand } from './compose-down.js';
import { dockerComposeTool, podmanCompose } from './tools.js';

describe('composeForDown', () => {
  test('drops env_file entries (gone with the directory), keeps services, container names, networks and volumes', () => {
    const text = [
      'name: ignored-by-p',
      'services:',
      '  web:',
      '    image: localhost/busybox:test',
      '    container_name: web-main',
      '    env_file: [.env, ../../secrets/web.env]',
      '    networks: [back]',
      '    volumes: [data:/data]',
      '  worker:',
      '    image: localhost/busybox:test',
      '    env_file:',
      '      - path: ./worker.env',
      '        required: true',
      'networks:',
      '  back: {}',
      'volumes:',
      '  data: {}',
      '',
    ].join('\n');
    const model = parse(composeForDown(text)) as Record<string, any>;
    assert.equal(model.services.web.env_file, undefined);
    assert.equal(model.services.worker.env_file, undefined);
    assert.equal(model.services.web.container_name, 'web-main');
    assert.deepEqual(model.services.web.networks, ['back']);
    assert.deepEqual(model.networks, { back: {} });
    assert.deepEqual(model.volumes, { data: {} });
  });

  test('text that does not parse is written as it is (the engine clean-up still takes the project down)', () => {
    assert.equal(composeForDown('services: [unclosed'), 'services: [unclosed');
  });
});

describe('downCommand', () => {
  test("derives `down --timeout N` from each tool's up argv, never -v (volumes are kept)", async () => {
    assert.deepEqual(downCommand(podmanCompose, 'web', 'podman-compose.yml', 3), {
      command: 'podman-compose', args: ['-p', 'web', '-f', 'podman-compose.yml', 'down', '--timeout', '3'],
    });
    const fail = async () => { throw new Error('no plugin'); };
    const plugin = await dockerComposeTool({ preference: 'plugin', run: fail })();
    const standalone = await dockerComposeTool({ preference: 'standalone', run: fail })();
    assert.deepEqual(downCommand(plugin, 'up', 'docker-compose.yml', 10), {
      command: 'docker', args: ['compose', '-p', 'up', '-f', 'docker-compose.yml', 'down', '--timeout', '10'],
    });
    assert.deepEqual(downCommand(standalone, 'web', 'compose.yaml', 0).args, ['-p', 'web', '-f', 'compose.yaml', 'down', '--timeout', '0']);
  });
});
