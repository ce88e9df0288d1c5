import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { envSecretSource, readSecretSetting } from '../../util/secret-setting.js';
import { signStandardWebhook } from '../../webhook/providers/standard-webhooks/index.js';
import { signBody } from '../../webhook/signature.js';
import { EXIT_CODES_HELP, ExitCode, usageError } from '../exit-codes.js';
import type { CliIo } from '../output.js';
import { runCommand, type CliContext } from '../run-command.js';

interface SignOptions {
  body?: string;
  file?: string;
  secret?: string;
  secretFile?: string;
  curl?: string;
  json?: boolean;
  scheme?: string;
  id?: string;
}

const EXAMPLES = `
Examples:
  $ WEBHOOK_SECRET=... gitops-deploy-server sign                     # the empty body the old CI sends
  $ gitops-deploy-server sign --secret-file /etc/gds/secret --file push.json
  $ gitops-deploy-server sign --curl http://127.0.0.1:8080           # a ready-to-paste curl for /deploy-all-changed
  $ gitops-deploy-server sign --body '{"action":"published"}' --curl http://127.0.0.1:8080/redeploy-and-update/app
  $ gitops-deploy-server sign --scheme standard --curl http://127.0.0.1:8080   # Standard Webhooks: id, timestamp, signature (WEBHOOK_MODE=strict accepts it)`;

/**
 * `sign`: the X-Hub-Signature-256 value for a body and secret, so nobody needs the openssl
 * incantation. Local: it signs with the same function the server verifies with.
 */
export function registerSignCommand(program: Command, ctx: CliContext): void {
  program
    .command('sign')
    .description('print the X-Hub-Signature-256 value (sha256=<hex>) for a webhook body and secret')
    .option('--body <text>', 'the body to sign (default: stdin when piped, else the empty body)')
    .option('--file <path>', 'sign the exact bytes of this file')
    .option('--secret <secret>', 'the webhook secret (default: $WEBHOOK_SECRET, else the file named by $WEBHOOK_SECRET_FILE); visible in the process list, prefer the variables')
    .option('--secret-file <path>', 'read the secret from this file (one trailing newline ignored, as the server reads it)')
    .option('--curl <url>', 'print a ready-to-paste curl command for this webhook URL instead (a URL without a path gets /deploy-all-changed)')
    .option('--json', 'print {"header","signature","curl"} as JSON')
    .option('--scheme <scheme>', 'github (X-Hub-Signature-256, the default) or standard (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature; valid for 5 minutes)', 'github')
    .option('--id <id>', 'with --scheme standard: the webhook-id (default: a random msg_ id; the server refuses an id it has seen)')
    .addHelpText('after', `${EXAMPLES}\n${EXIT_CODES_HELP}`)
    .action((options: SignOptions) =>
      runCommand(ctx, options, async (out) => {
        const secret = readSecret(options, ctx.env);
        const { bytes, source } = await readBody(options, ctx);
        if (source === 'empty') out.progress('signing the empty body (give --body, --file or pipe the body on stdin to sign another)');
        if (options.scheme === 'standard') {
          const headers = signStandardWebhook(secret, options.id ?? `msg_${randomBytes(12).toString('hex')}`, Math.floor(Date.now() / 1000), bytes);
          const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
          const curl = options.curl === undefined ? undefined : curlCommand(webhookUrl(options.curl), lines, bytes, options.file);
          out.progress('a Standard Webhooks signature is accepted for 5 minutes, once');
          if (out.json) out.printJson({ scheme: 'standard', headers, ...(curl === undefined ? {} : { curl }) });
          else out.print(curl ?? lines.join('\n'));
          return ExitCode.ok;
        }
        if (options.scheme !== 'github') throw usageError(`--scheme must be github or standard, not ${JSON.stringify(options.scheme)}`);
        const signature = signBody(secret, bytes);
        const curl = options.curl === undefined ? undefined : curlCommand(webhookUrl(options.curl), [`X-Hub-Signature-256: ${signature}`], bytes, options.file);
        if (out.json) out.printJson({ header: 'X-Hub-Signature-256', signature, ...(curl === undefined ? {} : { curl }) });
        else out.print(curl ?? signature);
        return ExitCode.ok;
      }),
    );
}

