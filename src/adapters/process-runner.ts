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
  /** Receives output as it arrives (stdout and stderr interleaved). */
  onOutput?: (chunk: string) => void;
  /** Exit codes that count as success (default [0]). */
  okExitCodes?: readonly number[];
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

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const MAX_CAPTURE = 1024 * 1024;

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

/**
 * Creates the process runner. `baseEnv` is the whole environment children see (plus each
 * request's `env`): the server's own secrets are not in it.
 */
export function createProcessRunner(options: { baseEnv: Record<string, string | undefined>; maxCapture?: number }): ProcessRunner {
  const maxCapture = options.maxCapture ?? MAX_CAPTURE;
  return (request) =>
    new Promise<ProcessResult>((resolve, reject) => {
      const commandLine = [request.command, ...request.args];
      const stdout = new TailBuffer(maxCapture);
      const stderr = new TailBuffer(maxCapture);
      const output = new TailBuffer(maxCapture);
      let timedOut = false;
      let settled = false;
      const child = spawn(request.command, request.args, {
        cwd: request.cwd,
        env: { ...options.baseEnv, ...request.env },
        shell: false,
        stdio: ['pipe', 'pipe', 'pipe'],
        signal: request.signal,
        killSignal: 'SIGTERM',
      });
      const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
      }, timeoutMs);
      timer.unref();

      // One decoder per stream: a multi-byte character split across chunks stays whole.
      const onData = (target: TailBuffer) => {
        const decoder = new StringDecoder('utf8');
        return (data: Buffer) => {
        const chunk = decoder.write(data);
        target.push(chunk);
        output.push(chunk);
        request.onOutput?.(chunk);
        };
      };
      child.stdout.on('data', onData(stdout));
      child.stderr.on('data', onData(stderr));
      child.stdin.on('error', () => {
        // A child that exits without reading stdin closes the pipe; its exit code tells the story.
      });
      child.stdin.end(request.input ?? '');

      const details = () => ({ command: commandLine, stdout: stdout.toString(), stderr: stderr.toString(), output: output.toString() });
      child.on('error', (error: NodeJS.ErrnoException) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error.code === 'ENOENT') {
          reject(new AppError('COMMAND_NOT_FOUND', `${request.command} is not installed or not on PATH`, { details: { command: commandLine }, cause: error }));
        } else {
          reject(new AppError('PROCESS_FAILED', `${request.command} could not run: ${error.message}`, { details: details(), cause: error }));
        }
      });
      child.on('close', (code, signal) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const exitCode = code ?? -1;
        if (timedOut) {
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
      });
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
