import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { FAILED_DEPLOYMENT_STATUSES, type DeployedCompose, type DeployedState, type ServicePin } from '../domain/types.js';
import { AppError, errorCatalog } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type {
  DeploymentPatch,
  DeploymentRecord,
  Page,
  RecoveredWork,
  RunEventRecord,
  RunPatch,
  RunRecord,
  RunSummaryRecord,
  Store,
} from '../ports/store.js';

const DEFAULT_MAX_OUTPUT_BYTES = 256 * 1024;
const BUSY_TIMEOUT_MS = 5_000;

/**
 * Schema migrations; entry i takes the database from `user_version` i to i + 1. Append only:
 * never edit an entry that has shipped, add a new one (e.g. `ALTER TABLE ... ADD COLUMN`).
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    trigger TEXT NOT NULL,
    service TEXT,
    status TEXT NOT NULL,
    commit_sha TEXT,
    error_code TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
  );
  -- seq is the rowid made explicit so it survives VACUUM: it breaks created_at ties in insertion order.
  CREATE TABLE deployments (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL REFERENCES runs(id),
    service TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    commit_sha TEXT,
    error_code TEXT,
    error TEXT,
    output TEXT NOT NULL DEFAULT '',
    images_before TEXT,
    images_after TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
  );
  CREATE INDEX deployments_service_created ON deployments (service, created_at);
  CREATE INDEX deployments_run ON deployments (run_id);
  CREATE TABLE deployed_state (
    service TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    files TEXT NOT NULL,
    commit_sha TEXT,
    deployed_at TEXT NOT NULL,
    images TEXT NOT NULL
  );
  `,
  `
  ALTER TABLE runs ADD COLUMN origin TEXT NOT NULL DEFAULT 'webhook';
  CREATE INDEX deployments_service_seq ON deployments (service, seq);
  -- A run's live stream, kept so a client that reconnects (or a restarted server) resumes by id.
  CREATE TABLE run_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL
  );
  CREATE INDEX run_events_run ON run_events (run_id, id);
  `,
  `
  ALTER TABLE deployments ADD COLUMN handoff TEXT;
  -- Read every few seconds by the handoff watcher; partial, so it holds only open handoffs.
  CREATE INDEX deployments_handed_off ON deployments (seq) WHERE status = 'handed-off';
  -- The oldest schema version whose code can still use this database. Additive migrations leave
  -- it alone, so a self-update rolled back to the previous version still opens the database
  -- the new version migrated; a migration that breaks older readers raises it.
  CREATE TABLE schema_compat (min_reader_version INTEGER NOT NULL);
  INSERT INTO schema_compat (min_reader_version) VALUES (1);
  `,
  `
  -- Webhook delivery ids seen in the replay window, so a restart does not forget them.
  CREATE TABLE webhook_deliveries (
    key TEXT PRIMARY KEY,
    seen_at TEXT NOT NULL
  );
  CREATE INDEX webhook_deliveries_seen ON webhook_deliveries (seen_at);
  `,
  `
  -- Rollback (issue 12): the inputs of each deployment (a rolled-back one: the inputs that failed,
  -- held by the plan; a successful one: the inputs a rollback can deploy again).
  ALTER TABLE deployments ADD COLUMN fingerprint TEXT;
  ALTER TABLE deployments ADD COLUMN files TEXT;
  -- The deployment a rollback-service run deploys again (kept on the run so a retry does the same).
  ALTER TABLE runs ADD COLUMN target TEXT;
  CREATE TABLE pins (
    service TEXT PRIMARY KEY,
    commit_sha TEXT,
    git_fingerprint TEXT NOT NULL,
    reason TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    pinned_at TEXT NOT NULL
  );
  `,
  `
  -- Pruning (issue 9): the compose file each service was last deployed with (JSON: runtime,
  -- project name, file name, text), so its containers can be taken down once its directory is
  -- gone from git. NULL for states written before this migration (those are never pruned).
  ALTER TABLE deployed_state ADD COLUMN compose TEXT;
  `,
  `
  -- The configuration hash labels each service's containers had at the first clean drift check
  -- after its deployment (deployed_at says which one), compared by later checks and restarts.
  CREATE TABLE drift_baselines (
    service TEXT PRIMARY KEY,
    deployed_at TEXT NOT NULL,
    config_hashes TEXT NOT NULL
  );
  `,
];

interface RunRow {
  id: string;
  trigger: RunRecord['trigger'];
  service: string | null;
  origin: RunRecord['origin'];
  status: RunRecord['status'];
  commit_sha: string | null;
  error_code: string | null;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  target: string | null;
}

interface DeploymentRow {
  id: string;
  run_id: string;
  service: string;
  action: DeploymentRecord['action'];
  status: DeploymentRecord['status'];
  reason: string;
  commit_sha: string | null;
  error_code: string | null;
  error: string | null;
  output: string;
  images_before: string | null;
  images_after: string | null;
  handoff: string | null;
  fingerprint: string | null;
  files: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

interface DeployedStateRow {
  service: string;
  fingerprint: string;
  files: string;
  commit_sha: string | null;
  deployed_at: string;
  images: string;
  compose: string | null;
}

/** Patch field → column. Only these columns can be changed after insert. */
const RUN_PATCH_COLUMNS = {
  status: 'status', commit: 'commit_sha', errorCode: 'error_code', error: 'error',
  startedAt: 'started_at', finishedAt: 'finished_at',
} as const satisfies Record<keyof RunPatch, string>;
const DEPLOYMENT_PATCH_COLUMNS = {
  status: 'status', reason: 'reason', commit: 'commit_sha', errorCode: 'error_code', error: 'error',
  output: 'output', imagesBefore: 'images_before', imagesAfter: 'images_after', handoff: 'handoff',
  fingerprint: 'fingerprint', files: 'files',
  startedAt: 'started_at', finishedAt: 'finished_at',
} as const satisfies Record<keyof DeploymentPatch, string>;

