import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { AppError } from '../errors.js';

export interface ProcessRequest {
  command: string;
  /** Arguments as an array: never joined into a shell string. */
  args: readonly string[];
  cwd?: string;
  /** Extra variables on top of the runner's base environment. */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Written to stdin, then stdin is closed (used for secrets, never argv). */
  input?: string;
  /**
   * Receives output as it arrives (stdout and stderr interleaved). If it throws, the command is
   * stopped and the promise rejects with that error.
   */
  onOutput?: (chunk: string) => void;
  /** Exit codes that count as success (default [0]). */
  okExitCodes?: readonly number[];
  /** Aborting stops the command and everything it started; the promise rejects with PROCESS_ABORTED. */
  signal?: AbortSignal;
}

export interface ProcessResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved in arrival order, bounded to the tail. */
  output: string;
}

/** The one seam through which the server starts child processes. */
export type ProcessRunner = (request: ProcessRequest) => Promise<ProcessResult>;

export interface ProcessRunnerOptions {
  /** The whole environment children see (plus each request's `env`): the server's own secrets are not in it. */
  baseEnv: Record<string, string | undefined>;
  maxCapture?: number;
  /** How long a stopped command's process group gets between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** How long to wait, once the command exited, for its output pipes to close. */
  closeWaitMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const MAX_CAPTURE = 1024 * 1024;
const DEFAULT_KILL_GRACE_MS = 5_000;
const DEFAULT_CLOSE_WAIT_MS = 200;
const GROUP_POLL_MS = 100;

/** Keeps the last `limit` characters: the end of a tool's output is where its error is. */
class TailBuffer {
  private text = '';
  constructor(private readonly limit: number) {}
  push(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.limit * 2) this.text = this.text.slice(-this.limit);
  }
  toString(): string {
    return this.text.length > this.limit ? this.text.slice(-this.limit) : this.text;
  }
}

/** Signals a whole process group; false when no process of it is left. */
function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is gone.
  }
}

/**
 * SIGTERM to the group, then SIGKILL after `graceMs` unless the group is gone by then. Polling
 * the group (instead of one blind SIGKILL later) stops as soon as it is empty, so a group id the
 * kernel hands out again is never signalled.
 */
function stopGroup(pgid: number, graceMs: number): void {
  if (!signalGroup(pgid, 'SIGTERM')) return;
  const deadline = Date.now() + graceMs;
  const poll = setInterval(() => {
    if (!signalGroup(pgid, 0)) {
      clearInterval(poll);
    } else if (Date.now() >= deadline) {
      clearInterval(poll);
      signalGroup(pgid, 'SIGKILL');
    }
  }, Math.min(GROUP_POLL_MS, graceMs));
}

/**
 * Creates the process runner. Each command runs in its own process group, so a timeout, an
 * abort or a failing `onOutput` stops everything it started (git's remote helpers, ssh, the
 * `podman` calls of podman-compose), not only the direct child; the promise settles when the
 * direct child exits, never waiting for pipes a leftover grandchild holds.
 */
