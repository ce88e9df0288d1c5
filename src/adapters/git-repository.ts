import { existsSync, realpathSync } from 'node:fs';
import { mkdir, rm, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { AppError, isAppError } from '../errors.js';
import type { Repository } from '../ports/repository.js';
import type { ProcessResult, ProcessRunner } from './process-runner.js';

const DEFAULT_TIMEOUT_MS = 120_000;
const STDERR_TAIL = 600;

/**
 * The branch to sync to: `ref` is a full ref name (unambiguous), `remote` the remote to fetch,
 * `remoteRef` the branch's name on that remote (what `git ls-remote` asks for).
 */
interface Upstream {
  ref: string;
  display: string;
  remote: string;
  remoteRef: string;
}

/** Removes `user:password@` from URLs so error messages and logs never carry credentials. */
export function redactUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@'"]+@/gi, '$1');
}

function stderrTail(error: unknown): string {
  const details = isAppError(error) ? error.details : undefined;
  const stderr = typeof details?.['stderr'] === 'string' ? details['stderr'] : error instanceof Error ? error.message : String(error);
  const tail = stderr.trim().slice(-STDERR_TAIL).replace(/\s*\n\s*/g, ' ');
  return redactUrlCredentials(tail);
}

/**
 * The environment repository, driven through the git CLI. Every call passes
 * `safe.directory` (checkouts mounted from the host often belong to another user, and git
 * refuses those) and disables credential prompts (a prompt would hang the server).
 */
