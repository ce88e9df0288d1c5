import { pino, type Logger } from 'pino';

/** The server's logger: JSON lines on stdout, signatures and bearer tokens redacted. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { app: 'gitops-deploy-server' },
    redact: { paths: ['req.headers["x-hub-signature-256"]', 'req.headers.authorization'], censor: '[redacted]' },
  });
}

/** Calls a throttle makes on the logger: the first event of a window, then one summary. */
export interface LogThrottle<Data extends Record<string, unknown>> {
  /** Records one event; logs it when it is the first since the last line, else only counts it. */
  hit(data: Data): void;
  /** Writes the summary of what was counted and not yet logged (at close). */
  flush(): void;
}

/**
 * Keeps a flood of one kind of event (bad webhook signatures) from becoming a flood of log
 * lines: the first event is logged as it comes, the ones in the next `windowMs` are only
 * counted, and one summary line with the count closes the window. An attacker sending bad
 * signatures then costs the log two lines per window, whatever the rate.
 */
export function createLogThrottle<Data extends Record<string, unknown>>(options: {
  log: (data: Record<string, unknown>, message: string) => void;
  message: string;
  windowMs: number;
}): LogThrottle<Data> {
  let suppressed = 0;
  let timer: NodeJS.Timeout | undefined;
  const summarize = () => {
    timer = undefined;
    if (suppressed === 0) return;
    const count = suppressed;
    suppressed = 0;
    options.log({ suppressed: count, windowSeconds: options.windowMs / 1000 }, `${options.message} (more of the same, not logged one by one)`);
    // A window with events opens the next: a steady flood gives one summary per window.
    timer = setTimeout(summarize, options.windowMs).unref();
  };
  return {
    hit(data) {
      if (timer !== undefined) {
        suppressed += 1;
        return;
      }
      options.log(data, options.message);
      timer = setTimeout(summarize, options.windowMs).unref();
    },
    flush() {
      if (timer !== undefined) clearTimeout(timer);
      summarize();
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
