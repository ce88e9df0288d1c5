import type { Config } from '../../config.js';
import type { ProcessRunner } from '../../adapters/process-runner.js';
import type { RuntimeKind } from '../../domain/types.js';
import type { CheckLevel } from '../output.js';

export type { CheckLevel };

/** One line of the doctor's report (and one entry of `doctor --json`). */
export interface CheckResult {
  name: string;
  /** False only for `fail`: a warning does not stop the server. */
  ok: boolean;
  level: CheckLevel;
  detail: string;
  /** What to do about it; null when the check passed. */
  fix: string | null;
}

/** What every check reads: the environment, the parsed configuration (when it parsed), a process runner. */
export interface DoctorContext {
  env: NodeJS.ProcessEnv;
  /** Undefined when the configuration has problems (they are reported as `config` lines). */
  config: Config | undefined;
  run: ProcessRunner;
  /** Longest a single probe (socket, command, git remote) may take. */
  timeoutMs: number;
  /** The user id, for the rootless Podman socket path. */
  uid: number;
  /**
   * The runtimes the repository's services use, when the repository could be read: a missing
   * tool is a failure only for a runtime in use, a warning otherwise.
   */
  runtimesInUse: Set<RuntimeKind> | undefined;
}

export const pass = (name: string, detail: string): CheckResult => ({ name, ok: true, level: 'pass', detail, fix: null });
export const warn = (name: string, detail: string, fix: string): CheckResult => ({ name, ok: true, level: 'warn', detail, fix });
export const fail = (name: string, detail: string, fix: string): CheckResult => ({ name, ok: false, level: 'fail', detail, fix });
