/**
 * Sends one notification per finished run to every configured channel, off the deploy path.
 *
 * Concurrency model: `runFinished` builds the message synchronously (pure, cheap) and schedules
 * one background send per channel for the next turn of the event loop; it never awaits and
 * never throws, so a notifier that is down can
 * neither delay nor fail a deployment. Each send has one deadline (the configured timeout) that
 * covers its attempt, the ~1 s pause and its single retry. Sends in flight are tracked in a set so
 * `flush` can wait for them (shutdown, tests); past MAX_IN_FLIGHT new sends are dropped with a
 * warning instead of queueing without bound behind a receiver that hangs.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { createRedactor } from '../domain/redact.js';
import { ChannelHttpError, createChannels, type Channel } from './channels.js';
import { buildNotification, type Notification, type RunOutcome } from './outcome.js';
import type { NotifySettings } from './settings.js';

export interface Notifier {
  /** Fire and forget: returns at once and never throws; sending happens in the background. */
  runFinished(outcome: RunOutcome): void;
  /** A drift notice (built by notify/drift-message.ts), sent like a run's notification. */
  send?(notification: Notification): void;
  /** Resolves when every send in flight settled. */
  flush(): Promise<void>;
}

/** Sends in flight beyond which new ones are dropped. */
export const MAX_IN_FLIGHT = 50;
/** Pause before the one retry: long enough for a restarting receiver, short enough to stay in the deadline. */
export const RETRY_DELAY_MS = 1000;

/** For a server with no channel configured, and for tests of code that takes a Notifier. */
export const noopNotifier: Notifier = Object.freeze({
  runFinished: () => undefined,
  send: () => undefined,
  flush: async () => undefined,
});

export interface NotifierDeps {
  settings: NotifySettings;
  logger: Logger;
  /** Defaults to Node's global fetch; tests pass a fake. */
  fetch?: typeof fetch;
  /** Defaults to RETRY_DELAY_MS; tests shorten it. */
  retryDelayMs?: number;
  /** Defaults to MAX_IN_FLIGHT. */
  maxInFlight?: number;
}

export function createNotifier(deps: NotifierDeps): Notifier {
  const channels = createChannels(deps.settings, deps.fetch);
  if (channels.length === 0) return noopNotifier;
  const { logger, settings } = deps;
  const retryDelayMs = deps.retryDelayMs ?? RETRY_DELAY_MS;
  const maxInFlight = deps.maxInFlight ?? MAX_IN_FLIGHT;
  // Defence in depth: error texts from fetch or a receiver must not carry a credential into the log.
  const redact = createRedactor(secretValues(settings));
  const inFlight = new Set<Promise<void>>();

  /** Never rejects: every outcome ends in a log line. */
  async function deliver(channel: Channel, notification: Notification): Promise<void> {
    const runId = notification.outcome.run.id;
    const fields = { channel: channel.name, target: channel.target, runId, kind: notification.kind };
    const deadline = Date.now() + settings.timeoutMs;
    // A timer of our own rather than AbortSignal.timeout: that one is unref'd, and a send must
    // end at its deadline even if nothing else keeps the event loop busy (so flush always settles).
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException('notification timed out', 'TimeoutError')), settings.timeoutMs);
    try {
      await attempts(channel, notification, fields, deadline, controller.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  async function attempts(
    channel: Channel,
    notification: Notification,
    fields: Record<string, unknown>,
    deadline: number,
    signal: AbortSignal,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await channel.send(notification, signal);
        logger.debug({ ...fields, attempt }, 'notification sent');
        return;
      } catch (error) {
        const canRetry = attempt === 1 && isRetryable(error, signal) && deadline - Date.now() > retryDelayMs;
        if (canRetry) {
          logger.debug({ ...fields, attempt, err: describeError(error, signal, settings.timeoutMs, redact) }, 'notification attempt failed; retrying');
          const waited = await sleep(retryDelayMs, true, { signal }).catch(() => false);
          if (waited) continue;
        }
        logger.warn({ ...fields, attempt, err: describeError(error, signal, settings.timeoutMs, redact) }, 'notification failed');
        return;
      }
    }
  }

  /** One background send per channel (see the header); never throws. */
  function dispatch(notification: Notification): void {
    for (const channel of channels) {
      if (inFlight.size >= maxInFlight) {
        logger.warn({ channel: channel.name, runId: notification.outcome.run.id, inFlight: inFlight.size }, 'notification dropped: too many in flight');
        continue;
      }
      // The slot is taken now, the work starts on a later turn of the event loop: even
      // building the request is off the caller's path (Node's first fetch loads undici
      // synchronously, which takes tens of milliseconds). deliver logs its own failures; the
      // catch only guards against a logger that throws, since an unhandled rejection would
      // take the whole server down.
      const send: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => deliver(channel, notification))
        .catch(() => undefined)
        .finally(() => inFlight.delete(send));
      inFlight.add(send);
    }
  }

  return {
    send(notification) {
      try {
        dispatch(notification);
      } catch (error) {
        try {
          logger.warn({ err: describeError(error, undefined, settings.timeoutMs, redact) }, 'notification failed');
        } catch {
          // Nothing left to do without a logger.
        }
      }
    },
    runFinished(outcome) {
      try {
        const notification = buildNotification(outcome, { onSuccess: settings.onSuccess });
        if (!notification) {
          logger.debug({ runId: outcome.run.id }, 'nothing to notify');
          return;
        }
        dispatch(notification);
      } catch (error) {
        // A malformed outcome is a bug in the caller; it still must not break the run that reported it.
        try {
          logger.warn({ runId: outcome?.run?.id, err: describeError(error, undefined, settings.timeoutMs, redact) }, 'notification failed');
        } catch {
          // Nothing left to do without a logger.
        }
      }
    },
    async flush() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}

