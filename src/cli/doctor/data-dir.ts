import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config.js';
import { fail, pass, type CheckResult } from './check.js';

const WRITE_FIX = (dir: string) => `create it and give the server's user write access: mkdir -p ${dir} && chown <server user> ${dir}; or set DATA_DIR to a writable directory`;

/** DATA_DIR exists (or can be created) and is writable, and its SQLite file opens. */
export async function checkDataDir(config: Config): Promise<CheckResult[]> {
  const dir = config.dataDir;
  if (!existsSync(dir)) {
    const parent = nearestExisting(dir);
    try {
      if (!statSync(parent).isDirectory()) throw new Error(`${parent} is not a directory`);
      accessSync(parent, constants.W_OK | constants.X_OK);
    } catch (error) {
      return [fail('data-dir', `${dir} does not exist and cannot be created: ${(error as Error).message}`, WRITE_FIX(dir))];
    }
    return [pass('data-dir', `${dir} does not exist yet; the server creates it at start-up (${parent} is writable)`), pass('database', 'state.db is created with the data directory')];
  }
  if (!statSync(dir).isDirectory()) return [fail('data-dir', `${dir} is not a directory`, 'set DATA_DIR to a directory')];
  // A real write: permission bits say nothing for root, and nothing about a read-only mount.
  const probe = path.join(dir, `.doctor-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (error) {
    return [fail('data-dir', `${dir} is not writable: ${(error as Error).message}`, WRITE_FIX(dir))];
  }
  return [pass('data-dir', `${dir} exists and is writable`), await checkDatabase(path.join(dir, 'state.db'))];
}

/** Opens state.db read-only (the server may be running) and reads its schema version and size. */
async function checkDatabase(file: string): Promise<CheckResult> {
  if (!existsSync(file)) return pass('database', `${file} does not exist yet; the server creates it at start-up`);
  // Loaded here: only `doctor` needs the native module.
  const { default: Database } = await import('better-sqlite3');
  let db: InstanceType<typeof Database> | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: 5_000 });
    const check = db.pragma('quick_check', { simple: true }) as string;
    if (check !== 'ok') throw new Error(`integrity check: ${check}`);
    const version = db.pragma('user_version', { simple: true }) as number;
    const hasRuns = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").get() !== undefined;
    const runs = hasRuns ? (db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n : 0;
    return pass('database', `${file} opens (schema version ${version}, ${runs} run${runs === 1 ? '' : 's'} recorded)`);
  } catch (error) {
    return fail(
      'database',
      `${file} cannot be read: ${(error as Error).message}`,
      'if it is damaged or not a SQLite file: stop the server and move it aside (mv state.db state.db.broken); the server starts an empty history and redeploys every service once',
    );
  } finally {
    db?.close();
  }
}

function nearestExisting(dir: string): string {
  let current = path.dirname(dir);
  while (!existsSync(current) && path.dirname(current) !== current) current = path.dirname(current);
  return current;
}
