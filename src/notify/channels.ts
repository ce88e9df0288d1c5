/**
 * The three ways a notification leaves the server. Each sender is one HTTP POST that resolves on
 * a 2xx answer and throws otherwise; timeouts, retries and logging belong to the notifier, so a
 * sender stays a small function a test can call with a fake fetch.
 */
import { signBody } from '../webhook/signature.js';
import { truncate, type DriftDetails, type Notification, type NotificationKind, type RunOutcome } from './outcome.js';
import type { NotifySettings } from './settings.js';

/** Sends one notification; throws ChannelHttpError on a non-2xx answer, fetch's errors otherwise. */
export type Sender = (notification: Notification, signal: AbortSignal) => Promise<void>;

export type ChannelName = 'ntfy' | 'slack' | 'webhook';

export interface Channel {
  name: ChannelName;
  /** Scheme, host and port only: safe to log (the path of a chat webhook URL is its secret). */
  target: string;
  send: Sender;
}

/** The receiver answered, but not with a 2xx. `status` lets the notifier decide whether to retry. */
export class ChannelHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ChannelHttpError';
  }
}

export const USER_AGENT = 'gitops-deploy-server';
/** ntfy.sh refuses (or turns into an attachment) a message over 4096 bytes; keep under it. */
export const NTFY_MAX_BODY_BYTES = 4000;
/** Discord refuses `content` over 2000 characters. */
export const DISCORD_MAX_CHARS = 2000;
/** Slack truncates very long text anyway; past this a chat message is unreadable. */
export const SLACK_MAX_CHARS = 4000;
const MAX_TITLE_CHARS = 250;

const NTFY_PRIORITY: Record<NotificationKind, string> = { failure: 'high', recovery: 'default', success: 'low', drift: 'high' };
const NTFY_TAG: Record<NotificationKind, string> = { failure: 'rotating_light', recovery: 'white_check_mark', success: 'rocket', drift: 'warning' };

export type WebhookEvent = `deployment.${Exclude<NotificationKind, 'drift'>}` | 'service.drift';

/** The generic webhook's JSON body. Field order is fixed so the signed bytes are reproducible. */
export interface WebhookPayload {
  event: WebhookEvent;
  server: string;
  title: string;
  text: string;
  dashboardUrl: string | null;
  /** null on a drift notice: no run is about it. */
  run: RunOutcome['run'] | null;
  services: { failed: string[]; recovered: string[]; succeeded: string[] };
  deployments: RunOutcome['deployments'];
  /** `service.drift` only. */
  drift?: DriftDetails;
}

/** ntfy: the text as the body, title and priority as headers (https://docs.ntfy.sh/publish/). */
export function createNtfySender(opts: { url: string; token?: string | undefined; fetch?: typeof fetch }): Sender {
  const target = splitCredentials(opts.url);
  const authorization = opts.token ? `Bearer ${opts.token}` : target.basicAuth;
  const doFetch = opts.fetch ?? globalThis.fetch;
  return async (notification, signal) => {
    const headers: Record<string, string> = {
      'Content-Type': 'text/plain; charset=utf-8',
      'User-Agent': USER_AGENT,
      Title: encodeHeaderText(truncate(notification.title, MAX_TITLE_CHARS)),
      Priority: NTFY_PRIORITY[notification.kind],
      Tags: [NTFY_TAG[notification.kind], notification.outcome.serverName].map(tagSafe).filter(Boolean).join(','),
    };
    const click = asciiUrl(notification.outcome.dashboardUrl);
    if (click) headers['Click'] = click;
    if (authorization) headers['Authorization'] = authorization;
    const response = await doFetch(target.url, {
      method: 'POST',
      headers,
      body: truncateUtf8(notification.text, NTFY_MAX_BODY_BYTES),
      signal,
    });
    await expectOk(response, 'ntfy');
  };
}

/**
 * Slack-style incoming webhook: `text` for Slack (and Mattermost, Rocket.Chat), `content` for
 * Discord, in one body so one URL setting serves all of them. Each field is formatted for its reader.
 */
export function createSlackSender(opts: { url: string; fetch?: typeof fetch }): Sender {
  const target = splitCredentials(opts.url);
  const doFetch = opts.fetch ?? globalThis.fetch;
  return async (notification, signal) => {
    const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': USER_AGENT };
    if (target.basicAuth) headers['Authorization'] = target.basicAuth;
    const response = await doFetch(target.url, {
      method: 'POST',
      headers,
      body: JSON.stringify(buildChatPayload(notification)),
      signal,
    });
    await expectOk(response, 'slack');
  };
}

/** The chat webhook body: Slack mrkdwn in `text`, Discord markdown in `content`. */
export function buildChatPayload(notification: Notification): { text: string; content: string; allowed_mentions: { parse: never[] } } {
  return {
    text: truncate(`*${escapeSlack(notification.title)}*\n${escapeSlack(notification.text)}`, SLACK_MAX_CHARS),
    content: truncate(`**${escapeDiscord(notification.title)}**\n${escapeDiscord(notification.text)}`, DISCORD_MAX_CHARS),
    // An error message quoting "@everyone" must not ping a whole Discord server; Slack ignores this field.
    allowed_mentions: { parse: [] },
  };
}

/**
 * Generic JSON webhook, signed like GitHub's X-Hub-Signature-256 (HMAC-SHA256 of the exact body
 * bytes), so receivers can reuse their GitHub verification code. X-Gitops-Delivery is the run id:
 * the same on a retry, so a receiver can drop duplicates.
 */