/** Network errors, 5xx and 429 may pass on a second try; other 4xx and our own deadline will not. */
function isRetryable(error: unknown, signal: AbortSignal): boolean {
  if (signal.aborted) return false;
  if (error instanceof ChannelHttpError) return error.status >= 500 || error.status === 429;
  return true;
}

/**
 * A small, serialisable description for the log. fetch reports "fetch failed" and hides the
 * reason (ECONNREFUSED, ENOTFOUND) in `cause`, so the cause is spelled out.
 */
function describeError(
  error: unknown,
  signal: AbortSignal | undefined,
  timeoutMs: number,
  redact: (text: string) => string,
): { type: string; message: string; status?: number; code?: string } {
  if (signal?.aborted) return { type: 'TimeoutError', message: `no answer within ${timeoutMs / 1000} s` };
  if (error instanceof ChannelHttpError) return { type: error.name, message: redact(error.message), status: error.status };
  if (error instanceof Error) {
    const cause = error.cause as { message?: unknown; code?: unknown } | undefined;
    const causeMessage = typeof cause?.message === 'string' ? `: ${cause.message}` : '';
    const code = typeof cause?.code === 'string' ? cause.code : undefined;
    return { type: error.name, message: redact(`${error.message}${causeMessage}`), ...(code ? { code } : {}) };
  }
  return { type: typeof error, message: redact(String(error)) };
}

/** Every configured value that must never reach a log: tokens, secrets, and URLs with their parts. */
function secretValues(settings: NotifySettings): string[] {
  const values: string[] = [];
  const addUrl = (raw: string) => {
    values.push(raw);
    try {
      const url = new URL(raw);
      values.push(url.href, url.pathname, decodeURIComponent(url.password), url.password);
    } catch {
      // Settings only pass parseable URLs; nothing more to add.
    }
  };
  if (settings.ntfy) {
    addUrl(settings.ntfy.url);
    if (settings.ntfy.token) values.push(settings.ntfy.token);
  }
  if (settings.slack) addUrl(settings.slack.url);
  if (settings.webhook) {
    addUrl(settings.webhook.url);
    if (settings.webhook.secret) values.push(settings.webhook.secret);
  }
  return values.filter((v) => v !== '' && v !== '/');
}
