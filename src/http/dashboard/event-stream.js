// A run's event stream: Server-Sent Events read with fetch + ReadableStream (EventSource cannot
// send Authorization), parsed incrementally, resumed with Last-Event-ID after every break.

import { AuthError, REQUEST_TIMEOUT_MS, handleAuthFailure, readError, session } from './api.js';
import { enc } from './format.js';

const STREAM_MIN_BACKOFF_MS = 1_000;
const STREAM_MAX_BACKOFF_MS = 10_000;
/** The server sends `: ping` every 15 s; a stream silent for longer is dead (half-open connection). */
const STREAM_IDLE_MS = 45_000;

/**
 * Incremental `text/event-stream` parser: feed it decoded text in chunks of any size; it calls
 * `onEvent({ id, event, data })` for each complete event (a blank line ends one). Comment lines
 * (`: ping`) are ignored; CR, LF and CRLF all end lines, also when split across chunks.
 */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = '';
    this.afterCR = false;
    this.reset();
  }

  reset() {
    this.type = '';
    this.data = [];
    this.id = undefined;
  }

  push(chunk) {
    let text = this.buffer + chunk;
    if (this.afterCR && text[0] === '\n') text = text.slice(1); // the LF of a CRLF split across chunks
    this.afterCR = false;
    let pos = 0;
    // The next CR is searched once and reused: searching per line would rescan a chunk without
    // any CR to its end for every line (quadratic in the chunk size).
    let cr = text.indexOf('\r');
    for (;;) {
      if (cr !== -1 && cr < pos) cr = text.indexOf('\r', pos);
      const lf = text.indexOf('\n', pos);
      let end;
      let next;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        next = cr + 1;
        if (next === text.length) this.afterCR = true;
        else if (text[next] === '\n') next++;
      } else if (lf !== -1) {
        end = lf;
        next = lf + 1;
      } else {
        break;
      }
      this.line(text.slice(pos, end));
      pos = next;
    }
    this.buffer = text.slice(pos);
  }

  line(line) {
    if (line === '') {
      if (this.data.length > 0 || this.type !== '') {
        this.onEvent({ id: this.id, event: this.type || 'message', data: this.data.join('\n') });
      }
      this.reset();
      return;
    }
    if (line[0] === ':') return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    // `retry` and unknown fields are ignored: the reconnection policy is ours.
  }
}

/**
 * Reads a run's event stream with fetch (EventSource cannot send Authorization), resuming after
 * the last event id it saw on every reconnect (`Last-Event-ID`), so no line is lost or doubled.
 * Reconnects with backoff (1 s doubling to 10 s) until the `end` event or stop().
 */
export class RunStream {
  constructor(runId, { onEvent, onState }) {
    this.runId = runId;
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastId = null;
    this.ended = false;
    this.stopped = false;
    this.backoff = STREAM_MIN_BACKOFF_MS;
    this.controller = null;
  }

  start() {
    void this.loop();
    return this;
  }

  stop() {
    this.stopped = true;
    this.controller?.abort();
    clearTimeout(this.sleepTimer);
    this.wake?.();
  }

  async loop() {
    let attempt = 0;
    while (!this.stopped && !this.ended) {
      this.onState(attempt === 0 ? 'connecting' : 'reconnecting');
      attempt++;
      try {
        const outcome = await this.connect();
        if (outcome === 'stop') return;
      } catch (error) {
        if (this.stopped) return;
        if (error instanceof AuthError) return;
        this.lastError = error;
      }
      if (this.stopped || this.ended) break;
      const delay = this.backoff;
      this.backoff = Math.min(this.backoff * 2, STREAM_MAX_BACKOFF_MS);
      this.onState('waiting', delay);
      await new Promise((resolve) => {
        this.wake = resolve;
        this.sleepTimer = setTimeout(resolve, delay);
      });
    }
    if (this.ended && !this.stopped) this.onState('finished');
  }

  /** One connection: returns when it closes ('stop' when reconnecting makes no sense). */
  async connect() {
    const controller = new AbortController();
    this.controller = controller;
    const generation = session.generation;
    const headers = { Authorization: `Bearer ${session.token}`, Accept: 'text/event-stream' };
    if (this.lastId !== null) headers['Last-Event-ID'] = String(this.lastId);
    const connectTimer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    let response;
    try {
      response = await fetch(`/api/runs/${enc(this.runId)}/events`, { headers, signal: controller.signal, cache: 'no-store' });
    } finally {
      clearTimeout(connectTimer);
    }
    if (!response.ok) {
      const { code, message } = await readError(response);
      handleAuthFailure(response.status, code, message, generation);
      if (response.status === 404 || response.status === 400) {
        this.onState('unavailable', 0, { code, message });
        return 'stop';
      }
      throw new Error(message);
    }
    this.onState('live');
    this.backoff = STREAM_MIN_BACKOFF_MS;
    const parser = new SseParser((event) => this.dispatch(event));
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let idle = setTimeout(() => controller.abort(), STREAM_IDLE_MS);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        clearTimeout(idle);
        idle = setTimeout(() => controller.abort(), STREAM_IDLE_MS);
        parser.push(value);
        if (this.ended) break;
      }
    } finally {
      clearTimeout(idle);
      if (this.ended) controller.abort(); // the server closes after `end`; do not wait for it
    }
    return 'closed';
  }

  dispatch({ id, event, data }) {
    if (this.stopped) return;
    if (id !== undefined && id !== '') {
      const n = Number(id);
      if (Number.isFinite(n)) {
        if (this.lastId !== null && n <= this.lastId) return; // replayed twice: already shown
        this.lastId = n;
      }
    }
    let payload = null;
    try {
      payload = data ? JSON.parse(data) : null;
    } catch {
      return;
    }
    if (event === 'end') this.ended = true;
    this.onEvent(event, payload);
  }
}
