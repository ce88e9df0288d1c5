/**
 * Notification settings from the environment. Pure apart from the injected `readFile`, and it
 * reports every problem at once (one line each), like config.ts, so an operator fixes them in one go.
 */
import { envSecretSource, readSecretSetting } from '../util/secret-setting.js';

export interface NotifySettings {
  /** ntfy topic URL (`https://ntfy.sh/<topic>` or self-hosted); may carry `user:pass@`. */
  ntfy: { url: string; token: string | undefined } | null;
  /** Slack, Discord, Mattermost or any incoming webhook that reads `text` or `content`. */
  slack: { url: string } | null;
  /** Generic JSON webhook; with a secret, every body is signed (X-Gitops-Signature-256). */
  webhook: { url: string; secret: string | undefined } | null;
  /** Also report runs that only succeeded (failures and recoveries are always reported). */
  onSuccess: boolean;
  /** The longest one notification may take on one channel, its retry included. */
  timeoutMs: number;
}

/**
 * Variables that hold credentials and must not reach compose tools or git. The URLs count: a
 * Slack/Discord webhook URL is itself the credential, and an ntfy URL may embed `user:pass@`.
 */
export const NOTIFY_SECRET_VARIABLES = [
  'NOTIFY_NTFY_URL',
  'NOTIFY_NTFY_TOKEN',
  'NOTIFY_NTFY_TOKEN_FILE',
  'NOTIFY_SLACK_WEBHOOK_URL',
  'NOTIFY_WEBHOOK_URL',
  'NOTIFY_WEBHOOK_SECRET',
  'NOTIFY_WEBHOOK_SECRET_FILE',
] as const;

export const DEFAULT_NOTIFY_TIMEOUT_SECONDS = 10;
const MIN_TIMEOUT_SECONDS = 1;
const MAX_TIMEOUT_SECONDS = 120;

/** Settings with every channel off: what the server runs with when nothing is configured. */
export const disabledNotifySettings: NotifySettings = {
  ntfy: null,
  slack: null,
  webhook: null,
  onSuccess: false,
  timeoutMs: DEFAULT_NOTIFY_TIMEOUT_SECONDS * 1000,
};

/**
 * Reads NOTIFY_* variables. Blank values count as unset. A channel with a problem is left off in
 * `settings`; `problems` say why (the caller decides whether to refuse to start). `warnings` are
 * acceptable but probably unintended settings, worth a line in the start-up log.
 * Problem texts never repeat a URL or secret value: URLs here are often credentials.
 */
export function readNotifySettings(
  env: Record<string, string | undefined>,
  readFile: (path: string) => string,
): { settings: NotifySettings; problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const get = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value;
  };

  const ntfyUrl = readUrl(get, 'NOTIFY_NTFY_URL', problems);
  const ntfyToken = readSecret(env, 'NOTIFY_NTFY_TOKEN', readFile, problems);
  const slackUrl = readUrl(get, 'NOTIFY_SLACK_WEBHOOK_URL', problems);
  const webhookUrl = readUrl(get, 'NOTIFY_WEBHOOK_URL', problems);
  const webhookSecret = readSecret(env, 'NOTIFY_WEBHOOK_SECRET', readFile, problems);

  let ntfy: NotifySettings['ntfy'] = null;
  if (ntfyUrl) {
    const parsed = new URL(ntfyUrl);
    if (parsed.pathname.replace(/\/+$/, '') === '') {
      problems.push('NOTIFY_NTFY_URL must include the topic, like https://ntfy.sh/<topic>');
    } else if (parsed.username && ntfyToken) {
      // Two credentials for one request: say so rather than silently pick one.
      problems.push('NOTIFY_NTFY_URL carries user:password and NOTIFY_NTFY_TOKEN is set; use one of them');
    } else {
      ntfy = { url: ntfyUrl, token: ntfyToken };
      if (parsed.protocol === 'http:' && (ntfyToken || parsed.username)) {
        warnings.push('NOTIFY_NTFY_URL is plain http: the ntfy credentials travel unencrypted');
      }
    }
  } else if (ntfyToken) {
    warnings.push('NOTIFY_NTFY_TOKEN is set but NOTIFY_NTFY_URL is not; ntfy notifications are off');
  }

  const slack: NotifySettings['slack'] = slackUrl ? { url: slackUrl } : null;

  let webhook: NotifySettings['webhook'] = null;
  if (webhookUrl) {
    webhook = { url: webhookUrl, secret: webhookSecret };
    if (!webhookSecret) warnings.push('NOTIFY_WEBHOOK_URL is set without NOTIFY_WEBHOOK_SECRET; its requests are not signed');
  } else if (webhookSecret) {
    warnings.push('NOTIFY_WEBHOOK_SECRET is set but NOTIFY_WEBHOOK_URL is not; webhook notifications are off');
  }

  const onSuccess = readBoolean(get, 'NOTIFY_ON_SUCCESS', false, problems);
  if (onSuccess && !ntfy && !slack && !webhook) warnings.push('NOTIFY_ON_SUCCESS is set but no notification channel is configured');
  const timeoutSeconds = readInt(get, 'NOTIFY_TIMEOUT_SECONDS', DEFAULT_NOTIFY_TIMEOUT_SECONDS, MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS, problems);

  return { settings: { ntfy, slack, webhook, onSuccess, timeoutMs: timeoutSeconds * 1000 }, problems, warnings };
}

type Getter = (name: string) => string | undefined;

function readUrl(get: Getter, name: string, problems: string[]): string | undefined {
  const value = get(name)?.trim();
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${name} is not a valid URL`);
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push(`${name} must be an http:// or https:// URL`);
    return undefined;
  }
  return value;
}

/** NAME or NAME_FILE (a mounted secret file), read as every other secret setting is. */
function readSecret(env: Record<string, string | undefined>, name: string, readFile: (path: string) => string, problems: string[]): string | undefined {
  const read = readSecretSetting(envSecretSource(env, name), readFile);
  if (read.ok) return read.value;
  problems.push(read.problem);
  return undefined;
}

function readBoolean(get: Getter, name: string, fallback: boolean, problems: string[]): boolean {
  const value = get(name)?.trim().toLowerCase();
  if (value === undefined) return fallback;
  if (value === 'true' || value === '1' || value === 'yes' || value === 'on') return true;
  if (value === 'false' || value === '0' || value === 'no' || value === 'off') return false;
  problems.push(`${name} must be true or false`);
  return fallback;
}

function readInt(get: Getter, name: string, fallback: number, min: number, max: number, problems: string[]): number {
  const value = get(name)?.trim();
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) {
    problems.push(`${name} must be a whole number`);
    return fallback;
  }
  const n = Number(value);
  if (n < min || n > max) {
    problems.push(`${name} must be between ${min} and ${max}`);
    return fallback;
  }
  return n;
}
