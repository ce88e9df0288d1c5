/** The container tooling a service is deployed with (`swarm`: a Docker Swarm stack on the docker engine). */
export type RuntimeKind = 'podman' | 'docker' | 'swarm';

/** sha256 hex digest of a file's bytes, or MISSING_DIGEST when the file does not exist. */
export type FileDigests = Record<string, string>;
export const MISSING_DIGEST = 'missing';

/**
 * A service as the repository describes it now (the desired state).
 * `files` keys are paths relative to the service directory, with forward slashes
 * (`podman-compose.yml`, `config/app.ini`, `../../secrets/app.env`).
 */
export interface ServiceSource {
  name: string;
  /** Absolute path of the service directory. */
  dir: string;
  /** File name of the compose file inside `dir`. */
  composeFile: string;
  runtime: RuntimeKind;
  /** Compose project name, derived from the directory name and always valid for compose. */
  projectName: string;
  files: FileDigests;
  /** Digest over `files`; equal fingerprints mean nothing that changes what runs changed. */
  fingerprint: string;
  /** Env files compose reads for this service that must exist (relative paths, as in `files`). */
  requiredEnvFiles: string[];
  /**
   * Keys of `files` that git does not track (git-ignored secrets, files outside the repository),
   * plus the data files left out of `files` (read-write mounts of untracked files, x-gitops.ignore):
   * their values are secrets to redaction. Absent (older callers, tests): every file counts as tracked.
   */
  untrackedInputs?: string[];
  /** Opted in to image polling (`x-gitops: { poll-images: true }`): moved tags are pulled without a webhook. */
  pollImages?: true;
  /** Opted out of automatic rollback (`x-gitops: { rollback: false }`): a gate failure stays a failure. */
  noRollback?: true;
  /** Set when the directory cannot be deployed as it stands (unreadable compose file, ...). */
  problem?: { code: 'COMPOSE_FILE_INVALID' | 'COMPOSE_FILE_AMBIGUOUS' | 'INPUT_FILE_INVALID' | 'COMPOSE_UNSUPPORTED'; message: string };
}

/** What the last successful deployment of a service put in place. */
export interface DeployedState {
  service: string;
  fingerprint: string;
  files: FileDigests;
  commit: string | null;
  deployedAt: string;
  /** Image id per compose service, as running after the deployment. */
  images: Record<string, string>;
  /** What `down` needs once the service's directory is gone from git (pruning); absent before it was kept. */
  compose?: DeployedCompose | null;
}

/**
 * The compose file a service was last deployed with, kept in the store: when its directory is
 * removed in git the checkout no longer has it, and its containers still have to be taken down.
 * Only the tracked compose file's text, never env files or secrets.
 */
export interface DeployedCompose {
  runtime: RuntimeKind;
  projectName: string;
  /** File name of the compose file inside the service directory. */
  composeFile: string;
  text: string;
}

/** deploy-service: an operator asked to redeploy one service as it stands, changed or not. */
export type RunTrigger = 'deploy-all-changed' | 'redeploy-and-update' | 'deploy-service' | 'rollback-service';
/** Who asked for a run: a signed webhook, the management API, start-up recovery, the polling backstop, self-heal of a drifted service, or the retry of a transient failure. */
export type RunOrigin = 'webhook' | 'api' | 'restart' | 'poll' | 'heal' | 'retry';
export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed';
/** `prune`: the tombstone of a service whose directory was removed in git (its containers taken down). `skip` is no longer recorded; runs of earlier versions hold it (the own service, left alone). */
export type DeploymentAction = 'deploy' | 'update' | 'skip' | 'prune';
/**
 * `handed-off`: the server's own service is being replaced by a helper container, which records
 * the end (`succeeded`, or `rolled-back` when the new instance did not come up healthy).
 */
export type DeploymentStatus = 'queued' | 'running' | 'handed-off' | 'succeeded' | 'failed' | 'rolled-back' | 'skipped' | 'interrupted';

/** A deployment that did not put its inputs in place: failed, cut off, or rolled back. */
const FAILED: DeploymentStatus[] = ['failed', 'interrupted', 'rolled-back'];
export const FAILED_DEPLOYMENT_STATUSES: ReadonlySet<string> = new Set<string>(FAILED);
/** A deployment that will not change any more. */
export const FINAL_DEPLOYMENT_STATUSES: ReadonlySet<string> = new Set<string>(['succeeded', 'skipped', ...FAILED]);

/**
 * A service that runs something other than what git says: rolled back after a failed health
 * gate, or by hand. Deploy-all leaves it alone while the service's inputs in git are still
 * `gitFingerprint` (the inputs it was pinned against); once they change it follows git again.
 */
export interface ServicePin {
  service: string;
  /** The commit whose inputs it runs. */
  commit: string | null;
  gitFingerprint: string;
  reason: 'rolled-back' | 'manual';
  /** The deployment that pinned it. */
  deploymentId: string;
  pinnedAt: string;
}

/** What the helper container of a self-update needs to carry it out. */
export interface SelfUpdateHandoff {
  kind: 'deploy' | 'update';
  /** The commit whose inputs to put back if the new instance fails; null: the inputs as they are. */
  rollbackCommit: string | null;
  /** Name of the helper container. */
  helper: string;
  /** The engine the helper runs on (to tell whether it is still there). */
  runtime: RuntimeKind;
  /** Fingerprint of the inputs handed off: a rollback remembers what failed. */
  fingerprint: string;
}
