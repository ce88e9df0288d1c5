import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { envSecretSource, readSecretSetting } from '../util/secret-setting.js';
import { ApiClient } from './api-client.js';
import { EXIT_CODES_HELP, usageError } from './exit-codes.js';

/** The options every command that talks to a running server takes. */
export interface RemoteOptions {
  url?: string;
  token?: string;
  timeout: number;
  json?: boolean;
}

/** Commander parser for a positive number of seconds. */
export function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return seconds;
}

/** Commander parser for a whole number in a range. */
export function parseIntegerIn(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return Number(value);
  };
}

/**
 * Adds --url, --token, --timeout and --json, and the exit-code table to the help. Defaults
 * come from the environment at run time (never shown in help: the token must not be printed).
 */
export function addRemoteOptions(command: Command, options: { timeoutSeconds?: number } = {}): Command {
  return command
    .option('--url <url>', 'server URL (default: $GDS_URL, else http://127.0.0.1:$PORT with PORT 8080 when unset)')
    .option('--token <token>', 'API token (default: $API_TOKEN, else the file named by $API_TOKEN_FILE); other local users can see a command-line token in the process list, so prefer the variables')
    .option('--timeout <seconds>', 'longest wait for one answer from the server', parseSeconds, options.timeoutSeconds ?? 30)
    .option('--json', 'print JSON on stdout (for scripts) instead of tables')
    .addHelpText('after', EXIT_CODES_HELP);
}

const nonEmpty = (value: string | undefined) => (value === undefined || value === '' ? undefined : value);

/** The server URL: --url, else GDS_URL, else the local server on PORT (as `serve` would listen). */
export function resolveServerUrl(options: { url?: string | undefined }, env: NodeJS.ProcessEnv): string {
  const raw = nonEmpty(options.url) ?? nonEmpty(env['GDS_URL']) ?? `http://127.0.0.1:${nonEmpty(env['PORT']) ?? '8080'}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`the server URL ${JSON.stringify(raw)} is not a URL (give --url or GDS_URL like http://127.0.0.1:8080)`, 'CONFIG');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`the server URL must be http:// or https://, not ${url.protocol}`, 'CONFIG');
  if (url.username || url.password) throw usageError('the server URL must not carry credentials; the API takes a bearer token (--token or API_TOKEN)', 'CONFIG');
  if (url.search || url.hash) throw usageError('the server URL must not have a query or fragment', 'CONFIG');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** The API token: --token, else API_TOKEN or API_TOKEN_FILE, read as the server reads them. */
export function resolveToken(options: { token?: string | undefined }, env: NodeJS.ProcessEnv, readFile: (file: string) => string = (file) => readFileSync(file, 'utf8')): string {
  const flag = nonEmpty(options.token);
  if (flag !== undefined) return flag;
  const read = readSecretSetting(envSecretSource(env, 'API_TOKEN'), readFile);
  if (!read.ok) throw usageError(read.problem, 'CONFIG');
  if (read.value !== undefined) return read.value;
  throw usageError('no API token: set API_TOKEN or API_TOKEN_FILE (the server\'s own), or pass --token', 'CONFIG');
}

/** A client for the server these options name. */
export function connect(options: RemoteOptions, env: NodeJS.ProcessEnv): ApiClient {
  return new ApiClient({ baseUrl: resolveServerUrl(options, env), token: resolveToken(options, env), timeoutMs: options.timeout * 1000 });
}
