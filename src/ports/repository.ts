/** The environment repository checkout. */
export interface Repository {
  /**
   * Fetches the upstream branch and hard-resets tracked files to it, leaving ignored and
   * untracked files alone. Returns the commit now checked out. Throws SYNC_FAILED or
   * REPOSITORY_INVALID; the working tree is then unchanged or not trusted by the caller.
   */
  sync(): Promise<{ commit: string }>;
  /** The commit checked out now (no network). */
  head(): Promise<string>;
  /** Paths (relative to the repository root, forward slashes) of tracked files under `dir`. */
  listTrackedFiles(dir: string): Promise<string[]>;
}
