import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RunEventBus } from '../deploy/run-events.js';
import type { RunEventRecord, RunRecord, Store } from '../ports/store.js';
import type { OpenStreams } from './open-streams.js';

const REPLAY_PAGE = 1_000;

export interface EventStreamDeps {
  store: Pick<Store, 'listRunEvents' | 'getRun'>;
  events: Pick<RunEventBus, 'subscribe'>;
  heartbeatMs: number;
  /** Where the stream registers itself, so shutdown can end it. */
  streams?: OpenStreams;
  /** How often the store is read for events another process wrote (a self-update helper). */
  pollMs?: number;
}

const finished = (run: RunRecord | undefined) => run?.status === 'succeeded' || run?.status === 'failed';

/**
 * Streams one run's events as Server-Sent Events: the stored ones after `afterId`, then live
 * ones, ending with `end`. Subscribing and replaying happen in one synchronous block (the store
 * and the bus are synchronous), so no event can fall between the replay and the live stream.
 */
export function streamRunEvents(request: FastifyRequest, reply: FastifyReply, runId: string, afterId: number, deps: EventStreamDeps): void {
  reply.hijack();
  const response = reply.raw;
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx buffers responses unless told not to; a buffered stream is not live.
    'x-accel-buffering': 'no',
  });
  response.write('retry: 2000\n\n');

  let last = afterId;
  let closed = false;
  let unsubscribe = () => {};
  let unregister = () => {};
  const heartbeat = setInterval(() => response.write(': ping\n\n'), deps.heartbeatMs);
  heartbeat.unref();
  const replay = () => {
    for (;;) {
      const page = deps.store.listRunEvents(runId, last, REPLAY_PAGE);
      for (const event of page) send(event);
      if (page.length < REPLAY_PAGE || closed) break;
    }
  };
  // Events written by another process (the helper of a self-update) reach no listener here.
  const poll = setInterval(replay, deps.pollMs ?? 1_000);
  poll.unref();
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    clearInterval(poll);
    unsubscribe();
    unregister();
    response.end();
  };
  const send = (event: RunEventRecord) => {
    if (closed || event.id <= last) return;
    last = event.id;
    response.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`);
    if (event.type === 'end') close();
  };

  request.raw.on('close', close);
  if (deps.streams) unregister = deps.streams.add(close);
  unsubscribe = deps.events.subscribe(runId, send);
  replay();
  // A run finished without an `end` event (recorded before events existed, or failed by start-up
  // recovery): end the stream anyway, so clients do not wait forever.
  const run = deps.store.getRun(runId);
  if (!closed && finished(run)) {
    response.write(`event: end\ndata: ${JSON.stringify({ runId, status: run!.status })}\n\n`);
    close();
  }
}
