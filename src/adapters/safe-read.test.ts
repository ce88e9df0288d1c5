import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readInputFile, streamInputFile } from './safe-read.js';

// A regression here hangs (FIFO) or eats memory (/dev/zero): the timeout makes it fail visibly.
const QUICK = { timeout: 5_000 };

describe('readInputFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'safe-read-test-'));
  const servers: Server[] = [];
  after(() => {
    servers.forEach((server) => server.close());
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads a regular file, also through a symlink', QUICK, async () => {
    writeFileSync(join(dir, 'plain'), 'A=1\n');
    symlinkSync(join(dir, 'plain'), join(dir, 'linked'));
    for (const name of ['plain', 'linked']) {
      const read = await readInputFile(join(dir, name));
      assert.equal(read.kind === 'ok' && read.value.toString(), 'A=1\n');
    }
  });

  it('reports a missing file, and a dangling symlink, as missing', QUICK, async () => {
    symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));
    assert.deepEqual(await readInputFile(join(dir, 'absent')), { kind: 'missing' });
    assert.deepEqual(await readInputFile(join(dir, 'dangling')), { kind: 'missing' });
  });

  it('refuses a symlink to a FIFO at once instead of blocking in open()', QUICK, async () => {
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    symlinkSync(join(dir, 'fifo'), join(dir, 'to-fifo'));
    assert.deepEqual(await readInputFile(join(dir, 'to-fifo')), { kind: 'invalid', reason: 'is a FIFO' });
  });

  it('refuses a symlink to /dev/zero instead of reading it until memory runs out', QUICK, async () => {
    symlinkSync('/dev/zero', join(dir, 'to-zero'));
    assert.deepEqual(await readInputFile(join(dir, 'to-zero')), { kind: 'invalid', reason: 'is a character device' });
    let bytes = 0;
    const streamed = await streamInputFile(join(dir, 'to-zero'), (chunk) => (bytes += chunk.length));
    assert.equal(streamed.kind, 'invalid');
    assert.equal(bytes, 0);
  });

  it('refuses a directory and a unix socket', QUICK, async () => {
    assert.deepEqual(await readInputFile(dir), { kind: 'invalid', reason: 'is a directory' });
    const socket = join(dir, 'sock');
    const server = createServer();
    servers.push(server);
    await new Promise<void>((done) => server.listen(socket, done));
    assert.deepEqual(await readInputFile(socket), { kind: 'invalid', reason: 'is a socket' });
  });

  it('refuses a file over the cap, and accepts one exactly at it', QUICK, async () => {
    writeFileSync(join(dir, 'big'), Buffer.alloc(3 * 1024 * 1024 + 1, 'x'));
    assert.deepEqual(await readInputFile(join(dir, 'big'), { limit: 3 * 1024 * 1024 }), { kind: 'invalid', reason: 'is larger than 3 MiB' });
    assert.deepEqual(await readInputFile(join(dir, 'big'), { limit: 1000 }), { kind: 'invalid', reason: 'is larger than 1000 bytes' });
    const exact = await readInputFile(join(dir, 'big'), { limit: 3 * 1024 * 1024 + 1 });
    assert.equal(exact.kind === 'ok' && exact.value.length, 3 * 1024 * 1024 + 1);
  });

  it('streams a large file in chunks with the same bytes', QUICK, async () => {
    const content = Buffer.alloc(2 * 1024 * 1024 + 17);
    for (let i = 0; i < content.length; i++) content[i] = i % 251;
    writeFileSync(join(dir, 'large'), content);
    const chunks: Buffer[] = [];
    const streamed = await streamInputFile(join(dir, 'large'), (chunk) => chunks.push(Buffer.from(chunk)));
    assert.equal(streamed.kind, 'ok');
    assert.ok(chunks.length > 1);
    assert.ok(Buffer.concat(chunks).equals(content));
    const read = await readInputFile(join(dir, 'large'));
    assert.ok(read.kind === 'ok' && read.value.equals(content));
  });
});
