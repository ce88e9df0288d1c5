/** One dispatched Server-Sent Event. */
export interface SseEvent {
  /** The `id:` in effect when the event was dispatched (what a reconnect sends as Last-Event-ID). */
  id: string | undefined;
  /** The `event:` field, `message` when absent. */
  event: string;
  /** The `data:` lines joined with newlines. */
  data: string;
}

const LINE_BREAK = /\r\n|\r|\n/;

/**
 * Incremental parser of a `text/event-stream` body, following the WHATWG rules the CLI needs
 * (`event`, `data`, `id`, comments; `retry` is ignored: the client has its own back-off).
 * Feed it decoded text in any chunking; a line break split across chunks is handled.
 */
export class SseParser {
  private buffer = '';
  private dataLines: string[] = [];
  private eventType = '';
  /** The last `id:` seen, kept across events as the spec says. */
  lastEventId: string | undefined;

  /** Parses `text` and returns the events it completed. */
  push(text: string): SseEvent[] {
    this.buffer += text;
    const events: SseEvent[] = [];
    for (;;) {
      const match = LINE_BREAK.exec(this.buffer);
      if (!match) break;
      // A lone `\r` at the very end may be the first half of `\r\n`: wait for the next chunk.
      if (match[0] === '\r' && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = this.processLine(line);
      if (event) events.push(event);
    }
    return events;
  }

  private processLine(line: string): SseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined; // comment, e.g. the server's `: ping`
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.dataLines.push(value);
    else if (field === 'event') this.eventType = value;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    const dataLines = this.dataLines;
    const eventType = this.eventType;
    this.dataLines = [];
    this.eventType = '';
    if (dataLines.length === 0) return undefined;
    return { id: this.lastEventId, event: eventType === '' ? 'message' : eventType, data: dataLines.join('\n') };
  }
}
