import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isAppError } from '../errors.js';
import { createProcessRunner, type ProcessRunner } from './process-runner.js';

// Real processes throughout: what matters is what is left running afterwards.

const run: ProcessRunner = createProcessRunner({ baseEnv: process.env, killGraceMs: 1_000 });

/** Whether a process exists and is not a zombie (an orphaned zombie waits for its reaper only). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Waits (bounded) until none of `pids` is alive; returns the ones still alive. */
async function survivors(pids: number[], withinMs = 3_000): Promise<number[]> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const left = pids.filter(alive);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Collects the pids a script prints (`pid <n>` lines) as they arrive. */
function pidCollector(): { pids: number[]; onOutput: (chunk: string) => void; printed: Promise<void> } {
  const pids: number[] = [];
  let text = '';
  let done!: () => void;
  const printed = new Promise<void>((resolve) => (done = resolve));
  return {
    pids,
    printed,
    onOutput: (chunk) => {
      text += chunk;
      for (const m of text.matchAll(/pid (\d+)\n/g)) if (!pids.includes(Number(m[1]))) pids.push(Number(m[1]));
      if (pids.length >= 2) done();
    },
  };
}

/** A child that starts a grandchild holding stdout, prints both pids and waits. */
const HANGING = ['-c', 'sleep 30 & echo "pid $!"; echo "pid $$"; sleep 30'];

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the command to fail');
}

test('a timeout stops the child and the grandchild holding its pipe, and settles promptly', { timeout: 10_000 }, async () => {
  const collect = pidCollector();
  const started = Date.now();
  const error = await rejection(run({ command: 'bash', args: HANGING, timeoutMs: 300, onOutput: collect.onOutput }));
  const elapsed = Date.now() - started;
  assert.ok(isAppError(error) && error.code === 'PROCESS_TIMEOUT', String(error));
  assert.ok(elapsed < 2_000, `settled after ${elapsed} ms`);
  assert.equal(collect.pids.length, 2, `pids printed: ${collect.pids.join(',')}`);
  assert.deepEqual(await survivors(collect.pids), [], 'no process of the command is left');
});

test('a child that ignores SIGTERM is killed after the grace period', { timeout: 10_000 }, async () => {
  const collect = pidCollector();
  const started = Date.now();
  const script = "trap '' TERM; sleep 30 & echo \"pid $!\"; echo \"pid $$\"; while :; do sleep 0.1; done";
  const error = await rejection(run({ command: 'bash', args: ['-c', script], timeoutMs: 300, onOutput: collect.onOutput }));
  assert.ok(isAppError(error) && error.code === 'PROCESS_TIMEOUT', String(error));
  assert.ok(Date.now() - started < 3_000, `settled after ${Date.now() - started} ms`);
  assert.deepEqual(await survivors(collect.pids), []);
});

test('an abort during a run stops the whole group and rejects PROCESS_ABORTED', { timeout: 10_000 }, async () => {
  const collect = pidCollector();
  const controller = new AbortController();
  const pending = run({ command: 'bash', args: HANGING, signal: controller.signal, onOutput: collect.onOutput });
  await collect.printed;
  controller.abort();
  const error = await rejection(pending);
  assert.ok(isAppError(error) && error.code === 'PROCESS_ABORTED', String(error));
  assert.deepEqual(await survivors(collect.pids), []);
});

test('a signal aborted before the call starts nothing', { timeout: 10_000 }, async () => {
  const controller = new AbortController();
  controller.abort();
  const marker = `gds-never-started-${process.pid}-${Date.now()}`;
  const error = await rejection(run({ command: 'bash', args: ['-c', `exec -a ${marker} sleep 5`], signal: controller.signal }));
  assert.ok(isAppError(error) && error.code === 'PROCESS_ABORTED', String(error));
  const cmdlines = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8');
    } catch {
      return '';
    }
  });
  assert.equal(cmdlines.filter((c) => c.includes(marker)).length, 0);
});

test('an onOutput that throws rejects with its error, stops the command and crashes nothing', { timeout: 10_000 }, async () => {
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.on('uncaughtException', onUncaught);
  try {
    const collect = pidCollector();
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    const error = await rejection(
      run({
        command: 'bash',
        args: ['-c', 'sleep 30 & echo "pid $!"; echo "pid $$"; sleep 0.2; echo more; sleep 30'],
        onOutput: (chunk) => {
          collect.onOutput(chunk);
          if (chunk.includes('more')) throw full;
        },
      }),
    );
    assert.equal(error, full, 'the thrown error itself, so the caller can map it');
    assert.deepEqual(await survivors(collect.pids), []);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(uncaught, []);
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});

test('a normal command keeps all its output, including what it wrote just before exiting', { timeout: 10_000 }, async () => {
  const lines = Array.from({ length: 2_000 }, (_, i) => `line ${i}`).join('\n');
  const result = await run({ command: 'bash', args: ['-c', 'cat; echo "to stderr" >&2; printf last'], input: `${lines}\n` });
  assert.equal(result.exitCode, 0);
  assert.equal(result.stdout, `${lines}\nlast`);
  assert.equal(result.stderr, 'to stderr\n');
  // Two pipes: their interleaving is up to the kernel, but nothing of either is lost.
  assert.equal(result.output.length, result.stdout.length + result.stderr.length);
  assert.ok(result.output.includes('to stderr\n'));
});

test('a grandchild that outlives a normal exit while holding the pipe is stopped too', { timeout: 10_000 }, async () => {
  const collect = pidCollector();
  const started = Date.now();
  const result = await run({ command: 'bash', args: ['-c', 'sleep 30 & echo "pid $!"; echo "pid $$"; echo done'], onOutput: collect.onOutput });
  assert.equal(result.exitCode, 0);
  assert.match(result.stdout, /done\n$/);
  assert.ok(Date.now() - started < 2_000, `settled after ${Date.now() - started} ms`);
  assert.deepEqual(await survivors(collect.pids), []);
});

test('exit codes: non-zero is PROCESS_FAILED with details, unless listed in okExitCodes', { timeout: 10_000 }, async () => {
  const error = await rejection(run({ command: 'bash', args: ['-c', 'echo oops >&2; exit 3'] }));
  assert.ok(isAppError(error) && error.code === 'PROCESS_FAILED', String(error));
  assert.equal(error.details?.['exitCode'], 3);
  assert.equal(error.details?.['stderr'], 'oops\n');
  assert.deepEqual(error.details?.['command'], ['bash', '-c', 'echo oops >&2; exit 3']);
  const ok = await run({ command: 'bash', args: ['-c', 'exit 1'], okExitCodes: [0, 1] });
  assert.equal(ok.exitCode, 1);
});

test('a missing command is COMMAND_NOT_FOUND; arguments are never read by a shell', { timeout: 10_000 }, async () => {
  const error = await rejection(run({ command: 'gds-no-such-command', args: [] }));
  assert.ok(isAppError(error) && error.code === 'COMMAND_NOT_FOUND', String(error));
  const result = await run({ command: 'printf', args: ['%s', '$(echo injected); `id`'] });
  assert.equal(result.stdout, '$(echo injected); `id`');
});

test('the capture keeps the tail of a long output', { timeout: 10_000 }, async () => {
  const small = createProcessRunner({ baseEnv: process.env, maxCapture: 10 });
  const result = await small({ command: 'bash', args: ['-c', 'printf "0123456789abcdefghij"'] });
  assert.equal(result.stdout, 'abcdefghij');
});
