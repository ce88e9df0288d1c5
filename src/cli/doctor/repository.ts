import { existsSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { createGitRepository, redactUrlCredentials } from '../../adapters/git-repository.js';
import type { ProcessResult } from '../../adapters/process-runner.js';
import { createEngines } from '../../adapters/compose/index.js';
import { createServiceCatalog } from '../../adapters/service-catalog.js';
import { compatOf, composeRuntimes } from '../../compose-runtimes.js';
import type { Config } from '../../config.js';
import type { RuntimeKind } from '../../domain/types.js';
import { isAppError } from '../../errors.js';
import { fail, pass, warn, type CheckResult, type DoctorContext } from './check.js';

/** What the repository checks found: their lines, and the runtimes the services use (for the tool checks). */
export interface RepositoryReport {
  results: CheckResult[];
  runtimesInUse: Set<RuntimeKind> | undefined;
}

const REMOTE_FIX = (where: string) =>
  `make git reach the remote as the server's user without prompting (an SSH key in ~/.ssh, or a credential helper), then try: ${where}`;

/**
 * The environment repository as the server will use it: a git checkout at ENV_REPO_PATH on a
 * branch, its upstream answering `git ls-remote` within the timeout, and its services directory
 * with the services in it (read by the server's own service catalog).
 */
export async function checkRepository(ctx: DoctorContext, config: Config): Promise<RepositoryReport> {
  const results: CheckResult[] = [];
  const checkout = config.envRepoPath;
  const hasCheckout = existsSync(checkout);

  if (config.exampleMode) {
    results.push(
      warn(
        'repository',
        `ENV_REPO_PATH and ENV_REPO_URL are unset and nothing is at /env-repo: the server serves the example repository (${checkout})`,
        'set ENV_REPO_PATH to your checkout, or ENV_REPO_URL to its remote (the server clones it into DATA_DIR/env-repo)',
      ),
    );
    if (!hasCheckout) return { results, runtimesInUse: undefined };
  } else if (config.envRepoUrl && !existsSync(path.join(checkout, '.git'))) {
    const url = redactUrlCredentials(config.envRepoUrl);
    results.push(pass('repository', `${checkout} does not exist yet: the server clones ${url}${config.envRepoBranch ? ` (branch ${config.envRepoBranch})` : ''} into it at start-up`));
    results.push(await lsRemote(ctx, config, { remote: config.envRepoUrl, display: url, ref: config.envRepoBranch ? `refs/heads/${config.envRepoBranch}` : 'HEAD' }, undefined));
    return { results, runtimesInUse: undefined };
  }

  const git = (args: string[]) =>
    ctx.run({
      command: 'git',
      args: ['-c', `safe.directory=${checkout}`, ...safeRealpath(checkout), '-C', checkout, ...args],
      env: { GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0' },
      timeoutMs: ctx.timeoutMs,
    });
  const gitOut = async (args: string[]): Promise<string | undefined> => {
    try {
      return (await git(args)).stdout.trim();
    } catch {
      return undefined;
    }
  };

  if (!existsSync(checkout)) {
    results.push(
      fail('repository', `ENV_REPO_PATH ${checkout} does not exist`, `clone the environment repository there (git clone <remote> ${checkout}), or set ENV_REPO_URL to let the server clone it`),
    );
    return { results, runtimesInUse: undefined };
  }
  const toplevel = await gitOut(['rev-parse', '--show-toplevel']);
  if (toplevel === undefined || toplevel === '') {
    results.push(fail('repository', `${checkout} is not a git checkout`, `clone the environment repository there (git clone <remote> ${checkout}), or point ENV_REPO_PATH at the checkout`));
    return { results, runtimesInUse: undefined };
  }
  if (realpathOr(toplevel) !== realpathOr(checkout)) {
    results.push(fail('repository', `${checkout} lies inside the repository at ${toplevel} but is not its root`, `set ENV_REPO_PATH=${toplevel}`));
    return { results, runtimesInUse: undefined };
  }
  const branch = await gitOut(['rev-parse', '--abbrev-ref', 'HEAD']);
  const head = await gitOut(['rev-parse', '--short', 'HEAD']);
  if (branch === undefined || head === undefined) {
    results.push(fail('repository', `${checkout} has no commit checked out`, `check out the branch to deploy: git -C ${checkout} checkout <branch>`));
    return { results, runtimesInUse: undefined };
  }
  if (branch === 'HEAD') {
    results.push(fail('repository', `${checkout} has a detached HEAD (${head}); the server syncs a branch with its upstream`, `check out the branch to deploy: git -C ${checkout} checkout <branch>`));
    return { results, runtimesInUse: undefined };
  }
  // The server syncs to the branch's upstream, or origin/<branch> without one.
  const upstream = await gitOut(['rev-parse', '--abbrev-ref', '--symbolic-full-name', '@{u}']);
  const remote = (upstream ? await gitOut(['config', '--get', `branch.${branch}.remote`]) : undefined) || 'origin';
  const mergeRef = (upstream ? await gitOut(['config', '--get', `branch.${branch}.merge`]) : undefined) || `refs/heads/${branch}`;
  results.push(pass('repository', `${checkout}: branch ${branch} at ${head}, syncing to ${upstream || `${remote}/${branch} (no upstream set; the server uses origin/${branch})`}`));

  const remoteUrl = await gitOut(['remote', 'get-url', remote]);
  if (remoteUrl === undefined) {
    results.push(fail('remote', `the checkout has no remote named ${remote}`, `add it: git -C ${checkout} remote add ${remote} <url>, or set the branch's upstream (git branch --set-upstream-to)`));
  } else {
    results.push(await lsRemote(ctx, config, { remote, display: `${remote} (${redactUrlCredentials(remoteUrl)})`, ref: mergeRef }, checkout));
  }

  const services = await checkServices(ctx, config);
  results.push(services.result);
  return { results, runtimesInUse: services.runtimesInUse };
}

/** `git ls-remote` of the branch the server syncs to: the remote answers, without prompting, in time. */
async function lsRemote(
  ctx: DoctorContext,
  config: Config,
  target: { remote: string; display: string; ref: string },
  checkout: string | undefined,
): Promise<CheckResult> {
  const timeoutMs = Math.min(ctx.timeoutMs, config.gitTimeoutMs);
  const tryIt = `git ${checkout ? `-C ${checkout} ` : ''}ls-remote ${checkout ? target.remote : target.display}`;
  let result: ProcessResult;
  try {
    result = await ctx.run({
      command: 'git',
      args: [...(checkout ? ['-c', `safe.directory=${checkout}`, '-C', checkout] : []), 'ls-remote', '--', target.remote, target.ref],
      env: { GIT_TERMINAL_PROMPT: '0' },
      timeoutMs,
    });
  } catch (error) {
    if (isAppError(error) && error.code === 'PROCESS_TIMEOUT') {
      return fail('remote', `${target.display} did not answer git ls-remote within ${Math.round(timeoutMs / 1000)} s (GIT_TIMEOUT_SECONDS is ${config.gitTimeoutMs / 1000})`, REMOTE_FIX(tryIt));
    }
    const stderr = isAppError(error) && typeof error.details?.['stderr'] === 'string' ? (error.details['stderr'] as string) : (error as Error).message;
    return fail('remote', `git ls-remote ${target.display} failed: ${redactUrlCredentials(stderr.trim().split('\n').slice(-2).join(' '))}`, REMOTE_FIX(tryIt));
  }
  const line = result.stdout.split('\n').find((l) => l.trim() !== '');
  if (!line) {
    return fail('remote', `${target.display} answers but has no ${target.ref.replace(/^refs\/heads\//, 'branch ')}`, `push the branch to the remote, or check out the branch the remote has (git -C <checkout> checkout <branch>)`);
  }
  return pass('remote', `${target.display} answers: ${target.ref.replace(/^refs\/heads\//, '')} is at ${line.slice(0, 7)}`);
}

/** The services directory, read by the server's own catalog: how many services, their runtimes, their problems. */
async function checkServices(ctx: DoctorContext, config: Config): Promise<{ result: CheckResult; runtimesInUse: Set<RuntimeKind> | undefined }> {
  const dir = path.join(config.envRepoPath, config.servicesDirectory);
  let isDirectory = false;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch {
    // reported below
  }
  if (!isDirectory) {
    return {
      result: fail('services', `${dir} is not a directory`, `add ${config.servicesDirectory}/<service>/compose.yaml to the repository and push, or set GITOPS_SERVICES_DIRECTORY to where the service directories are`),
      runtimesInUse: undefined,
    };
  }
  const repository = createGitRepository({ path: config.envRepoPath, run: ctx.run, timeoutMs: ctx.timeoutMs });
  // The same tools the server would run: a construct they cannot run is a problem here too.
  const compat = compatOf(composeRuntimes(config, ctx.run, createEngines(ctx.run, ctx.timeoutMs, config.childEnv)));
  const catalog = createServiceCatalog({ repoPath: config.envRepoPath, servicesDirectory: config.servicesDirectory, defaultRuntime: config.defaultRuntime, repository, compat });
  let services;
  try {
    services = await catalog.discover();
  } catch (error) {
    return {
      result: fail('services', `the services in ${dir} cannot be read: ${(error as Error).message}`, 'fix what the message says; the server would fail every run the same way'),
      runtimesInUse: undefined,
    };
  }
  const runtimesInUse = new Set(services.filter((s) => s.name !== config.deployServerName).map((s) => s.runtime));
  if (services.length === 0) {
    return {
      result: warn('services', `${dir} holds no service (a directory with one compose file)`, `add ${config.servicesDirectory}/<service>/compose.yaml to the repository and push`),
      runtimesInUse,
    };
  }
  const byRuntime = (['podman', 'docker', 'swarm'] as const).map((kind) => [kind, services.filter((s) => s.runtime === kind).length] as const).filter(([, n]) => n > 0);
  const self = services.some((s) => s.name === config.deployServerName) ? `, including the server's own (${config.deployServerName})` : '';
  const summary = `${config.servicesDirectory}/ holds ${services.length} service${services.length === 1 ? '' : 's'} (${byRuntime.map(([kind, n]) => `${n} ${kind}`).join(', ')})${self}`;
  const problems = services.filter((s) => s.problem);
  if (problems.length > 0) {
    return {
      result: warn('services', `${summary}; ${problems.length} cannot be deployed: ${problems.map((s) => `${s.name} (${s.problem!.code}: ${s.problem!.message})`).join('; ')}`, 'fix those compose files in the repository and push'),
      runtimesInUse,
    };
  }
  return { result: pass('services', summary), runtimesInUse };
}

function realpathOr(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

/** git compares safe.directory with the resolved path on some versions: pass it too when it differs. */
function safeRealpath(checkout: string): string[] {
  const real = realpathOr(checkout);
  return real === checkout ? [] : ['-c', `safe.directory=${real}`];
}
