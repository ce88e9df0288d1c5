import { FAILED_DEPLOYMENT_STATUSES } from '../domain/types.js';

/** A stream the CLI writes text to (process.stdout in real use, a buffer in tests). */
export interface TextStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** What a command may touch of its process: passed in, so nothing else reads process.env. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: TextStream;
  stderr: TextStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

type Paint = (text: string) => string;

export interface Style {
  bold: Paint;
  dim: Paint;
  red: Paint;
  green: Paint;
  yellow: Paint;
  cyan: Paint;
}

const ansi =
  (open: number, close: number): Paint =>
  (text) =>
    `\u001b[${open}m${text}\u001b[${close}m`;
const plain: Paint = (text) => text;
const PLAIN_STYLE: Style = { bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain };
const ANSI_STYLE: Style = { bold: ansi(1, 22), dim: ansi(2, 22), red: ansi(31, 39), green: ansi(32, 39), yellow: ansi(33, 39), cyan: ansi(36, 39) };

/** Colour only on a terminal, and never with NO_COLOR set (https://no-color.org). */
export function styleFor(stream: TextStream, env: NodeJS.ProcessEnv): Style {
  const noColor = env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '';
  return stream.isTTY === true && !noColor ? ANSI_STYLE : PLAIN_STYLE;
}

const ANSI_SEQUENCE = /\u001b\[[0-9;]*m/g;
const visibleLength = (text: string) => text.replace(ANSI_SEQUENCE, '').length;

/** A doctor check's verdict; `warn` does not fail the command. */
export type CheckLevel = 'pass' | 'warn' | 'fail';

/**
 * Human output (tables, colour, progress on stderr) or JSON for scripts, chosen once per
 * command. In JSON mode stdout carries only JSON and progress is silent.
 */
export class Output {
  readonly json: boolean;
  /** Styles for stdout and stderr: each stream is coloured only when it is a terminal. */
  readonly style: Style;
  readonly errStyle: Style;
  /** Unicode symbols on a terminal, plain ASCII words when stdout is piped. */
  private readonly unicode: boolean;

  constructor(
    private readonly io: CliIo,
    options: { json?: boolean | undefined },
  ) {
    this.json = options.json === true;
    this.style = this.json ? PLAIN_STYLE : styleFor(io.stdout, io.env);
    this.errStyle = styleFor(io.stderr, io.env);
    this.unicode = io.stdout.isTTY === true;
  }

  /** One line on stdout. */
  print(line = ''): void {
    this.io.stdout.write(`${line}\n`);
  }

  /** A progress or hint line on stderr, silent in JSON mode. */
  progress(line: string): void {
    if (!this.json) this.io.stderr.write(`${this.errStyle.dim(line)}\n`);
  }

  /** A warning or error on stderr, in every mode. */
  error(line: string): void {
    this.io.stderr.write(`${line}\n`);
  }

  printJson(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** One JSON document per line, for streams of events. */
  printJsonLine(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** Columns padded to their widest cell; the last column is not padded (it may be long). */
  table(headers: string[], rows: string[][]): void {
    rows = rows.map((row) => row.map(oneLine));
    const widths = headers.map((header, i) => Math.max(visibleLength(header), ...rows.map((row) => visibleLength(row[i] ?? ''))));
    const render = (cells: string[]) =>
      cells
        .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - visibleLength(cell))))
        .join('  ')
        .trimEnd();
    this.print(this.style.bold(render(headers)));
    for (const row of rows) this.print(render(row));
  }

  /** ✔ / ! / ✘ on a terminal, PASS / WARN / FAIL otherwise, coloured where colour is on. */
  symbol(level: CheckLevel): string {
    const text = this.unicode ? { pass: '✔', warn: '!', fail: '✘' }[level] : { pass: 'PASS', warn: 'WARN', fail: 'FAIL' }[level];
    return { pass: this.style.green, warn: this.style.yellow, fail: this.style.red }[level](text);
  }

  /** A run or deployment status, coloured by what it means. */
  status(status: string, style: Style = this.style): string {
    if (status === 'succeeded' || status === 'in-sync' || status === 'deploy') return style.green(status);
    if (FAILED_DEPLOYMENT_STATUSES.has(status) || status === 'problem' || status === 'drifted') return style.red(status);
    if (status === 'running' || status === 'queued' || status === 'changed' || status === 'never-deployed' || status === 'pinned') return style.yellow(status);
    if (status === 'skipped' || status === 'unchanged' || status === 'self') return style.dim(status);
    return status;
  }
}

/** Multi-line text (a YAML parser's error with its excerpt) on one line, for tables and event lines. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** A commit sha shortened for tables (`-` when there is none). */
export function shortCommit(sha: string | null | undefined): string {
  return sha ? sha.slice(0, 7) : '-';
}

/** An ISO time as local `YYYY-MM-DD HH:MM:SS` (`-` when there is none). */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
