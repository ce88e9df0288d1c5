// `deploy <service> --force` against a stand-in server on a real socket: what the CLI sends.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import type { CliContext } from '../run-command.js';
import { registerDeployCommand } from './deploy.js';

describe('deploy --force', () => {
  const requests: Array<{ url: string; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      requests.push({ url: req.url ?? '', body });
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ runId: 'r_1', status: 'queued', coalesced: false }));
    });
  });
  let url = '';
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  const run = async (args: string[]) => {
    let stdout = '';
    let stderr = '';
    let code = -1;
    const ctx: CliContext = {
      env: { GDS_URL: url, API_TOKEN: 'token-0123456789abcdef' },
      stdout: { write: (t: string) => void (stdout += t) } as CliContext['stdout'],
      stderr: { write: (t: string) => void (stderr += t) } as CliContext['stderr'],
      stdin: Readable.from([]),
      setExitCode: (c) => void (code = c),
    };
    const program = new Command().exitOverride();
    registerDeployCommand(program, ctx);
    await program.parseAsync(['node', 'gds', 'deploy', ...args]);
    return { code, stdout, stderr };
  };

  it('sends force: true for one service', async () => {
    const result = await run(['app', '--force', '--no-follow']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'r_1');
    assert.deepEqual(requests.at(-1), { url: '/api/services/app/deploy', body: JSON.stringify({ force: true }) });
  });

  it('sends no body without --force', async () => {
    await run(['app', '--no-follow']);
    assert.deepEqual(requests.at(-1), { url: '/api/services/app/deploy', body: '' });
  });

  it('is a usage error (exit 2) without a service, or with --update', async () => {
    const count = requests.length;
    const alone = await run(['--force']);
    assert.equal(alone.code, 2);
    assert.match(alone.stderr, /--force needs a service/);
    const both = await run(['app', '--force', '--update']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--force and --update do not go together/);
    assert.equal(requests.length, count, 'nothing was sent');
  });
});
