import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config.js';
import { pass, warn, type CheckResult, type DoctorContext } from './check.js';

const MIN_SECRET_LENGTH = 16;
const GENERATE = "generate one with `node -e \"console.log(require('crypto').randomBytes(24).toString('hex'))\"`";

/** The webhook secret: where it comes from and whether it is long enough (never its value). */
export function checkWebhookSecret(ctx: DoctorContext, config: Config): CheckResult {
  const secret = config.webhookSecret;
  if (secret === undefined) {
    const file = path.join(config.dataDir, 'webhook-secret');
    return pass('webhook-secret', existsSync(file) ? `example mode: the generated secret in ${file}` : `example mode: the server generates one into ${file} at start-up`);
  }
  const source = ctx.env['WEBHOOK_SECRET_FILE'] ? `WEBHOOK_SECRET_FILE (${ctx.env['WEBHOOK_SECRET_FILE']})` : 'WEBHOOK_SECRET';
  if (secret.length < MIN_SECRET_LENGTH) {
    return warn('webhook-secret', `set from ${source}, but only ${secret.length} characters`, `use a random secret of at least ${MIN_SECRET_LENGTH} characters in the server and in the CI that signs the webhooks: ${GENERATE}`);
  }
  return pass('webhook-secret', `set from ${source} (${secret.length} characters)`);
}

/** The management API token: without one the API (and every remote CLI command) is off, which is allowed. */
export function checkApiToken(ctx: DoctorContext, config: Config): CheckResult {
  const token = config.apiToken;
  if (token === undefined && config.exampleMode) {
    const file = path.join(config.dataDir, 'api-token');
    return pass('api-token', existsSync(file) ? `example mode: the generated token in ${file}` : `example mode: the server generates one into ${file} at start-up`);
  }
  if (token === undefined || token === '') {
    return warn('api-token', 'API_TOKEN and API_TOKEN_FILE are unset: the management API (/api) and the remote CLI commands are off', `set API_TOKEN or API_TOKEN_FILE to a random token (${GENERATE}) and give the same to the CLI`);
  }
  const source = ctx.env['API_TOKEN_FILE'] ? `API_TOKEN_FILE (${ctx.env['API_TOKEN_FILE']})` : 'API_TOKEN';
  if (token.length < MIN_SECRET_LENGTH) {
    return warn('api-token', `set from ${source}, but only ${token.length} characters`, `use a random token of at least ${MIN_SECRET_LENGTH} characters: ${GENERATE}`);
  }
  return pass('api-token', `set from ${source} (${token.length} characters)`);
}
