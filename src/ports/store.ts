import type {
  DeployedState,
  DeploymentAction,
  DeploymentStatus,
  RunStatus,
  RunTrigger,
} from '../domain/types.js';

export interface RunRecord {
  id: string;
  trigger: RunTrigger;
  /** The service named by the trigger (redeploy-and-update), else null. */
  service: string | null;
  status: RunStatus;
  commit: string | null;
  errorCode: string | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface DeploymentRecord {
  id: string;
  runId: string;
  service: string;
  action: DeploymentAction;
  status: DeploymentStatus;
  reason: string;
  commit: string | null;
  errorCode: string | null;
  error: string | null;
  /** The compose tool's output, bounded in size (the tail is kept). */
  output: string;
  imagesBefore: Record<string, string> | null;
  imagesAfter: Record<string, string> | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** What start-up recovery found unfinished: how many deployments, and which runs' triggers to retry. */
export interface RecoveredWork {
  deployments: number;
  runs: Array<{ trigger: RunTrigger; service: string | null }>;
}

export type NewDeployment = Pick<DeploymentRecord, 'runId' | 'service' | 'action' | 'status' | 'reason' | 'commit'>;
export type RunPatch = Partial<Pick<RunRecord, 'status' | 'commit' | 'errorCode' | 'error' | 'startedAt' | 'finishedAt'>>;
export type DeploymentPatch = Partial<
  Pick<
    DeploymentRecord,
    'status' | 'reason' | 'commit' | 'errorCode' | 'error' | 'output' | 'imagesBefore' | 'imagesAfter' | 'startedAt' | 'finishedAt'
  >
>;

/**
 * Durable record of runs, deployments and deployed state. Synchronous on purpose: the SQLite
 * adapter is synchronous and every call is short; it keeps the pipeline free of awaits that
 * could interleave state writes.
 */
export interface Store {
  /** Records a new run in status `queued`. */
  createRun(input: { trigger: RunTrigger; service: string | null }): RunRecord;
  updateRun(id: string, patch: RunPatch): void;
  getRun(id: string): RunRecord | undefined;
  createDeployment(input: NewDeployment): DeploymentRecord;
  updateDeployment(id: string, patch: DeploymentPatch): void;
  listDeployments(runId: string): DeploymentRecord[];
  /** The newest deployment of each service (one per service, skips included). */
  lastDeployments(): Map<string, DeploymentRecord>;
  getDeployedState(service: string): DeployedState | undefined;
  listDeployedStates(): DeployedState[];
  /** Written only after a deployment succeeded. */
  saveDeployedState(state: DeployedState): void;
  /**
   * Start-up recovery: deployments left `running` or `queued` by a dead process become
   * `interrupted`, runs left open become `failed`. Returns how many of each: a run can be left
   * open without any deployment (killed while syncing or planning), and its trigger still needs a retry.
   */
  recoverInterrupted(now: string): RecoveredWork;
  close(): void;
}
