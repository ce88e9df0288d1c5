import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRedactor, isSecretKey, lineBufferedSink, maskSecretAssignments } from './redact.js';

test('secret values are replaced wherever they occur, longest first', () => {
  const redact = createRedactor(['s3cr3t-value', 's3cr3t-value-long']);
  assert.equal(redact('podman run -e A=s3cr3t-value-long -e B=s3cr3t-value -e N=30'), 'podman run -e A=*** -e B=*** -e N=30');
});

test('no values means output passes unchanged', () => {
  assert.equal(createRedactor([])('anything'), 'anything');
  assert.equal(createRedactor(['', '  '])('anything  at all'), 'anything  at all');
});

test('a short secret has no minimum length but is masked only as a whole token', () => {
  const redact = createRedactor(['abc', '30', 'x']);
  assert.equal(redact('-e API_TOKEN=abc -e PIN=30 -e X=x'), '-e API_TOKEN=*** -e PIN=*** -e X=***');
  assert.equal(redact("'abc' \"abc\" abc, (abc) user:abc@host abc\n"), "'***' \"***\" ***, (***) user:***@host ***\n");
  // Inside a longer word, a path, a file name or a number it is left alone: output stays readable.
  const readable = 'abcd xabc /srv/abc/data abc.txt abc-def my_abc 300 30s 1.30 container exit 0 max';
  assert.equal(redact(readable), readable);
});

test('a secret of four characters or more is masked inside other text too', () => {
  assert.equal(createRedactor(['hunter2'])('url=postgres://app:hunter2@db/x pass=hunter22'), 'url=postgres://app:***@db/x pass=***2');
});

test('multi-line values: the whole value, each line and the escaped spelling are masked', () => {
  const key = '-----BEGIN KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQEF\n-----END KEY-----';
  const redact = createRedactor([key]);
  assert.equal(redact(`whole:\n${key}\n`), 'whole:\n***\n');
  assert.equal(redact('log: MIIEvQIBADANBg\nlog: kqhkiG9w0BAQEF\n'), 'log: ***\nlog: ***\n');
  assert.equal(redact(`json: ${JSON.stringify(key)}`), 'json: "***"');
  // A JSON key file's braces are not secrets of their own.
  assert.equal(createRedactor(['{\n  "private_key": "k3y-material"\n}'])('{ } "private_key": "k3y-material"'), '{ } ***');
  // Windows line ends and indented lines.
  assert.equal(createRedactor(['line-one\r\n  line-two'])('a line-one b line-two'), 'a *** b ***');
});

test('masks never land inside masks and regex characters are literal', () => {
  const redact = createRedactor(['a+b*c', '***', '(x)']);
  assert.equal(redact('1 a+b*c 2 (x) 3 aab'), '1 *** 2 *** 3 aab');
});

test('keys that look secret, case-insensitively; ordinary keys do not', () => {
  for (const key of ['DB_PASSWORD', 'POSTGRES_PASS', 'passwd', 'API_TOKEN', 'client_secret', 'SECRET_KEY', 'GHCR_CRED', 'AUTH_HEADER', 'PRIVATE_KEY', 'api-key', 'JWT_SALT', 'SENTRY_DSN', 'DB_PWD']) {
    assert.ok(isSecretKey(key), key);
  }
  for (const key of ['POSTGRES_DB', 'DATA_DIR', 'PROJECT', 'TZ', 'PORT', 'IMAGE_TAG', 'WORKERS', 'HOST_PORT']) assert.ok(!isSecretKey(key), key);
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

test('secret assignments in quoted file text are masked; other lines are kept', () => {
  const quoted = 'at line 5, column 1:\n\n      DB_PASSWORD: hunter2\n      - API_TOKEN=abc\n      "client_secret": x y\n      POSTGRES_DB: postgres\n     bad: [\n^\n';
  assert.equal(
    maskSecretAssignments(quoted),
    'at line 5, column 1:\n\n      DB_PASSWORD: ***\n      - API_TOKEN=***\n      "client_secret": ***\n      POSTGRES_DB: postgres\n     bad: [\n^\n',
  );
});
