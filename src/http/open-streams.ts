/**
 * The event streams (SSE) that are open now. Shutdown ends them all before it waits for runs: a
 * stream would otherwise hold its connection open and keep the HTTP server from closing.
 */
export class OpenStreams {
  private readonly closers = new Set<() => void>();

  /** Registers a stream's close function; returns the function that unregisters it. */
  add(close: () => void): () => void {
    this.closers.add(close);
    return () => this.closers.delete(close);
  }

  /** Ends every open stream (clients reconnect to the next instance with Last-Event-ID). */
  endAll(): void {
    for (const close of [...this.closers]) close();
  }

  get size(): number {
    return this.closers.size;
  }
}
