import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import type { ServiceSummary } from '../api-types.js';
import { registerStatusCommand } from './status.js';

const base: ServiceSummary = {
  name: 'app', runtime: 'podman', composeFile: 'podman-compose.yml', projectName: 'app', state: 'in-sync',
  desiredFingerprint: 'f', deployedFingerprint: 'f', deployedCommit: '1234567890', deployedAt: null, problem: null, lastDeployment: null,
};

/** `status` against a real HTTP server that answers /api/services with these services. */
describe('status command: drift', () => {
  let services: ServiceSummary[] = [];
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ commit: null, services }));
  });
  let url = '';
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const status = async (...args: string[]): Promise<string> => {
    let stdout = '';
    const program = new Command().exitOverride();
    registerStatusCommand(program, {
      env: { GDS_URL: url, API_TOKEN: 'token-0123456789abcdef' },
      stdout: { write: (s: string) => ((stdout += s), true) } as never,
      stderr: { write: () => true } as never,
      stdin: process.stdin,
      setExitCode: () => undefined,
    });
    await program.parseAsync(['node', 'gds', 'status', ...args]);
    return stdout;
  };

  it('shows a drifted service with its reasons, the hold of the flap limit in the state, and filters on drifted', async () => {
    services = [
      base,
      { ...base, name: 'web', state: 'drifted', drift: { reasons: ['container web-app-1 exited (code 137)', 'stray container x (compose service debug) is not part of the deployment'], since: '', held: 'held: healed 3 times in the last hour', healsLastHour: 3, healRunId: null } },
      { ...base, name: 'db', state: 'drifted', drift: { reasons: ['container of db is missing'], since: '', held: null, healsLastHour: 1, healRunId: 'r_9' } },
    ];
    const out = await status('--state', 'drifted');
    assert.match(out, /^web\s+podman\s+drifted \(held: healed 3 times in the last hour\)\s+1234567\s+-\s+container web-app-1 exited \(code 137\); stray container x/m);
    assert.match(out, /^db\s+podman\s+drifted\s+1234567\s+-\s+container of db is missing \(healing: run r_9\)$/m);
    assert.doesNotMatch(out, /^app\s/m);
    assert.match(out, /2 services: 2 drifted/);
  });
});
