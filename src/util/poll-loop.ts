/** A cancellable timer, passed in so a test decides when a poll happens. */
export type SetTimer = (callback: () => void, ms: number) => { cancel(): void };

const JITTER = 0.1;

const realTimer: SetTimer = (callback, ms) => {
  const timer = setTimeout(callback, ms);
  timer.unref();
  return { cancel: () => clearTimeout(timer) };
};

/**
 * Runs `poll` every interval ±10 % (so many servers polling one forge or registry spread out),
 * one poll at a time, the first after one interval, until `stop`. Shared by the pollers.
 */
export function createPollLoop(options: {
  intervalMs: number;
  poll: () => Promise<unknown>;
  /** Called by `stop`, after the timer is cancelled (abort a poll under way). */
  onStop?: () => void;
  /** 0 to 1. */
  random?: () => number;
  setTimer?: SetTimer;
}): { start(): void; stop(): void } {
  const random = options.random ?? Math.random;
  const setTimer = options.setTimer ?? realTimer;
  let timer: { cancel(): void } | undefined;
  let running = false;
  const schedule = () => {
    timer = setTimer(() => {
      void options.poll().finally(() => {
        if (running) schedule();
      });
    }, options.intervalMs * (1 - JITTER + 2 * JITTER * random()));
  };
  return {
    start() {
      if (running) return;
      running = true;
      schedule();
    },
    stop() {
      running = false;
      timer?.cancel();
      timer = undefined;
      options.onStop?.();
    },
  };
}