/**
 * One UPDATE for any subset of fields, so it is prepared once: `@set_x` says whether `x` is in the
 * patch, which keeps "absent" (leave as is) apart from an explicit null (clear the column).
 */
function patchSql(table: string, keyColumn: string, columns: Record<string, string>): string {
  const sets = Object.entries(columns).map(([field, column]) =>
    `${column} = CASE WHEN @set_${field} THEN @${field} ELSE ${column} END`);
  return `UPDATE ${table} SET ${sets.join(', ')} WHERE ${keyColumn} = @id`;
}

function patchParams(id: string, patch: Record<string, unknown>, columns: Record<string, string>): Record<string, unknown> {
  const params: Record<string, unknown> = { id };
  for (const field of Object.keys(columns)) {
    const value = patch[field];
    params[`set_${field}`] = value === undefined ? 0 : 1;
    params[field] = value === undefined ? null : value;
  }
  return params;
}

/**
 * Keeps the last `maxBytes` UTF-8 bytes of `text` (marker included): the end of a compose run is
 * where its error is. Cuts on a character boundary so no half characters are stored.
 */
function boundOutput(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  // Sized with the largest possible count, so the final (smaller or equal) marker still fits.
  const budget = Math.max(0, maxBytes - Buffer.byteLength(marker(bytes.length)));
  let start = bytes.length - budget;
  while (start < bytes.length && ((bytes[start] ?? 0) & 0xc0) === 0x80) start++;
  return marker(start) + bytes.subarray(start).toString('utf8');
}

function marker(omitted: number): string {
  return `[... ${omitted} earlier bytes omitted ...]\n`;
}

/** Sortable ids: base36 milliseconds (fixed width) then randomness against same-millisecond clashes. */
function sortableId(prefix: string, at: Date): string {
  return prefix + at.getTime().toString(36).padStart(9, '0') + randomBytes(6).toString('hex');
}

