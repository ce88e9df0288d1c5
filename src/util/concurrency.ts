/** Small promise-based locks; no timers, no polling. */

/** Limits how many holders run at once (the deployment parallelism). */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/** One holder per key at a time (one action per service at a time). */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => current);
    this.tails.set(key, tail);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/**
 * Many readers or one writer, writers first: a repository sync (writer) waits for running
 * compose actions (readers) and new readers wait for a queued sync, so no action reads a
 * half-reset tree and a sync is never starved.
 */
export class ReadWriteLock {
  private readers = 0;
  private writing = false;
  private readonly writers: Array<() => void> = [];
  private readonly readersWaiting: Array<() => void> = [];

  async read<T>(work: () => Promise<T>): Promise<T> {
    if (this.writing || this.writers.length > 0) await new Promise<void>((resolve) => this.readersWaiting.push(resolve));
    else this.readers++;
    try {
      return await work();
    } finally {
      this.readers--;
      this.wake();
    }
  }

  /**
   * Runs `work` as a reader only if that needs no waiting (no writer holds or awaits the lock);
   * otherwise returns undefined at once. Views use it: they must never wait behind a sync.
   */
  async tryRead<T>(work: () => Promise<T>): Promise<T | undefined> {
    if (this.writing || this.writers.length > 0) return undefined;
    this.readers++;
    try {
      return await work();
    } finally {
      this.readers--;
      this.wake();
    }
  }

  async write<T>(work: () => Promise<T>): Promise<T> {
    if (this.writing || this.readers > 0) await new Promise<void>((resolve) => this.writers.push(resolve));
    else this.writing = true;
    try {
      return await work();
    } finally {
      this.writing = false;
      this.wake();
    }
  }

  private wake(): void {
    if (this.writing || this.readers > 0) return;
    const writer = this.writers.shift();
    if (writer) {
      this.writing = true;
      writer();
      return;
    }
    while (this.readersWaiting.length > 0) {
      this.readers++;
      this.readersWaiting.shift()!();
    }
  }
}
