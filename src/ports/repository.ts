/** The environment repository checkout. */
export interface Repository {
  /**
   * Fetches the upstream branch and hard-resets tracked files to it, leaving ignored and
   * untracked files alone. Returns the commit now checked out. Throws SYNC_FAILED or
   * REPOSITORY_INVALID; the working tree is then unchanged or not trusted by the caller.
   */
  sync(signal?: AbortSignal): Promise<{ commit: string }>;
  /**
   * Whether `dir` (relative to the repository root) held tracked files at commit `from` and holds
   * none at commit `to`: a removal in git, as opposed to a directory that is unreadable, untracked
   * or missing from the checkout. No network. Throws REPOSITORY_INVALID when a commit is unknown.
   */
  trackedRemoval(from: string, to: string, dir: string): Promise<boolean>;
  /** The commit checked out now (no network). */
  head(): Promise<string>;
  /** Paths (relative to the repository root, forward slashes) of tracked files under `dir`. */
  listTrackedFiles(dir: string): Promise<string[]>;
  /**
   * The name of the branch deployed from, on the remote (`main` for `origin/main`): a push to any
   * other branch changes nothing here. No network; cached after the first call.
   */
  trackedBranch(): Promise<string>;
  /**
   * The upstream branch's head on the remote (`git ls-remote`), fetching nothing and leaving the
   * checkout and its refs as they are: the polling backstop's cheap question. Throws SYNC_FAILED.
   */
  remoteHead(signal?: AbortSignal): Promise<string>;
  /** Fetches the upstream branch and returns its head, leaving the checkout as it is (plan previews). */
  fetchUpstream(signal?: AbortSignal): Promise<{ commit: string }>;
  /**
   * Writes the tree of `commit` into the empty directory `dir`, with the checkout's untracked and
   * ignored files (secrets) linked in, touching neither the checkout nor its index or refs.
   * Returns the tracked-file listing of that tree.
   */
  materialize(commit: string, dir: string): Promise<Pick<Repository, 'listTrackedFiles'>>;
}