/** A page from `limit + 1` rows: the extra row only says that an older page exists. */
function page<R, T extends { id: string }>(rows: R[], limit: number, toItem: (row: R) => T): Page<T> {
  const items = rows.slice(0, limit).map(toItem);
  return { items, next: rows.length > limit ? items[items.length - 1]!.id : null };
}

function toRun(row: RunRow): RunRecord {
  return {
    id: row.id, trigger: row.trigger, service: row.service, origin: row.origin, status: row.status, commit: row.commit_sha,
    errorCode: row.error_code, error: row.error, createdAt: row.created_at, startedAt: row.started_at,
    finishedAt: row.finished_at, target: row.target ?? null,
  };
}

interface PinRow {
  service: string;
  commit_sha: string | null;
  git_fingerprint: string;
  reason: ServicePin['reason'];
  deployment_id: string;
  pinned_at: string;
}

function toPin(row: PinRow): ServicePin {
  return { service: row.service, commit: row.commit_sha, gitFingerprint: row.git_fingerprint, reason: row.reason, deploymentId: row.deployment_id, pinnedAt: row.pinned_at };
}

function toDeployment(row: DeploymentRow): DeploymentRecord {
  return {
    id: row.id, runId: row.run_id, service: row.service, action: row.action, status: row.status,
    reason: row.reason, commit: row.commit_sha, errorCode: row.error_code, error: row.error, output: row.output,
    imagesBefore: row.images_before === null ? null : (JSON.parse(row.images_before) as Record<string, string>),
    imagesAfter: row.images_after === null ? null : (JSON.parse(row.images_after) as Record<string, string>),
    handoff: row.handoff === null ? null : (JSON.parse(row.handoff) as DeploymentRecord['handoff']),
    fingerprint: row.fingerprint ?? null,
    files: row.files === null || row.files === undefined ? null : (JSON.parse(row.files) as Record<string, string>),
    createdAt: row.created_at, startedAt: row.started_at, finishedAt: row.finished_at,
  };
}

