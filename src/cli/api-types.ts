// The management API's answers as docs/API.md describes them: the fields the CLI reads.
// JSON output passes the server's answer through unchanged, so fields not listed here still reach scripts.

export interface ApiErrorInfo {
  code: string;
  message: string;
}

export type ServiceState = 'in-sync' | 'changed' | 'never-deployed' | 'failed' | 'rolled-back' | 'pinned' | 'problem' | 'self' | 'drifted' | 'orphaned' | 'removed';
export const SERVICE_STATES: readonly ServiceState[] = ['in-sync', 'changed', 'never-deployed', 'failed', 'rolled-back', 'pinned', 'problem', 'self', 'drifted', 'orphaned', 'removed'];

export interface LastDeployment {
  id: string;
  runId: string;
  action: string;
  status: string;
  reason: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: ApiErrorInfo | null;
}

export interface ServiceSummary {
  name: string;
  /** null for an `orphaned` or `removed` service deployed before compose files were kept. */
  runtime: string | null;
  composeFile: string | null;
  projectName: string | null;
  state: ServiceState;
  /** null for an `orphaned` or `removed` service: git no longer describes it. */
  desiredFingerprint: string | null;
  deployedFingerprint: string | null;
  deployedCommit: string | null;
  deployedAt: string | null;
  problem: ApiErrorInfo | null;
  /** Set while the service runs a rollback instead of git. */
  pinned?: { commit: string | null; reason: 'rolled-back' | 'manual'; deploymentId: string; since: string } | null;
  /** Set while the engine does not run what was deployed (state `drifted`). */
  drift?: { reasons: string[]; since: string; held: string | null; healsLastHour: number; healRunId: string | null } | null;
  /** What the state means for the next run when it is not plain (`failed (unchanged since <commit>)...`). */
  stateReason?: string | null;
  lastDeployment: LastDeployment | null;
}

/** POST /api/services/:name/rollback */
export interface RollbackAnswer extends ActionAnswer {
  target: { deploymentId: string; commit: string | null };
}

/** POST /api/services/:name/unpin */
export interface UnpinAnswer {
  service: string;
  unpinned: boolean;
  was: { commit: string | null; reason: string } | null;
}

export interface ServicesAnswer {
  commit: string | null;
  services: ServiceSummary[];
}

export interface Deployment {
  id: string;
  runId: string;
  service: string;
  action: string;
  status: string;
  reason: string;
  commit: string | null;
  error: ApiErrorInfo | null;
  imagesBefore: Record<string, string> | null;
  imagesAfter: Record<string, string> | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface ServiceDetailAnswer {
  service: ServiceSummary;
  history: Deployment[];
  next: string | null;
}

export interface RunSummary {
  id: string;
  status: string;
  trigger: string;
  /** `webhook`, `api`, `restart` (start-up recovery) or `poll` (the polling backstop); a string, so a newer server's origin still reads. */
  origin: 'webhook' | 'api' | 'restart' | 'poll' | 'heal' | 'retry' | (string & {});
  service: string | null;
  commit: string | null;
  error: ApiErrorInfo | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  counts: { deployed: number; succeeded: number; failed: number; skipped: number };
  services: string[];
}

export interface RunsAnswer {
  runs: RunSummary[];
  next: string | null;
}

export interface RunDetail {
  id: string;
  status: string;
  commit: string | null;
  error: ApiErrorInfo | null;
  deployments: Array<Deployment & { output?: string }>;
}

export interface PlanAnswer {
  commit: string;
  currentCommit: string | null;
  services: Array<{ service: string; decision: 'deploy' | 'unchanged' | 'self' | 'problem'; reason: string; changedFiles?: string[]; tool?: string }>;
  counts: Record<string, number>;
}

export interface ActionAnswer {
  runId: string;
  status: string;
  coalesced?: boolean;
}

/** `event: run` */
export interface RunEventData {
  runId: string;
  status: string;
  commit: string | null;
  error: ApiErrorInfo | null;
}

/** `event: deployment` */
export interface DeploymentEventData {
  runId: string;
  deploymentId: string;
  service: string;
  action: string;
  status: string;
  reason: string;
  error: ApiErrorInfo | null;
}

/** `event: output` */
export interface OutputEventData {
  runId: string;
  deploymentId: string;
  service: string;
  line: string;
}

/** `event: end` */
export interface EndEventData {
  runId: string;
  status: string;
}

/** A run event as the stream delivers it: the SSE id and type, and the parsed data. */
export type RunEvent =
  | { id: string | undefined; event: 'run'; data: RunEventData }
  | { id: string | undefined; event: 'deployment'; data: DeploymentEventData }
  | { id: string | undefined; event: 'output'; data: OutputEventData }
  | { id: string | undefined; event: 'end'; data: EndEventData };

export const RUN_FINISHED_STATUSES: readonly string[] = ['succeeded', 'failed'];
