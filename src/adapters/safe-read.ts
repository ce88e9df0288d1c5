import { constants, close, fstat, open, read, stat, type Stats } from 'node:fs';
import { promisify } from 'node:util';

/**
 * The one way the server reads a file of the environment repository (compose files, env files,
 * tracked and mounted files). A plain read would trust the path: a symlink to a FIFO blocks a
 * libuv thread for ever in `open()`, one to `/dev/zero` reads until memory runs out, and both
 * happen while the repository lock is held. So: open non-blocking (a FIFO opens at once),
 * `fstat` the descriptor (symlinks followed: secrets may be linked in), accept only a regular
 * file within a size cap, never read more than cap+1 bytes (a file that grows fails too), and
 * always close the descriptor.
 */

/** Default cap on one input file. Larger inputs are refused rather than hashed for minutes. */
export const DEFAULT_INPUT_FILE_LIMIT = 64 * 1024 * 1024;

/** What reading an input file came to. `invalid.reason` completes "<file> ...": "is a FIFO". */
export type InputRead<T> = { kind: 'ok'; value: T } | { kind: 'missing' } | { kind: 'invalid'; reason: string };

const openAsync = promisify(open);
const fstatAsync = promisify(fstat);
const statAsync = promisify(stat);
const closeAsync = promisify(close);
const readAsync = (fd: number, buffer: Buffer, position: number) =>
  new Promise<number>((done, fail) => read(fd, buffer, 0, buffer.length, position, (error, bytes) => (error ? fail(error) : done(bytes))));

const CHUNK = 1024 * 1024;

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** "is a FIFO", "is a directory", ...: what a path is when it is not a regular file. */
export function describeKind(info: Stats): string {
  if (info.isFIFO()) return 'is a FIFO';
  if (info.isCharacterDevice()) return 'is a character device';
  if (info.isBlockDevice()) return 'is a block device';
  if (info.isSocket()) return 'is a socket';
  if (info.isDirectory()) return 'is a directory';
  return 'is not a regular file';
}

function describeLimit(limit: number): string {
  const mib = 1024 * 1024;
  return limit >= mib && limit % mib === 0 ? `${limit / mib} MiB` : `${limit} bytes`;
}

/**
 * Opens `path` as an input file and passes each chunk of its bytes to `consume`. Errors other
 * than "missing" and "not a regular file / too large" are thrown (permission denied, I/O).
 */
async function readChunks(path: string, limit: number, consume: (chunk: Buffer) => void): Promise<InputRead<void>> {
  let fd: number;
  try {
    fd = await openAsync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if (isMissing(error)) return { kind: 'missing' };
    // A socket cannot be opened at all (ENXIO): say what it is rather than how open() failed.
    if ((error as NodeJS.ErrnoException).code === 'ENXIO') {
      const info = await statAsync(path).catch(() => undefined);
      return { kind: 'invalid', reason: info ? describeKind(info) : 'cannot be opened as a file' };
    }
    throw error;
  }
  try {
    const info = await fstatAsync(fd);
    if (!info.isFile()) return { kind: 'invalid', reason: describeKind(info) };
    const tooLarge = { kind: 'invalid', reason: `is larger than ${describeLimit(limit)}` } as const;
    if (info.size > limit) return tooLarge;
    // One read for a small file (size+1 to see it end); chunks for larger ones.
    const buffer = Buffer.allocUnsafe(Math.min(info.size + 1, CHUNK, limit + 1));
    let total = 0;
    for (;;) {
      const bytes = await readAsync(fd, buffer, total);
      if (bytes === 0) return { kind: 'ok', value: undefined };
      total += bytes;
      if (total > limit) return tooLarge;
      consume(buffer.subarray(0, bytes));
      // A short read that brought exactly the size fstat gave is the end: saves one read per file.
      if (total === info.size && bytes < buffer.length) return { kind: 'ok', value: undefined };
    }
  } finally {
    await closeAsync(fd).catch(() => undefined);
  }
}

/** The bytes of an input file. */
export async function readInputFile(path: string, options: { limit?: number } = {}): Promise<InputRead<Buffer>> {
  const chunks: Buffer[] = [];
  // `consume` gets a view of a reused buffer: copy it.
  const result = await readChunks(path, options.limit ?? DEFAULT_INPUT_FILE_LIMIT, (chunk) => chunks.push(Buffer.from(chunk)));
  return result.kind === 'ok' ? { kind: 'ok', value: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) } : result;
}

/** Feeds an input file to `update` (a hash) without holding it whole in memory. */
export function streamInputFile(path: string, update: (chunk: Buffer) => void, options: { limit?: number } = {}): Promise<InputRead<void>> {
  return readChunks(path, options.limit ?? DEFAULT_INPUT_FILE_LIMIT, update);
}
