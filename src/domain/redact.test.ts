import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRedactor, lineBufferedSink } from './redact.js';

test('secret values are replaced wherever they occur, longest first', () => {
  const redact = createRedactor(['s3cr3t-value', 's3cr3t-value-long', '30']);
  assert.equal(redact('podman run -e A=s3cr3t-value-long -e B=s3cr3t-value -e N=30'), 'podman run -e A=*** -e B=*** -e N=30');
});

test('no values means output passes unchanged', () => {
  assert.equal(createRedactor([])('anything'), 'anything');
});

test('a secret split across chunks is still redacted', () => {
  const out: string[] = [];
  const sink = lineBufferedSink((c) => out.push(c), createRedactor(['hunter2-password']));
  sink.write('-e PW=hunt');
  sink.write('er2-password\nnext ');
  sink.write('line hunter2-password');
  sink.flush();
  assert.equal(out.join(''), '-e PW=***\nnext line ***');
  assert.ok(!out.join('').includes('hunter2'));
});
