import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { isAppError } from '../errors.js';
import { createGitRepository, redactUrlCredentials } from './git-repository.js';
import { createProcessRunner } from './process-runner.js';

const run = createProcessRunner({ baseEnv: process.env });
const identity = ['-c', 'user.name=Test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false'];

async function git(cwd: string, ...args: string[]): Promise<string> {
  return (await run({ command: 'git', args: [...identity, '-C', cwd, ...args] })).stdout.trim();
}

async function commitFile(cwd: string, file: string, content: string): Promise<string> {
  mkdirSync(join(cwd, file, '..'), { recursive: true });
  writeFileSync(join(cwd, file), content);
  await git(cwd, 'add', '--', file);
  await git(cwd, 'commit', '-q', '-m', `write ${file}`);
  return git(cwd, 'rev-parse', 'HEAD');
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isAppError(error), `expected an AppError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe('createGitRepository', () => {
  let root: string;
  let remote: string;
  let author: string;
  let checkout: string;

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'git-repository-test-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  // A bare remote, an author clone that pushes, and the server's checkout.
  beforeEach(async () => {
    const dir = mkdtempSync(join(root, 'case-'));
    remote = join(dir, 'remote.git');
    author = join(dir, 'author');
    checkout = join(dir, 'checkout');
    await git(dir, 'init', '-q', '--bare', '-b', 'main', remote);
    await git(dir, 'init', '-q', '-b', 'main', author);
    await git(author, 'remote', 'add', 'origin', remote);
    await commitFile(author, '.gitignore', 'secrets/\n');
    await commitFile(author, 'services/web/compose.yaml', 'services: {}\n');
    await git(author, 'push', '-q', '-u', 'origin', 'main');
    await git(dir, 'clone', '-q', remote, checkout);
  });

  it('syncs to the pushed commit, overwriting local edits and keeping untracked and ignored files', async () => {
    const repository = createGitRepository({ path: checkout, run });
    const pushed = await commitFile(author, 'services/web/compose.yaml', 'services: { web: { image: nginx } }\n');
    await git(author, 'push', '-q');

    writeFileSync(join(checkout, '.gitignore'), 'local edit\n');
    writeFileSync(join(checkout, 'notes.txt'), 'untracked\n');
    mkdirSync(join(checkout, 'secrets'));
    writeFileSync(join(checkout, 'secrets', 'app.env'), 'TOKEN=1\n');

    const { commit } = await repository.sync();
    assert.equal(commit, pushed);
    assert.equal(await repository.head(), pushed);
    assert.equal(readFileSync(join(checkout, 'services/web/compose.yaml'), 'utf8'), 'services: { web: { image: nginx } }\n');
    assert.equal(readFileSync(join(checkout, '.gitignore'), 'utf8'), 'secrets/\n');
    assert.equal(readFileSync(join(checkout, 'notes.txt'), 'utf8'), 'untracked\n');
    assert.equal(readFileSync(join(checkout, 'secrets', 'app.env'), 'utf8'), 'TOKEN=1\n');
  });

  it('falls back to origin/<branch> when the branch has no upstream', async () => {
    await git(checkout, 'branch', '--unset-upstream');
    const pushed = await commitFile(author, 'services/api/compose.yaml', 'services: {}\n');
    await git(author, 'push', '-q');
    assert.deepEqual(await createGitRepository({ path: checkout, run }).sync(), { commit: pushed });
  });

  it('names the tracked branch as the remote knows it: the upstream, even when the local branch is named otherwise', async () => {
    await git(author, 'push', '-q', 'origin', 'main:release');
    await git(checkout, 'fetch', '-q');
    await git(checkout, 'checkout', '-q', '-b', 'local-name', '--track', 'origin/release');
    assert.equal(await createGitRepository({ path: checkout, run }).trackedBranch(), 'release');
    await git(checkout, 'branch', '--unset-upstream');
    assert.equal(await createGitRepository({ path: checkout, run }).trackedBranch(), 'local-name');
  });

  it('fails with SYNC_FAILED and leaves the tree alone when the remote is unreachable', async () => {
    const repository = createGitRepository({ path: checkout, run });
    const before = await repository.head();
    await git(checkout, 'remote', 'set-url', 'origin', join(root, 'missing.git'));
    writeFileSync(join(checkout, '.gitignore'), 'local edit\n');

    const error = await rejectsWith(repository.sync(), 'SYNC_FAILED');
    assert.match(error.message, /fetch/);
    assert.equal(await repository.head(), before);
    assert.equal(readFileSync(join(checkout, '.gitignore'), 'utf8'), 'local edit\n');
  });

  it('never puts URL credentials into error messages', async () => {
    const repository = createGitRepository({ path: checkout, run, timeoutMs: 20_000 });
    await git(checkout, 'remote', 'set-url', 'origin', 'https://deploy:s3cret-token@127.0.0.1:1/env.git');
    const error = await rejectsWith(repository.sync(), 'SYNC_FAILED');
    assert.doesNotMatch(error.message, /s3cret-token/);
    assert.doesNotMatch(JSON.stringify((error as { details?: unknown }).details), /s3cret-token/);
  });

  it('reads the remote head with ls-remote, fetching nothing and leaving the checkout alone', async () => {
    const repository = createGitRepository({ path: checkout, run });
    const before = await repository.head();
    assert.equal(await repository.remoteHead(), before);
    // A branch whose name ends like the tracked one must not be taken for it.
    await git(author, 'push', '-q', 'origin', 'HEAD:refs/heads/feature/main');
    const pushed = await commitFile(author, 'services/web/compose.yaml', 'services: { web: { image: busybox } }\n');
    await git(author, 'push', '-q');
    assert.equal(await repository.remoteHead(), pushed);
    assert.equal(await repository.head(), before);
    // No fetch: the remote-tracking ref has not moved.
    assert.equal(await git(checkout, 'rev-parse', 'refs/remotes/origin/main'), before);
  });

  it('reads the remote head of the origin convention without an upstream, and fails with SYNC_FAILED when it cannot', async () => {
    await git(checkout, 'branch', '--unset-upstream');
    const repository = createGitRepository({ path: checkout, run });
    assert.equal(await repository.remoteHead(), await repository.head());
    await git(checkout, 'remote', 'set-url', 'origin', join(root, 'missing.git'));
    assert.match((await rejectsWith(repository.remoteHead(), 'SYNC_FAILED')).message, /ls-remote/);
  });

  it('reports SYNC_FAILED when the tracked branch is gone from the remote', async () => {
    // A local branch the remote never had: ls-remote finds nothing, which is not a commit.
    await git(checkout, 'checkout', '-q', '-b', 'only-here');
    const error = await rejectsWith(createGitRepository({ path: checkout, run }).remoteHead(), 'SYNC_FAILED');
    assert.match(error.message, /refs\/heads\/only-here/);
  });

  it('lists tracked files under a directory with one call', async () => {
    await commitFile(author, 'services/api/config/app.ini', 'x\n');
    await git(author, 'push', '-q');
    const repository = createGitRepository({ path: checkout, run });
    await repository.sync();
    writeFileSync(join(checkout, 'services/api/untracked.txt'), 'x\n');
    assert.deepEqual((await repository.listTrackedFiles('services/')).sort(), ['services/api/config/app.ini', 'services/web/compose.yaml']);
    assert.deepEqual(await repository.listTrackedFiles('services/api'), ['services/api/config/app.ini']);
    assert.deepEqual(await repository.listTrackedFiles('nothing-here'), []);
  });

  it('tells a removal in git from a directory lost from the checkout or never tracked (pruning)', async () => {
    const repository = createGitRepository({ path: checkout, run });
    const deployed = (await repository.sync()).commit;
    await commitFile(author, 'services/api/compose.yaml', 'services: {}\n');
    await git(author, 'rm', '-q', '-r', 'services/web');
    await git(author, 'commit', '-q', '-m', 'remove web');
    await git(author, 'push', '-q');
    const synced = (await repository.sync()).commit;
    assert.equal(await repository.trackedRemoval(deployed, synced, 'services/web'), true);
    assert.equal(await repository.trackedRemoval(deployed, synced, 'services/api'), false, 'added, not removed');
    // Deleted by hand in the checkout only: git still has it, so it is not a removal.
    rmSync(join(checkout, 'services/api'), { recursive: true, force: true });
    assert.equal(await repository.trackedRemoval(synced, synced, 'services/api'), false);
    // Untracked in the checkout (never in git at either commit).
    mkdirSync(join(checkout, 'services/scratch'), { recursive: true });
    writeFileSync(join(checkout, 'services/scratch/compose.yaml'), 'services: {}\n');
    assert.equal(await repository.trackedRemoval(deployed, synced, 'services/scratch'), false);
    await rejectsWith(repository.trackedRemoval('f'.repeat(40), synced, 'services/web'), 'REPOSITORY_INVALID');
    await rejectsWith(repository.trackedRemoval('not-a-commit', synced, 'services/web'), 'REPOSITORY_INVALID');
  });

  it('reports REPOSITORY_INVALID for a path that is not a repository or does not exist', async () => {
    const plain = mkdtempSync(join(root, 'plain-'));
    await rejectsWith(createGitRepository({ path: plain, run }).sync(), 'REPOSITORY_INVALID');
    await rejectsWith(createGitRepository({ path: plain, run }).head(), 'REPOSITORY_INVALID');
    await rejectsWith(createGitRepository({ path: plain, run }).listTrackedFiles('services'), 'REPOSITORY_INVALID');
    const missing = join(root, 'does-not-exist');
    await rejectsWith(createGitRepository({ path: missing, run }).sync(), 'REPOSITORY_INVALID');
    assert.equal(existsSync(missing), false);
  });

  it('reports REPOSITORY_INVALID for a subdirectory of a repository', async () => {
    await rejectsWith(createGitRepository({ path: join(checkout, 'services'), run }).sync(), 'REPOSITORY_INVALID');
  });
});

describe('redactUrlCredentials', () => {
  it('removes user:password@ from URLs and leaves other text alone', () => {
    assert.equal(
      redactUrlCredentials("fatal: unable to access 'https://bot:ghp_abc@github.com/o/r.git/': 403"),
      "fatal: unable to access 'https://github.com/o/r.git/': 403",
    );
    assert.equal(redactUrlCredentials('ssh://git@host/r.git and user@example.com'), 'ssh://host/r.git and user@example.com');
  });
});