export function createProcessRunner(options: ProcessRunnerOptions): ProcessRunner {
  const maxCapture = options.maxCapture ?? MAX_CAPTURE;
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const closeWaitMs = options.closeWaitMs ?? DEFAULT_CLOSE_WAIT_MS;
  return (request) =>
    new Promise<ProcessResult>((resolve, reject) => {
      const commandLine = [request.command, ...request.args];
      const stdout = new TailBuffer(maxCapture);
      const stderr = new TailBuffer(maxCapture);
      const output = new TailBuffer(maxCapture);
      const details = () => ({ command: commandLine, stdout: stdout.toString(), stderr: stderr.toString(), output: output.toString() });
      const aborted = () =>
        new AppError('PROCESS_ABORTED', `${commandLine.slice(0, 3).join(' ')} was stopped because the server is shutting down`, { details: details() });
      if (request.signal?.aborted) {
        reject(aborted());
        return;
      }

      // `signal` is not given to spawn: it would kill the direct child only.
      const child = spawn(request.command, request.args, {
        cwd: request.cwd,
        env: { ...options.baseEnv, ...request.env },
        shell: false,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      });

      /** Why the command is being stopped; the first reason wins. */
      let stopReason: { kind: 'timeout' } | { kind: 'abort' } | { kind: 'output'; error: unknown } | undefined;
      let settled = false;
      let stopped = false;
      let closeTimer: NodeJS.Timeout | undefined;
      const stopAll = () => {
        if (stopped || child.pid === undefined) return;
        stopped = true;
        stopGroup(child.pid, killGraceMs);
      };
      const destroyPipes = () => {
        child.stdout.destroy();
        child.stderr.destroy();
        child.stdin.destroy();
      };
      const stop = (reason: NonNullable<typeof stopReason>) => {
        stopReason ??= reason;
        stopAll();
        destroyPipes();
      };
      const cleanUp = () => {
        settled = true;
        clearTimeout(timer);
        clearTimeout(closeTimer);
        request.signal?.removeEventListener('abort', onAbort);
      };

      const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const timer = setTimeout(() => stop({ kind: 'timeout' }), timeoutMs);
      timer.unref();
      const onAbort = () => stop({ kind: 'abort' });
      request.signal?.addEventListener('abort', onAbort, { once: true });

      // One decoder per stream: a multi-byte character split across chunks stays whole.
      const onData = (target: TailBuffer) => {
        const decoder = new StringDecoder('utf8');
        return (data: Buffer) => {
          const chunk = decoder.write(data);
          target.push(chunk);
          output.push(chunk);
          if (stopReason?.kind === 'output') return;
          try {
            request.onOutput?.(chunk);
          } catch (error) {
            // A throw here would be an uncaught exception (a full disk would crash the server).
            stop({ kind: 'output', error });
          }
        };
      };
      child.stdout.on('data', onData(stdout));
      child.stderr.on('data', onData(stderr));
      child.stdin.on('error', () => {
        // A child that exits without reading stdin closes the pipe; its exit code tells the story.
      });
      child.stdin.end(request.input ?? '');

      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        if (settled) return;
        cleanUp();
        const exitCode = code ?? -1;
        if (stopReason?.kind === 'output') {
          reject(stopReason.error);
          return;
        }
        if (stopReason?.kind === 'abort') {
          reject(aborted());
          return;
        }
        if (stopReason?.kind === 'timeout') {
          reject(new AppError('PROCESS_TIMEOUT', `${request.command} ${request.args[0] ?? ''} did not finish within ${timeoutMs} ms`, { details: { ...details(), exitCode } }));
          return;
        }
        const result: ProcessResult = { exitCode, stdout: stdout.toString(), stderr: stderr.toString(), output: output.toString() };
        if (!(request.okExitCodes ?? [0]).includes(exitCode)) {
          const why = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
          reject(new AppError('PROCESS_FAILED', `${commandLine.slice(0, 3).join(' ')} ${why}`, { details: { ...details(), exitCode } }));
          return;
        }
        resolve(result);
      };

      child.on('error', (error: NodeJS.ErrnoException) => {
        if (settled) return;
        cleanUp();
        stopAll();
        if (error.code === 'ENOENT') {
          reject(new AppError('COMMAND_NOT_FOUND', `${request.command} is not installed or not on PATH`, { details: { command: commandLine }, cause: error }));
        } else {
          reject(new AppError('PROCESS_FAILED', `${request.command} could not run: ${error.message}`, { details: details(), cause: error }));
        }
      });
      // `close` waits for every holder of the pipes; `exit` only for the direct child. After exit,
      // give the pipes a moment to deliver the last output, then stop whatever still holds them.
      child.on('exit', (code, signal) => {
        if (settled) return;
        closeTimer = setTimeout(() => {
          stopAll();
          destroyPipes();
          finish(code, signal);
        }, stopReason ? 0 : closeWaitMs);
      });
      child.on('close', (code, signal) => finish(code, signal));
    });
}

/** The exit code, stdout and stderr a failed process left, for records and messages. */
export function processFailureDetails(error: AppError): { exitCode?: number; output: string } {
  const d = error.details ?? {};
  return {
    exitCode: typeof d['exitCode'] === 'number' ? d['exitCode'] : undefined,
    output: typeof d['output'] === 'string' ? d['output'] : '',
  };
}
