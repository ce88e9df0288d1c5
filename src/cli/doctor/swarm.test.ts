import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError } from '../../errors.js';
import type { ProcessRunner } from '../../adapters/process-runner.js';
import type { DoctorContext } from './check.js';
import { checkSwarm } from './swarm.js';

const ctx = (run: ProcessRunner, inUse: DoctorContext['runtimesInUse']): DoctorContext => ({ env: {}, config: undefined, run, timeoutMs: 1_000, uid: 0, runtimesInUse: inUse });
const answering = (stdout: string): ProcessRunner => async () => ({ exitCode: 0, stdout, stderr: '', output: stdout });

test('the swarm check: silent without Swarm stacks, passes on a manager, fails otherwise with the fix', async () => {
  assert.deepEqual(await checkSwarm(ctx(answering('inactive false'), new Set(['docker']))), []);
  assert.equal((await checkSwarm(ctx(answering('active true\n'), new Set(['swarm']))))[0]?.level, 'pass');
  const worker = (await checkSwarm(ctx(answering('active false\n'), new Set(['swarm']))))[0]!;
  assert.equal(worker.level, 'fail');
  assert.match(worker.detail, /not a Swarm manager/);
  assert.match(worker.fix ?? '', /docker swarm init/);
  const down = (await checkSwarm(ctx(async () => { throw new AppError('PROCESS_FAILED', 'docker exited 1', { details: { stderr: 'Cannot connect to the Docker daemon' } }); }, new Set(['swarm']))))[0]!;
  assert.equal(down.level, 'fail');
  assert.match(down.detail, /Cannot connect/);
});