function toDeployedState(row: DeployedStateRow): DeployedState {
  return {
    service: row.service, fingerprint: row.fingerprint, files: JSON.parse(row.files) as Record<string, string>,
    commit: row.commit_sha, deployedAt: row.deployed_at, images: JSON.parse(row.images) as Record<string, string>,
    // Only when kept, so states of before migration 6 read exactly as they did.
    ...(row.compose === null || row.compose === undefined ? {} : { compose: JSON.parse(row.compose) as DeployedCompose }),
  };
}

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    // Written by a newer version (say, one a self-update rolled back from): usable when that
    // version's migrations kept older readers working.
    const compat = db.prepare<[], { min: number }>('SELECT MAX(min_reader_version) AS min FROM schema_compat').get();
    if (compat && compat.min <= MIGRATIONS.length) return;
    throw new AppError('INTERNAL', `The database schema (version ${current}) is newer than this server knows (${MIGRATIONS.length}) and not readable by it`);
  }
  // Each step commits with its version number, so a crash mid-migration leaves a consistent schema.
  MIGRATIONS.slice(current).forEach((sql, offset) => {
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${current + offset + 1}`);
    })();
  });
}

/**
 * Opens (creating if needed) the SQLite store at `options.file`. The handle belongs to the
 * returned Store: there is no module-level database, so tests can open as many as they like.
 */
export function openSqliteStore(options: { file: string; clock: Clock; maxOutputBytes?: number; newId?: () => string }): Store {
  const { clock } = options;
  const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  // The id and createdAt come from the same clock reading, so id order matches time order.
  const makeId = (prefix: string, at: Date): string => (options.newId ? options.newId() : sortableId(prefix, at));

  mkdirSync(dirname(options.file), { recursive: true });
  const db = new Database(options.file);
  try {
    // WAL lets readers (HTTP status pages) run while a deployment writes.
    db.pragma('journal_mode = WAL');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('foreign_keys = ON');
    migrate(db);
  } catch (error) {
    db.close();
    throw error;
  }

  const statements = {
    insertRun: db.prepare(`INSERT INTO runs (id, trigger, service, origin, status, created_at, target)
      VALUES (@id, @trigger, @service, @origin, 'queued', @createdAt, @target)`),
    getPin: db.prepare<[string], PinRow>('SELECT * FROM pins WHERE service = ?'),
    listPins: db.prepare<[], PinRow>('SELECT * FROM pins ORDER BY service'),
    savePin: db.prepare(`INSERT INTO pins (service, commit_sha, git_fingerprint, reason, deployment_id, pinned_at)
      VALUES (@service, @commit, @gitFingerprint, @reason, @deploymentId, @pinnedAt)
      ON CONFLICT (service) DO UPDATE SET commit_sha = excluded.commit_sha, git_fingerprint = excluded.git_fingerprint,
        reason = excluded.reason, deployment_id = excluded.deployment_id, pinned_at = excluded.pinned_at`),
    deletePin: db.prepare<[string]>('DELETE FROM pins WHERE service = ?'),
    getDriftBaseline: db.prepare<[string], { deployed_at: string; config_hashes: string }>('SELECT deployed_at, config_hashes FROM drift_baselines WHERE service = ?'),
    saveDriftBaseline: db.prepare(`INSERT INTO drift_baselines (service, deployed_at, config_hashes) VALUES (@service, @deployedAt, @configHashes)
      ON CONFLICT (service) DO UPDATE SET deployed_at = excluded.deployed_at, config_hashes = excluded.config_hashes`),
    // Pages by rowid (insertion order), so the order holds whatever the ids look like.
    listRuns: db.prepare<{ limit: number; before: string | null }, RunRow>(`SELECT * FROM runs
      WHERE @before IS NULL OR rowid < (SELECT rowid FROM runs WHERE id = @before)
      ORDER BY rowid DESC LIMIT @limit`),
    runCounts: db.prepare<[string], { action: string; status: string; n: number; services: string | null }>(`
      SELECT action, status, COUNT(*) AS n, group_concat(service, char(10)) AS services
      FROM deployments WHERE run_id = ? GROUP BY action, status`),
    listServiceDeployments: db.prepare<{ service: string; limit: number; before: string | null }, DeploymentRow>(`
      SELECT * FROM deployments WHERE service = @service
        AND (@before IS NULL OR seq < (SELECT seq FROM deployments WHERE id = @before))
      ORDER BY seq DESC LIMIT @limit`),
    previousStatus: db.prepare<{ service: string; id: string }, { status: DeploymentRecord['status'] }>(`
      SELECT status FROM deployments WHERE service = @service AND action != 'skip'
        AND seq < (SELECT seq FROM deployments WHERE id = @id)
      ORDER BY seq DESC LIMIT 1`),
    insertEvent: db.prepare<{ runId: string; type: string; data: string }>(
      'INSERT INTO run_events (run_id, type, data) VALUES (@runId, @type, @data)'),
    listEvents: db.prepare<{ runId: string; after: number; limit: number }, { id: number; run_id: string; type: RunEventRecord['type']; data: string }>(
      'SELECT * FROM run_events WHERE run_id = @runId AND id > @after ORDER BY id LIMIT @limit'),
    pruneEvents: db.prepare<{ keep: number }>(`DELETE FROM run_events WHERE run_id IN (
      SELECT id FROM runs ORDER BY rowid DESC LIMIT -1 OFFSET @keep)`),
    updateRun: db.prepare(patchSql('runs', 'id', RUN_PATCH_COLUMNS)),
    getRun: db.prepare<[string], RunRow>('SELECT * FROM runs WHERE id = ?'),
    insertDeployment: db.prepare(`INSERT INTO deployments (id, run_id, service, action, status, reason, commit_sha, created_at)
      VALUES (@id, @runId, @service, @action, @status, @reason, @commit, @createdAt)`),
    updateDeployment: db.prepare(patchSql('deployments', 'id', DEPLOYMENT_PATCH_COLUMNS)),
    getDeployment: db.prepare<[string], DeploymentRow>('SELECT * FROM deployments WHERE id = ?'),
    listDeployments: db.prepare<[string], DeploymentRow>('SELECT * FROM deployments WHERE run_id = ? ORDER BY seq'),
    handedOff: db.prepare<[], DeploymentRow>(`SELECT * FROM deployments WHERE status = 'handed-off' ORDER BY seq`),
    // Loose-index scan: the recursive CTE hops from one distinct service to the next through the
    // (service, created_at) index, then takes each service's newest row from the same index, so
    // the cost grows with the number of services, not with the length of the history.
    lastDeployments: db.prepare<[], DeploymentRow>(`
      WITH RECURSIVE services(name) AS (
        SELECT MIN(service) FROM deployments
        UNION ALL
        SELECT (SELECT MIN(service) FROM deployments WHERE service > services.name) FROM services WHERE name IS NOT NULL
      )
      SELECT d.* FROM services JOIN deployments d ON d.seq = (
        SELECT seq FROM deployments WHERE service = services.name ORDER BY created_at DESC, seq DESC LIMIT 1
      )`),
    getDeployedState: db.prepare<[string], DeployedStateRow>('SELECT * FROM deployed_state WHERE service = ?'),
    listDeployedStates: db.prepare<[], DeployedStateRow>('SELECT * FROM deployed_state ORDER BY service'),
    // A state written without a compose file (the self-update helper's) keeps the one stored.
    saveDeployedState: db.prepare(`INSERT INTO deployed_state (service, fingerprint, files, commit_sha, deployed_at, images, compose)
      VALUES (@service, @fingerprint, @files, @commit, @deployedAt, @images, @compose)
      ON CONFLICT (service) DO UPDATE SET fingerprint = excluded.fingerprint, files = excluded.files,
        commit_sha = excluded.commit_sha, deployed_at = excluded.deployed_at, images = excluded.images,
        compose = COALESCE(excluded.compose, deployed_state.compose)`),
    deleteDeployedState: db.prepare<[string]>('DELETE FROM deployed_state WHERE service = ?'),
    interruptDeployments: db.prepare(`UPDATE deployments SET status = 'interrupted', error_code = 'DEPLOYMENT_INTERRUPTED',
      error = @error, finished_at = @now WHERE status IN ('queued', 'running')
        OR (status = 'handed-off' AND started_at < @staleBefore)`),
    // Runs that were executing when the process died. Runs still `queued` never started: they
    // stay queued and the next instance carries them out under their own id.
    failRuns: db.prepare(`UPDATE runs SET status = 'failed', error_code = 'DEPLOYMENT_INTERRUPTED',
      error = @error, finished_at = @now WHERE status = 'running'
        AND id NOT IN (SELECT run_id FROM deployments WHERE status = 'handed-off')
      RETURNING "trigger" AS "trigger", service, target`),
    queuedRuns: db.prepare<[], RunRow>(`SELECT * FROM runs WHERE status = 'queued' ORDER BY rowid`),
    pruneDeliveries: db.prepare<{ notBefore: string }>('DELETE FROM webhook_deliveries WHERE seen_at < @notBefore'),
    // After the prune, a row left for the key means a repeat within the window: the insert is ignored.
    insertDelivery: db.prepare<{ key: string; at: string }>(
      'INSERT INTO webhook_deliveries (key, seen_at) VALUES (@key, @at) ON CONFLICT (key) DO NOTHING'),
  };

  // deployed_state is deliberately left alone: an interrupted deployment never wrote it, so the
  // next run still sees the service as changed and deploys it again.
  const recover = db.transaction((now: string, staleBefore: string): RecoveredWork => {
    const error = errorCatalog.DEPLOYMENT_INTERRUPTED.message;
    const deployments = statements.interruptDeployments.run({ error, now, staleBefore }).changes;
    // RETURNING gives no order; sorted so recovery retries in a stable order.
    // A target only where a run has one (rollback-service), so other retries read as before.
    const runs = (statements.failRuns.all({ error, now }) as RecoveredWork['runs']).map(({ target, ...run }) => (target ? { ...run, target } : run)).sort(
      (a, b) => a.trigger.localeCompare(b.trigger) || (a.service ?? '').localeCompare(b.service ?? ''),
    );
    const queued = statements.queuedRuns.all().map(toRun);
    return { deployments, runs, queued };
  });

  const rememberDelivery = db.transaction((key: string, at: string, notBefore: string): boolean => {
    statements.pruneDeliveries.run({ notBefore });
    return statements.insertDelivery.run({ key, at }).changes === 1;
  });

  const recordSuccess = db.transaction((deploymentId: string, patch: DeploymentPatch, state: DeployedState, pin?: ServicePin) => {
    // The inputs a success put in place stay on its record: a later rollback can deploy them again.
    updateDeployment(deploymentId, patch.status === 'succeeded' ? { fingerprint: state.fingerprint, files: state.files, ...patch } : patch);
    saveDeployedState(state);
    // A deployment of what git says ends a pin; a rollback sets one.
    if (pin) statements.savePin.run(pin);
    else statements.deletePin.run(state.service);
  });

  // The tombstone and the end of the service's deployed state together: a crash in between would
  // either forget the service (containers left running) or take it down again next run.
  const recordPrune = db.transaction((deploymentId: string, patch: DeploymentPatch, service: string) => {
    updateDeployment(deploymentId, patch);
    statements.deleteDeployedState.run(service);
    statements.deletePin.run(service);
  });

  function updateDeployment(id: string, patch: DeploymentPatch): void {
    const stored: Record<string, unknown> = { ...patch };
    if (patch.output !== undefined) stored.output = boundOutput(patch.output, maxOutputBytes);
    for (const key of ['imagesBefore', 'imagesAfter', 'handoff', 'files'] as const) {
      const value = patch[key];
      if (value !== undefined) stored[key] = value === null ? null : JSON.stringify(value);
    }
    const { changes } = statements.updateDeployment.run(patchParams(id, stored, DEPLOYMENT_PATCH_COLUMNS));
    if (changes === 0) throw new AppError('INTERNAL', `No deployment has id ${id}`);
  }

  function saveDeployedState(state: DeployedState): void {
    statements.saveDeployedState.run({
      service: state.service, fingerprint: state.fingerprint, files: JSON.stringify(state.files),
      commit: state.commit, deployedAt: state.deployedAt, images: JSON.stringify(state.images),
      compose: state.compose ? JSON.stringify(state.compose) : null,
    });
  }

  return guardStore({
    createRun(input) {
      const at = clock.now();
      const id = makeId('r_', at);
      statements.insertRun.run({ id, trigger: input.trigger, service: input.service, origin: input.origin ?? 'webhook', createdAt: at.toISOString(), target: input.target ?? null });
      return toRun(statements.getRun.get(id)!);
    },
    updateRun(id, patch) {
      const { changes } = statements.updateRun.run(patchParams(id, patch, RUN_PATCH_COLUMNS));
      if (changes === 0) throw new AppError('RUN_NOT_FOUND', `No run has id ${id}`);
    },
    getRun(id) {
      const row = statements.getRun.get(id);
      return row === undefined ? undefined : toRun(row);
    },
    createDeployment(input) {
      const at = clock.now();
      const id = makeId('d_', at);
      statements.insertDeployment.run({ ...input, id, createdAt: at.toISOString() });
      return toDeployment(statements.getDeployment.get(id)!);
    },
    updateDeployment,
    getDeployment(id) {
      const row = statements.getDeployment.get(id);
      return row === undefined ? undefined : toDeployment(row);
    },
    handedOffDeployments() {
      return statements.handedOff.all().map(toDeployment);
    },
    listDeployments(runId) {
      return statements.listDeployments.all(runId).map(toDeployment);
    },
    lastDeployments() {
      return new Map(statements.lastDeployments.all().map((row) => [row.service, toDeployment(row)]));
    },
    listRuns({ limit, before }) {
      return page(statements.listRuns.all({ limit: limit + 1, before: before ?? null }), limit, (row): RunSummaryRecord => {
        const counts = { deployed: 0, succeeded: 0, failed: 0, skipped: 0 };
        const services = new Set<string>();
        for (const group of statements.runCounts.all(row.id)) {
          if (group.action === 'skip') {
            counts.skipped += group.n;
            continue;
          }
          counts.deployed += group.n;
          if (group.status === 'succeeded') counts.succeeded += group.n;
          if (FAILED_DEPLOYMENT_STATUSES.has(group.status)) counts.failed += group.n;
          for (const name of (group.services ?? '').split('\n')) if (name && services.size < 20) services.add(name);
        }
        return { ...toRun(row), counts, services: [...services].sort() };
      });
    },
    listServiceDeployments(service, { limit, before }) {
      return page(statements.listServiceDeployments.all({ service, limit: limit + 1, before: before ?? null }), limit, toDeployment);
    },
    previousDeploymentStatus(service, deploymentId) {
      return statements.previousStatus.get({ service, id: deploymentId })?.status ?? null;
    },
    appendRunEvent(runId, type, data) {
      const { lastInsertRowid } = statements.insertEvent.run({ runId, type, data: JSON.stringify(data) });
      return { id: Number(lastInsertRowid), runId, type, data };
    },
    listRunEvents(runId, afterId, limit) {
      return statements.listEvents
        .all({ runId, after: afterId, limit })
        .map((row) => ({ id: row.id, runId: row.run_id, type: row.type, data: JSON.parse(row.data) as Record<string, unknown> }));
    },
    pruneRunEvents(keepRuns) {
      statements.pruneEvents.run({ keep: keepRuns });
    },
    getDeployedState(service) {
      const row = statements.getDeployedState.get(service);
      return row === undefined ? undefined : toDeployedState(row);
    },
    listDeployedStates() {
      return statements.listDeployedStates.all().map(toDeployedState);
    },
    saveDeployedState,
    getPin(service) {
      const row = statements.getPin.get(service);
      return row ? toPin(row) : undefined;
    },
    listPins() {
      return statements.listPins.all().map(toPin);
    },
    deletePin(service) {
      return statements.deletePin.run(service).changes > 0;
    },
    getDriftBaseline(service) {
      const row = statements.getDriftBaseline.get(service);
      return row ? { deployedAt: row.deployed_at, configHashes: JSON.parse(row.config_hashes) as Record<string, string> } : undefined;
    },
    saveDriftBaseline(service, deployedAt, configHashes) {
      statements.saveDriftBaseline.run({ service, deployedAt, configHashes: JSON.stringify(configHashes) });
    },
    recordSuccess(deploymentId, patch, state, pin) {
      recordSuccess(deploymentId, patch, state, pin);
    },
    recordPrune(deploymentId, patch, service) {
      recordPrune(deploymentId, patch, service);
    },
    recoverInterrupted(now, staleHandoffBefore) {
      // Without a cutoff no handoff is stale ('' sorts before every timestamp).
      return recover(now, staleHandoffBefore ?? '');
    },
    rememberDelivery(key, at, notBefore) {
      return rememberDelivery(key, at, notBefore);
    },
    close() {
      if (db.open) db.close();
    },
  });
}

/**
 * Every failure of the database (a full disk: SQLITE_FULL, an I/O error, a closed handle) leaves
 * the store as STORE_FAILED, a catalogued error the pipeline records where it still can; the
 * server keeps answering. Errors of the catalog pass as they are.
 */
function guardStore(store: Store): Store {
  const guarded = {} as Record<string, unknown>;
  for (const [name, method] of Object.entries(store) as Array<[string, (...args: unknown[]) => unknown]>) {
    guarded[name] = (...args: unknown[]) => {
      try {
        return method(...args);
      } catch (error) {
        if (error instanceof AppError) throw error;
        const code = (error as { code?: unknown }).code;
        throw new AppError('STORE_FAILED', `The state database failed${typeof code === 'string' ? ` (${code})` : ''}: ${(error as Error).message}`, { cause: error });
      }
    };
  }
  return guarded as unknown as Store;
}