export function createWebhookSender(opts: { url: string; secret?: string | undefined; fetch?: typeof fetch }): Sender {
  const target = splitCredentials(opts.url);
  const doFetch = opts.fetch ?? globalThis.fetch;
  return async (notification, signal) => {
    const payload = buildWebhookPayload(notification);
    const body = Buffer.from(JSON.stringify(payload), 'utf8');
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'User-Agent': USER_AGENT,
      'X-Gitops-Event': payload.event,
      'X-Gitops-Delivery': encodeHeaderText(notification.outcome.run.id),
    };
    if (opts.secret) headers['X-Gitops-Signature-256'] = signBody(opts.secret, body);
    if (target.basicAuth) headers['Authorization'] = target.basicAuth;
    const response = await doFetch(target.url, { method: 'POST', headers, body, signal });
    await expectOk(response, 'webhook');
  };
}

export function buildWebhookPayload(notification: Notification): WebhookPayload {
  const { outcome } = notification;
  if (notification.drift) {
    return {
      event: 'service.drift',
      server: outcome.serverName,
      title: notification.title,
      text: notification.text,
      dashboardUrl: outcome.dashboardUrl,
      run: null,
      services: { failed: notification.failed, recovered: [], succeeded: [] },
      deployments: [],
      drift: notification.drift,
    };
  }
  return {
    event: `deployment.${notification.kind as Exclude<NotificationKind, 'drift'>}`,
    server: outcome.serverName,
    title: notification.title,
    text: notification.text,
    dashboardUrl: outcome.dashboardUrl,
    run: outcome.run,
    services: { failed: notification.failed, recovered: notification.recovered, succeeded: notification.succeeded },
    deployments: outcome.deployments,
  };
}

/** Every configured channel, in a fixed order. */
export function createChannels(settings: NotifySettings, fetchImpl?: typeof fetch): Channel[] {
  const channels: Channel[] = [];
  const withFetch = fetchImpl ? { fetch: fetchImpl } : {};
  if (settings.ntfy) {
    channels.push({ name: 'ntfy', target: originOf(settings.ntfy.url), send: createNtfySender({ ...settings.ntfy, ...withFetch }) });
  }
  if (settings.slack) {
    channels.push({ name: 'slack', target: originOf(settings.slack.url), send: createSlackSender({ ...settings.slack, ...withFetch }) });
  }
  if (settings.webhook) {
    channels.push({ name: 'webhook', target: originOf(settings.webhook.url), send: createWebhookSender({ ...settings.webhook, ...withFetch }) });
  }
  return channels;
}

/** What is configured, safe for a start-up log line (no paths, no credentials). */
export function describeChannels(settings: NotifySettings): Array<{ channel: ChannelName; target: string }> {
  return createChannels(settings).map(({ name, target }) => ({ channel: name, target }));
}

/**
 * fetch refuses URLs with `user:pass@`, and they must never be logged: move them into a Basic
 * Authorization header and keep the bare URL.
 */
function splitCredentials(raw: string): { url: string; basicAuth: string | undefined } {
  const url = new URL(raw);
  if (!url.username && !url.password) return { url: url.href, basicAuth: undefined };
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  url.username = '';
  url.password = '';
  return { url: url.href, basicAuth: `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}` };
}

function originOf(raw: string): string {
  try {
    return new URL(raw).origin;
  } catch {
    return 'invalid-url';
  }
}

/**
 * Header values must be Latin-1 and one line. Plain ASCII passes as is; anything else becomes an
 * RFC 2047 encoded word, which ntfy decodes.
 */
export function encodeHeaderText(value: string): string {
  const oneLine = value.replace(/[\r\n\t]+/g, ' ').replace(/[\x00-\x1f\x7f]/g, '');
  if (/^[\x20-\x7e]*$/.test(oneLine)) return oneLine;
  return `=?UTF-8?B?${Buffer.from(oneLine, 'utf8').toString('base64')}?=`;
}

/** ntfy tags are comma separated; emoji short codes and server names are ASCII already. */
function tagSafe(tag: string): string {
  return tag.replace(/[^\x21-\x7e]|,/g, '');
}

/** Click must be a URL; the WHATWG serialisation percent-encodes anything non-ASCII. */
function asciiUrl(value: string | null): string | undefined {
  if (!value) return undefined;
  try {
    const href = new URL(value).href;
    return /^[\x21-\x7e]+$/.test(href) ? href : undefined;
  } catch {
    return undefined;
  }
}

/** Cuts to at most `maxBytes` of UTF-8 without splitting a character, marking the cut. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  const marker = '\n…';
  let bytes = Buffer.byteLength(marker, 'utf8');
  let out = '';
  for (const char of text) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > maxBytes) break;
    bytes += size;
    out += char;
  }
  return out + marker;
}

function escapeSlack(text: string): string {
  // Slack's only required escapes; they also stop a message from forming <!channel> mentions.
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeDiscord(text: string): string {
  // Inline markdown only, so service names like my_app_db do not turn italic; URLs are left
  // whole, or Discord would stop recognising the dashboard link.
  return text
    .split(/(https?:\/\/\S+)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/([\\*_~`|])/g, '\\$1')))
    .join('');
}

async function expectOk(response: Response, channel: ChannelName): Promise<void> {
  if (response.ok) {
    // Cancel rather than read: frees the connection without trusting the body's size.
    await response.body?.cancel().catch(() => undefined);
    return;
  }
  const snippet = await readSnippet(response, 200);
  throw new ChannelHttpError(response.status, `${channel} answered HTTP ${response.status}${snippet ? `: ${snippet}` : ''}`);
}

/** The start of an error body, for the log (ntfy and Slack explain refusals there); never all of it. */
async function readSnippet(response: Response, maxChars: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < maxChars * 4) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } catch {
    // A body that breaks off still leaves the status to report.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return truncate(Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim(), maxChars);
}
