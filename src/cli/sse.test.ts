import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SseParser } from './sse.js';

describe('SseParser', () => {
  it('parses events with ids, types and data, skipping comments', () => {
    const parser = new SseParser();
    const events = parser.push('retry: 2000\n\n: ping\n\nid: 1\nevent: run\ndata: {"a":1}\n\nid: 2\nevent: end\ndata: {}\n\n');
    assert.deepEqual(events, [
      { id: '1', event: 'run', data: '{"a":1}' },
      { id: '2', event: 'end', data: '{}' },
    ]);
    assert.equal(parser.lastEventId, '2');
  });

  it('joins data lines, defaults the type to message and keeps the last id', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('id: 7\ndata: one\ndata:two\n\ndata: three\n\n'), [
      { id: '7', event: 'message', data: 'one\ntwo' },
      { id: '7', event: 'message', data: 'three' },
    ]);
  });

  it('handles any chunking and every line break (CRLF split across chunks, lone CR)', () => {
    const text = 'id: 1\r\nevent: output\r\ndata: {"line":"héllo"}\r\n\r\nid: 2\revent: end\rdata: {}\r\r\n';
    for (let size = 1; size <= 7; size++) {
      const parser = new SseParser();
      const events = [];
      for (let i = 0; i < text.length; i += size) events.push(...parser.push(text.slice(i, i + size)));
      assert.deepEqual(
        events,
        [
          { id: '1', event: 'output', data: '{"line":"héllo"}' },
          { id: '2', event: 'end', data: '{}' },
        ],
        `chunks of ${size}`,
      );
    }
  });

  it('does not dispatch an event the stream cut off before its blank line', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('id: 3\nevent: run\ndata: {"cut":'), []);
    assert.equal(parser.lastEventId, '3', 'the id is known, so a reconnect resumes after it');
  });
});