/** --secret or --secret-file, else WEBHOOK_SECRET or WEBHOOK_SECRET_FILE, read as the server reads them. */
function readSecret(options: SignOptions, env: NodeJS.ProcessEnv): string {
  if (options.secret !== undefined && options.secretFile !== undefined) throw usageError('give --secret or --secret-file, not both');
  if (options.secret === '') throw usageError('the secret given with --secret is empty');
  const readFile = (file: string) => readFileSync(file, 'utf8');
  const flags = readSecretSetting({ name: '--secret', value: options.secret, fileName: '--secret-file', file: options.secretFile }, readFile);
  if (!flags.ok) throw usageError(flags.problem, 'CONFIG');
  if (flags.value !== undefined) return flags.value;
  const fromEnv = readSecretSetting(envSecretSource(env, 'WEBHOOK_SECRET'), readFile);
  if (!fromEnv.ok) throw usageError(fromEnv.problem, 'CONFIG');
  if (fromEnv.value !== undefined) return fromEnv.value;
  throw usageError('no webhook secret: pass --secret or --secret-file, or set WEBHOOK_SECRET or WEBHOOK_SECRET_FILE', 'CONFIG');
}

async function readBody(options: SignOptions, io: CliIo): Promise<{ bytes: Buffer; source: 'option' | 'file' | 'stdin' | 'empty' }> {
  if (options.body !== undefined && options.file !== undefined) throw usageError('give --body or --file, not both');
  if (options.body !== undefined) return { bytes: Buffer.from(options.body, 'utf8'), source: 'option' };
  if (options.file !== undefined) {
    try {
      return { bytes: readFileSync(options.file), source: 'file' };
    } catch (error) {
      throw usageError(`the body file ${options.file} cannot be read: ${(error as Error).message}`);
    }
  }
  // A terminal is not a body: without one piped in, sign the empty body (what the old CI sends).
  if (io.stdin.isTTY) return { bytes: Buffer.alloc(0), source: 'empty' };
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return { bytes: Buffer.concat(chunks), source: 'stdin' };
}

/** The webhook URL; a bare server URL means the deploy-all webhook. */
function webhookUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`--curl needs a URL like http://127.0.0.1:8080/deploy-all-changed, not ${JSON.stringify(raw)}`);
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/deploy-all-changed';
  return url.toString();
}

/** Single-quotes a word for POSIX shells. */
function shellQuote(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * A curl that sends exactly the signed bytes: a file by reference with `--data-binary @file`
 * (`-d @file` would strip its newlines), text with `--data-raw` (no `@` magic), and JSON's
 * content type for a JSON body.
 */
function curlCommand(url: string, headers: string[], body: Buffer, file: string | undefined): string {
  const words = ['curl', '-i', '-X', 'POST', ...headers.flatMap((header) => ['-H', shellQuote(header)])];
  if (body.length > 0) {
    if (looksLikeJson(body)) words.push('-H', shellQuote('Content-Type: application/json'));
    if (file !== undefined) words.push('--data-binary', shellQuote(`@${file}`));
    else if (isPrintableText(body)) words.push('--data-raw', shellQuote(body.toString('utf8')));
    else throw usageError('the body is binary and cannot be pasted into a command line; give it with --file so curl reads the file');
  }
  words.push(shellQuote(url));
  return words.join(' ');
}

function looksLikeJson(body: Buffer): boolean {
  try {
    JSON.parse(body.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

function isPrintableText(body: Buffer): boolean {
  const text = body.toString('utf8');
  // Control characters other than tab, newline and CR would be mangled by a terminal paste.
  return Buffer.from(text, 'utf8').equals(body) && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text);
}
