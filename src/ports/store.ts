import type {
  DeployedState,
  DeploymentAction,
  DeploymentStatus,
  RunOrigin,
  SelfUpdateHandoff,
  ServicePin,
  RunStatus,
  RunTrigger,
} from '../domain/types.js';

export interface RunRecord {
  id: string;
  trigger: RunTrigger;
  /** The service named by the trigger (redeploy-and-update, deploy-service), else null. */
  service: string | null;
  origin: RunOrigin;
  status: RunStatus;
  commit: string | null;
  errorCode: string | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** rollback-service: the id of the successful deployment whose inputs it deploys again. */
  target: string | null;
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
  /** Set on a self-update handed to a helper container. */
  handoff: SelfUpdateHandoff | null;
  /**
   * The inputs of the deployment: on a success, what it put in place (with `files`, the per-file
   * digests), so a rollback can deploy them again; on a rollback, the inputs that failed (held).
   */
  fingerprint: string | null;
  files: Record<string, string> | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** One stored event of a run's stream: status changes and the compose tool's output lines. */
export interface RunEventRecord {
  /** Increases across all runs; a stream resumes after the last id it saw. */
  id: number;
  runId: string;
  type: 'run' | 'deployment' | 'output' | 'end';
  data: Record<string, unknown>;
}

export interface RunSummaryRecord extends RunRecord {
  counts: { deployed: number; succeeded: number; failed: number; skipped: number };
  /** Services the run deployed or updated (skips left out), at most 20. */
  services: string[];
}

export interface Page<T> {
  items: T[];
  /** Id to pass as `before` for the next (older) page, or null when this page is the last. */
  next: string | null;
}

/** What start-up recovery found unfinished: how many deployments, and which runs' triggers to retry. */
export interface RecoveredWork {
  deployments: number;
  /** Triggers of runs that were executing: each is retried by a new run. */
  runs: Array<{ trigger: RunTrigger; service: string | null; target?: string | null }>;
  /** Runs accepted but never started: carried out under their own id. */
  queued: RunRecord[];
}

export type NewDeployment = Pick<DeploymentRecord, 'runId' | 'service' | 'action' | 'status' | 'reason' | 'commit'>;
export type RunPatch = Partial<Pick<RunRecord, 'status' | 'commit' | 'errorCode' | 'error' | 'startedAt' | 'finishedAt'>>;
export type DeploymentPatch = Partial<
  Pick<
    DeploymentRecord,
    | 'status'
    | 'reason'
    | 'commit'
    | 'errorCode'
    | 'error'
    | 'output'
    | 'imagesBefore'
    | 'imagesAfter'
    | 'handoff'
    | 'fingerprint'
    | 'files'
    | 'startedAt'
    | 'finishedAt'
  >
>;

/**
 * Durable record of runs, deployments and deployed state. Synchronous on purpose: the SQLite
 * adapter is synchronous and every call is short; it keeps the pipeline free of awaits that
 * could interleave state writes.
 */
export interface Store {
  /** Records a new run in status `queued`. */
  createRun(input: { trigger: RunTrigger; service: string | null; origin?: RunOrigin; target?: string | null }): RunRecord;
  updateRun(id: string, patch: RunPatch): void;
  getRun(id: string): RunRecord | undefined;
  createDeployment(input: NewDeployment): DeploymentRecord;
  updateDeployment(id: string, patch: DeploymentPatch): void;
  getDeployment(id: string): DeploymentRecord | undefined;
  /** Deployments handed to a self-update helper that has not recorded their end yet. */
  handedOffDeployments(): DeploymentRecord[];
  listDeployments(runId: string): DeploymentRecord[];
  /** The newest deployment of each service (one per service, skips included). */
  lastDeployments(): Map<string, DeploymentRecord>;
  /** Newest first; `before` is the id of the last run of the previous page. */
  listRuns(options: { limit: number; before?: string }): Page<RunSummaryRecord>;
  /** One service's deployments, newest first; `before` is a deployment id. */
  listServiceDeployments(service: string, options: { limit: number; before?: string }): Page<DeploymentRecord>;
  /** Status of the service's newest non-skip deployment older than `deploymentId`, or null. */
  previousDeploymentStatus(service: string, deploymentId: string): DeploymentStatus | null;
  /** Appends an event to a run's stream and returns it with its id. */
  appendRunEvent(runId: string, type: RunEventRecord['type'], data: Record<string, unknown>): RunEventRecord;
  /** A run's events with id > afterId, oldest first, at most `limit`. */
  listRunEvents(runId: string, afterId: number, limit: number): RunEventRecord[];
  /** Drops the events of all but the newest `keepRuns` runs (their records and output stay). */
  pruneRunEvents(keepRuns: number): void;
  getDeployedState(service: string): DeployedState | undefined;
  listDeployedStates(): DeployedState[];
  /** Written only after a deployment succeeded. */
  saveDeployedState(state: DeployedState): void;
  /**
   * A success in one transaction: the deployment's final patch and the service's deployed state.
   * A crash between two separate writes would show the service failed and never retry it.
   * With `pin` the service is pinned to what was deployed (a rollback); without, any pin ends.
   */
  recordSuccess(deploymentId: string, patch: DeploymentPatch, state: DeployedState, pin?: ServicePin): void;
  /**
   * A prune that took the service's containers down, in one transaction: the deployment's final
   * patch (the tombstone), and the service's deployed state and pin deleted. Should the directory
   * come back, the service is new again.
   */
  recordPrune(deploymentId: string, patch: DeploymentPatch, service: string): void;
  /** The service's pin (it runs a rollback, not what git says), or undefined. Written by recordSuccess. */
  getPin(service: string): ServicePin | undefined;
  listPins(): ServicePin[];
  /** Unpins a service (it follows git again); false when it was not pinned. */
  deletePin(service: string): boolean;
  /**
   * Drift: the configuration hash label per compose service that the service's containers had at
   * the first clean drift check after the deployment of `deployedAt` (a baseline of another
   * deployment is stale).
   */
  getDriftBaseline(service: string): { deployedAt: string; configHashes: Record<string, string> } | undefined;
  saveDriftBaseline(service: string, deployedAt: string, configHashes: Record<string, string>): void;
  /**
   * Start-up recovery: deployments left `running` or `queued` by a dead process become
   * `interrupted`, runs left `running` become `failed`; runs still `queued` stay queued. Returns how many of each: a run can be left
   * open without any deployment (killed while syncing or planning), and its trigger still needs a retry.
   * A `handed-off` self-update belongs to its helper container and is left alone (with its run),
   * unless it started before `staleHandoffBefore`: then its helper is taken for dead.
   */
  recoverInterrupted(now: string, staleHandoffBefore?: string): RecoveredWork;
  /**
   * Remembers a webhook delivery (`key`, e.g. provider and delivery id) as seen at `at`. True when
   * the key is new or was last seen before `notBefore` (then it counts as new again); false for a
   * repeat within the window. Also drops every delivery seen before `notBefore`, so the table
   * holds one window of deliveries, not the server's whole history.
   */
  rememberDelivery(key: string, at: string, notBefore: string): boolean;
  close(): void;
}
