import type { Logger } from 'pino';

/** The parts of the server that take part in shutdown, each with the one step it owns. */
export interface ShutdownParts {
  logger: Logger;
  /** How long running deployments get to finish before they are aborted. */
  graceMs: number;
  /** HTTP keeps listening while draining: webhooks are accepted and queued, actions answer 503. */
  http: { drain(): void; close(): Promise<void> };
  /** The run queue: starts nothing more (triggers still recorded); `idle` waits for running runs. */
  queue: { close(): void; idle(): Promise<void> };
  /** The pipeline: stops waiting for handoffs (their helpers end them), and aborts running commands. */
  pipeline: { shutdown(): void; abortRunning(): void };
  /** Open event streams (SSE). */
  streams: { endAll(): void };
  /** Timers and watchers, the notifications in flight, and last the store. */
  background: { stop(): void };
  notifier: { flush(): Promise<void> };
  store: { close(): void };
}

/**
 * The shutdown order, declared once:
 *   1. keep listening while draining: webhooks are verified, answered 202 and recorded as queued
 *      runs that the next instance carries out; API actions get 503 SERVER_STOPPING;
 *   2. pause the queue for good (waiting runs stay queued);
 *   3. end the event streams;
 *   4. let running deployments finish within the grace, then abort them through their signal so
 *      that they end `interrupted` (recorded by this process, never half-recorded);
 *   5. stop listening, flush notifications, close the store.
 */
export async function shutDown(parts: ShutdownParts): Promise<void> {
  const { logger } = parts;
  parts.http.drain();
  parts.queue.close();
  parts.pipeline.shutdown();
  parts.streams.endAll();
  const finished = parts.queue.idle().then(() => true);
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), parts.graceMs)));
  const inTime = await Promise.race([finished, graceOver]);
  clearTimeout(timer);
  if (!inTime) {
    logger.warn({ graceSeconds: parts.graceMs / 1000 }, 'shutdown grace over: aborting running deployments');
    parts.pipeline.abortRunning();
    await finished;
  }
  parts.background.stop();
  await parts.http.close();
  await parts.notifier.flush();
  parts.store.close();
  logger.info('stopped');
}