export function createGitRepository(options: { path: string; run: ProcessRunner; timeoutMs?: number }): Repository {
  const path = resolve(options.path);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  // git compares safe.directory with the resolved path on some versions: pass both spellings.
  const safeDirectories = (): string[] => {
    const dirs = [path];
    try {
      const real = realpathSync(path);
      if (real !== path) dirs.push(real);
    } catch {
      // A missing path fails in the first git call with REPOSITORY_INVALID.
    }
    return dirs.flatMap((dir) => ['-c', `safe.directory=${dir}`]);
  };

  const git = (args: string[], onOutput?: (chunk: string) => void, env: Record<string, string> = {}, signal?: AbortSignal): Promise<ProcessResult> =>
    options.run({
      command: 'git',
      ...(onOutput ? { onOutput } : {}),
      ...(signal ? { signal } : {}),
      // --literal-pathspecs: a services directory named `*` must not become a glob.
      args: [...safeDirectories(), '--literal-pathspecs', '-C', path, ...args],
      env: { GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0', ...env },
      timeoutMs,
    });

  /** NUL-separated output of a git command, every chunk kept (the runner keeps only the tail). */
  async function listZ(args: string[], what: string): Promise<string[]> {
    const chunks: string[] = [];
    let result: ProcessResult;
    try {
      result = await git(args, (chunk) => chunks.push(chunk));
    } catch (error) {
      if (isAppError(error) && error.code === 'COMMAND_NOT_FOUND') throw error;
      throw invalid(`${what} failed (${stderrTail(error)})`);
    }
    const listing = result.stderr === '' ? chunks.join('') : result.stdout;
    return listing.split('\0').filter((file) => file !== '');
  }

  const normalisePathspec = (dir: string): string => {
    const pathspec = dir.replace(/\\/g, '/').replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    return pathspec === '' ? '.' : pathspec;
  };

  const invalid = (why: string, cause?: unknown) =>
    new AppError('REPOSITORY_INVALID', `The environment repository at ${path} is not usable: ${why}`, {
      details: { path },
      ...(cause === undefined ? {} : { cause }),
    });

  /** Fails with REPOSITORY_INVALID unless `path` is the root of a git work tree. */
  async function ensureRepository(): Promise<void> {
    let toplevel: string;
    try {
      toplevel = (await git(['rev-parse', '--show-toplevel'])).stdout.trim();
    } catch (error) {
      if (isAppError(error) && error.code === 'COMMAND_NOT_FOUND') throw error;
      throw invalid(`not a git work tree (${stderrTail(error)})`);
    }
    let real = path;
    try {
      real = realpathSync(path);
    } catch {
      // git found a work tree, so the path exists; keep the unresolved spelling.
    }
    if (resolve(toplevel) !== real) throw invalid(`it lies inside the repository at ${toplevel} but is not its root`);
  }

  let trackedBranchPromise: Promise<string> | undefined;

  /** The current branch's upstream, or `origin/<branch>` when none is configured. */
  async function resolveUpstream(): Promise<Upstream> {
    await ensureRepository();
    const branch = (await git(['rev-parse', '--abbrev-ref', 'HEAD']).catch((error: unknown) => {
      throw invalid(`HEAD cannot be read (${stderrTail(error)})`);
    })).stdout.trim();
    if (branch === 'HEAD') throw invalid('HEAD is detached; check out the branch to deploy from');
    try {
      const ref = (await git(['rev-parse', '--symbolic-full-name', '@{u}'])).stdout.trim();
      const display = (await git(['rev-parse', '--abbrev-ref', '--symbolic-full-name', '@{u}'])).stdout.trim();
      const remote = (await git(['config', '--get', `branch.${branch}.remote`])).stdout.trim();
      const remoteRef = (await git(['config', '--get', `branch.${branch}.merge`])).stdout.trim();
      if (ref !== '' && remote !== '' && remoteRef !== '') return { ref, display, remote, remoteRef };
    } catch {
      // No upstream configured: fall through to the origin convention.
    }
    return { ref: `refs/remotes/origin/${branch}`, display: `origin/${branch}`, remote: 'origin', remoteRef: `refs/heads/${branch}` };
  }

  // Only the fetch reaches the network (and may hang): it alone is stopped at shutdown.
  async function fetch(upstream: Upstream, signal?: AbortSignal): Promise<void> {
    try {
      await git(['fetch', '--prune', '--quiet', '--', upstream.remote], undefined, {}, signal);
    } catch (error) {
      if (isAppError(error) && error.code === 'COMMAND_NOT_FOUND') throw error;
      const why = isAppError(error) && error.code === 'PROCESS_TIMEOUT' ? `timed out after ${timeoutMs} ms` : stderrTail(error);
      throw new AppError('SYNC_FAILED', `git fetch from remote '${upstream.remote}' failed: ${why}`, {
        details: { path, remote: upstream.remote, stderr: why },
      });
    }
  }

  async function revParse(ref: string, failure: (why: string) => AppError): Promise<string> {
    try {
      return (await git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])).stdout.trim();
    } catch (error) {
      throw failure(stderrTail(error) || `${ref} does not exist`);
    }
  }

  const syncFailed = (upstream: Upstream) => (why: string) =>
    new AppError('SYNC_FAILED', `The remote branch ${upstream.display} cannot be resolved after fetching: ${why}`, {
      details: { path, upstream: upstream.display },
    });

  return {
    async sync(signal) {
      const upstream = await resolveUpstream();
      await fetch(upstream, signal);
      const target = await revParse(upstream.ref, syncFailed(upstream));
      try {
        // Never `git clean`: untracked and ignored files (secrets, container data) must survive.
        await git(['reset', '--hard', '--quiet', target]);
      } catch (error) {
        throw new AppError('SYNC_FAILED', `git reset --hard ${upstream.display} failed: ${stderrTail(error)}`, {
          details: { path, upstream: upstream.display },
        });
      }
      return { commit: await revParse('HEAD', (why) => invalid(`HEAD cannot be read after reset (${why})`)) };
    },

    async head() {
      await ensureRepository();
      return revParse('HEAD', (why) => invalid(`HEAD cannot be read (${why})`));
    },


    async trackedRemoval(from, to, dir) {
      for (const commit of [from, to]) if (!/^[0-9a-f]{40,64}$/.test(commit)) throw invalid(`${commit} is not a commit id`);
      // ls-tree of both commits, not the working tree: a checkout that lost the directory
      // (deleted by hand, unreadable) is not a removal in git. One path is enough to tell.
      const tracked = async (commit: string) =>
        (await listZ(['ls-tree', '-r', '--name-only', '-z', `${commit}^{tree}`, '--', normalisePathspec(dir)], `git ls-tree ${commit}`)).length > 0;
      return (await tracked(from)) && !(await tracked(to));
    },

    listTrackedFiles(dir) {
      return listZ(['ls-files', '-z', '--', normalisePathspec(dir)], 'git ls-files');
    },

    trackedBranch() {
      // The upstream rarely changes under a running server; webhooks ask on every push.
      trackedBranchPromise ??= resolveUpstream().then((upstream) => upstream.remoteRef.replace(/^refs\/heads\//, ''));
      trackedBranchPromise.catch(() => (trackedBranchPromise = undefined));
      return trackedBranchPromise;
    },

    async remoteHead(signal) {
      const upstream = await resolveUpstream();
      let listing: string;
      try {
        // --exit-code: a branch missing on the remote is an error, not an empty answer.
        listing = (await git(['ls-remote', '--exit-code', '--', upstream.remote, upstream.remoteRef], undefined, {}, signal)).stdout;
      } catch (error) {
        if (isAppError(error) && error.code === 'COMMAND_NOT_FOUND') throw error;
        const why = isAppError(error) && error.code === 'PROCESS_TIMEOUT' ? `timed out after ${timeoutMs} ms` : stderrTail(error) || `${upstream.remoteRef} does not exist there`;
        throw new AppError('SYNC_FAILED', `git ls-remote of ${upstream.remoteRef} on remote '${upstream.remote}' failed: ${why}`, {
          details: { path, remote: upstream.remote, stderr: why },
        });
      }
      // Exactly the ref asked for (a pattern could also match refs/heads/x/<branch>).
      const line = listing.split('\n').find((entry) => entry.split('\t')[1] === upstream.remoteRef);
      const commit = line?.split('\t')[0] ?? '';
      if (!/^[0-9a-f]{40,64}$/.test(commit)) {
        throw new AppError('SYNC_FAILED', `git ls-remote of ${upstream.remoteRef} on remote '${upstream.remote}' gave no commit`, { details: { path, remote: upstream.remote } });
      }
      return commit;
    },

    async fetchUpstream(signal) {
      const upstream = await resolveUpstream();
      await fetch(upstream, signal);
      return { commit: await revParse(upstream.ref, syncFailed(upstream)) };
    },

    async materialize(commit, dir) {
      if (!/^[0-9a-f]{40,64}$/.test(commit)) throw invalid(`${commit} is not a commit id`);
      // A private index: the checkout's own index, HEAD and refs stay as they are.
      const env = { GIT_INDEX_FILE: join(dir, '.git-preview-index') };
      try {
        await git(['read-tree', commit], undefined, env);
        await git([`--work-tree=${dir}`, 'checkout-index', '--all', '--force'], undefined, env);
      } catch (error) {
        if (isAppError(error) && error.code === 'COMMAND_NOT_FOUND') throw error;
        throw invalid(`the tree of ${commit} cannot be written out (${stderrTail(error)})`);
      }
      await rm(env.GIT_INDEX_FILE, { force: true });
      // Untracked and ignored files (secrets, data) live only in the checkout: link them in, so
      // env files outside the services directory hash the same as they would after a sync.
      for (const entry of await listZ(['ls-files', '--others', '--directory', '-z'], 'git ls-files --others')) {
        const relative = entry.replace(/\/+$/, '');
        const target = join(dir, relative);
        if (existsSync(target)) continue;
        await mkdir(dirname(target), { recursive: true });
        await symlink(join(path, relative), target);
      }
      return {
        listTrackedFiles: (subdir: string) => listZ(['ls-tree', '-r', '--name-only', '-z', commit, '--', normalisePathspec(subdir)], 'git ls-tree'),
      };
    },
  };
}

