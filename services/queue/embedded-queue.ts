import { randomUUID } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import type { ErrorCode } from '../../core/errors.ts';
import { DocentError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type {
  AddOptions,
  JobCounts,
  JobEvent,
  JobEventListener,
  JobHandler,
  JobInfo,
  JobLane,
  JobPayloads,
  JobProgress,
  JobQueue,
  JobState,
  JobType,
  JsonValue,
  ListOptions,
  ProcessOptions,
  QueueSettings,
  RunningJob,
} from './job-queue.ts';
import {
  COMPLETED_JOBS_KEPT,
  FAILED_JOBS_KEPT,
  JOB_STATES,
  LANE_OF_TYPE,
  backoffDelay,
  errorCodeOf,
  errorMessageOf,
  isPermanentError,
  resolveListLimit,
  resolveProcessLanes,
  settlesWithin,
  validateJobId,
  validateJobType,
  validateProgress,
} from './job-queue.ts';

export interface EmbeddedQueueOptions extends QueueSettings {
  /** Open database. The queue adds its `queue_jobs` table and never closes the handle, so close the queue first. */
  readonly db: Database;
  /** How often a processing queue looks for jobs that another process added to the database. */
  readonly pollIntervalMs?: number;
}

const DEFAULT_POLL_INTERVAL_MS = 1000;

interface JobRow {
  seq: number;
  id: string;
  type: string;
  lane: string;
  payload: string;
  state: string;
  attempts_made: number;
  max_attempts: number;
  progress: string | null;
  result: string | null;
  failed_reason: string | null;
  failed_code: string | null;
  run_at: number;
  run_token: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

interface LaneWorker {
  readonly lane: JobLane;
  readonly handler: JobHandler;
  readonly concurrency: number;
  readonly running: Map<string, RunningEntry>;
}

interface RunningEntry {
  readonly token: string;
  readonly controller: AbortController;
  done: Promise<void>;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS queue_jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    lane TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts_made INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    progress TEXT,
    result TEXT,
    failed_reason TEXT,
    failed_code TEXT,
    run_at INTEGER NOT NULL,
    run_token TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
  );
  CREATE INDEX IF NOT EXISTS queue_jobs_lane_state ON queue_jobs (lane, state, seq);
  CREATE INDEX IF NOT EXISTS queue_jobs_state ON queue_jobs (state, seq);
`;

const INTERRUPTED_REASON = 'The process stopped while the job was running.';

/**
 * An in-process job queue persisted in SQLite, for a single machine without other services.
 * Jobs survive restarts: when `process` starts a lane, jobs of that lane left active by a
 * process that died go back to waiting with that attempt counted, or fail once their
 * attempts are used up. So only one process may call `process` for a lane of a database.
 * Other processes may add jobs (a command-line upload while the server runs): the processing
 * queue polls for them. Events reach subscribers in the processing process only.
 */
export class EmbeddedJobQueue implements JobQueue {
  private readonly db: Database;
  private readonly settings: QueueSettings;
  private readonly pollIntervalMs: number;
  private readonly logger: Logger;
  private readonly workers = new Map<JobLane, LaneWorker>();
  private readonly listeners = new Set<JobEventListener>();
  private readonly statements: ReturnType<typeof prepareStatements>;
  private pumpScheduled = false;
  private delayTimer: NodeJS.Timeout | undefined;
  private delayTimerAt = Number.POSITIVE_INFINITY;
  private pollTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: EmbeddedQueueOptions) {
    this.db = options.db;
    this.settings = options;
    this.logger = options.logger;
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.db.exec(SCHEMA);
    this.statements = prepareStatements(this.db);
  }

  add<T extends JobType>(type: T, payload: JobPayloads[T], options: AddOptions = {}): Promise<JobInfo> {
    return Promise.resolve().then(() => {
      validateJobType(type);
      if (options.jobId !== undefined) validateJobId(options.jobId);
      if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
        throw new DocentError('INVALID_ARGUMENT', `The payload of a ${type} job must be a JSON object.`);
      }
      if (this.closing) {
        throw new DocentError(
          'QUEUE_UNAVAILABLE',
          'The job queue is shutting down; retry once it has restarted.',
        );
      }

      const id = options.jobId ?? randomUUID();
      const now = Date.now();
      const inserted = this.statements.insert.run({
        id,
        type,
        lane: LANE_OF_TYPE[type],
        payload: JSON.stringify(payload),
        maxAttempts: this.settings.attempts,
        now,
      });
      const row = this.statements.byId.get(id) as JobRow;
      if (inserted.changes > 0) this.schedulePump();
      return toJobInfo(row);
    });
  }

  get(id: string): Promise<JobInfo | null> {
    const row = this.statements.byId.get(id) as JobRow | undefined;
    return Promise.resolve(row === undefined ? null : toJobInfo(row));
  }

  list(options: ListOptions = {}): Promise<JobInfo[]> {
    return Promise.resolve().then(() => {
      const limit = resolveListLimit(options.limit);
      if (options.type !== undefined) validateJobType(options.type);
      if (options.state !== undefined && !JOB_STATES.includes(options.state)) {
        throw new DocentError('INVALID_ARGUMENT', `Unknown job state ${JSON.stringify(options.state)}.`);
      }
      const rows = this.statements.list.all({
        state: options.state ?? null,
        type: options.type ?? null,
        limit,
      }) as JobRow[];
      return rows.map(toJobInfo);
    });
  }

  counts(): Promise<JobCounts> {
    const counts: JobCounts = { waiting: 0, active: 0, completed: 0, failed: 0, delayed: 0 };
    for (const row of this.statements.counts.all() as { state: JobState; count: number }[]) {
      counts[row.state] = row.count;
    }
    return Promise.resolve(counts);
  }

  process(types: readonly JobType[], handler: JobHandler, options: ProcessOptions): void {
    if (this.closing) {
      throw new DocentError('QUEUE_UNAVAILABLE', 'The job queue is shutting down; it takes no new workers.');
    }
    const lanes = resolveProcessLanes(types, options, new Set(this.workers.keys()));
    for (const lane of lanes) {
      const recovered = this.statements.recoverInterrupted.run({
        reason: INTERRUPTED_REASON,
        now: Date.now(),
        lane,
      });
      if (recovered.changes > 0) {
        this.logger.warn({ lane, jobs: recovered.changes }, 'Requeued jobs interrupted by the last shutdown');
      }
      this.workers.set(lane, { lane, handler, concurrency: options.concurrency, running: new Map() });
    }

    if (this.pollTimer === undefined) {
      // Unreferenced, so that polling alone does not keep the process alive.
      this.pollTimer = setInterval(() => this.schedulePump(), this.pollIntervalMs).unref();
    }
    this.schedulePump();
  }

  subscribe(listener: JobEventListener): Promise<() => void> {
    this.listeners.add(listener);
    return Promise.resolve(() => {
      this.listeners.delete(listener);
    });
  }

  close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closing ??= this.shutDown(options.timeoutMs ?? this.settings.shutdownTimeoutMs);
    return this.closing;
  }

  private async shutDown(timeoutMs: number): Promise<void> {
    clearTimeout(this.delayTimer);
    clearInterval(this.pollTimer);
    this.delayTimer = undefined;

    const entries = [...this.workers.values()].flatMap((worker) => [...worker.running.entries()]);
    const allDone = Promise.all(entries.map(([, entry]) => entry.done));
    if (await settlesWithin(allDone, timeoutMs)) return;

    // Hand the unfinished jobs back first, so that a handler ignoring its signal cannot
    // complete them afterwards: every later write checks the run token.
    const reason = new DocentError(
      'CANCELLED',
      `Shutdown timed out after ${timeoutMs} ms; the job will run again.`,
    );
    for (const [id, entry] of entries) {
      const requeued = this.statements.requeue.run(id, entry.token);
      if (requeued.changes > 0) {
        this.logger.warn({ jobId: id, timeoutMs }, 'Shutdown timed out; requeued the running job');
      }
      entry.controller.abort(reason);
    }
  }

  /** Claims and starts jobs on the next turn of the event loop, once per turn. */
  private schedulePump(): void {
    if (this.pumpScheduled || this.closing) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.closing) return;
    const now = Date.now();
    this.statements.promoteDelayed.run(now);

    for (const worker of this.workers.values()) {
      while (worker.running.size < worker.concurrency) {
        const row = this.claimNext(worker.lane, now);
        if (row === undefined) break;
        this.startJob(worker, row);
      }
    }
    this.armDelayTimer();
  }

  private claimNext(lane: JobLane, now: number): JobRow | undefined {
    return this.db.transaction(() => {
      const row = this.statements.nextWaiting.get(lane) as JobRow | undefined;
      if (row === undefined) return undefined;
      const token = randomUUID();
      this.statements.claim.run(token, now, row.seq);
      return { ...row, state: 'active', run_token: token, started_at: now };
    })();
  }

  /** Wakes the pump when the earliest delayed retry is due. */
  private armDelayTimer(): void {
    if (this.workers.size === 0) return;
    const next = (this.statements.nextDelayed.get() as { runAt: number | null }).runAt;
    if (next === null || next >= this.delayTimerAt) return;

    clearTimeout(this.delayTimer);
    this.delayTimerAt = next;
    this.delayTimer = setTimeout(
      () => {
        this.delayTimerAt = Number.POSITIVE_INFINITY;
        this.delayTimer = undefined;
        this.schedulePump();
      },
      Math.max(0, next - Date.now()),
    );
  }

  private startJob(worker: LaneWorker, row: JobRow): void {
    const token = row.run_token as string;
    const entry: RunningEntry = { token, controller: new AbortController(), done: Promise.resolve() };
    worker.running.set(row.id, entry);
    entry.done = this.runJob(worker, row, entry).finally(() => {
      worker.running.delete(row.id);
      this.schedulePump();
    });
  }

  private async runJob(worker: LaneWorker, row: JobRow, entry: RunningEntry): Promise<void> {
    const job = toRunningJob(row);
    const logger = this.logger.child({ jobId: job.id, jobType: job.type, attempt: job.attempt });
    this.emit({ kind: 'active', jobId: job.id });

    const context = {
      signal: entry.controller.signal,
      logger,
      updateProgress: (progress: JobProgress): Promise<void> => {
        validateProgress(progress);
        const updated = this.statements.progress.run(JSON.stringify(progress), job.id, entry.token);
        if (updated.changes > 0) this.emit({ kind: 'progress', jobId: job.id, progress });
        return Promise.resolve();
      },
    };

    let result: string;
    try {
      result = JSON.stringify((await worker.handler(job, context)) ?? null);
    } catch (error) {
      this.recordFailure(job, entry, error, logger);
      return;
    }

    const completed = this.statements.complete.run(result, Date.now(), job.id, entry.token);
    if (completed.changes === 0) return;
    this.statements.prune.run({ lane: worker.lane, state: 'completed', keep: COMPLETED_JOBS_KEPT });
    this.emit({ kind: 'completed', jobId: job.id });
  }

  private recordFailure(job: RunningJob, entry: RunningEntry, error: unknown, logger: Logger): void {
    const reason = errorMessageOf(error);
    const code = errorCodeOf(error);
    const now = Date.now();
    const permanent = isPermanentError(error);

    if (permanent || job.attempt >= job.maxAttempts) {
      const failed = this.statements.fail.run(reason, code, now, job.id, entry.token);
      if (failed.changes === 0) return;
      this.statements.prune.run({ lane: LANE_OF_TYPE[job.type], state: 'failed', keep: FAILED_JOBS_KEPT });
      logger.warn({ err: error, permanent }, 'Job failed');
      this.emit({ kind: 'failed', jobId: job.id, reason, code });
      return;
    }

    const delayMs = backoffDelay(this.settings.backoffMs, job.attempt);
    const delayed = this.statements.retryLater.run(reason, code, now + delayMs, job.id, entry.token);
    if (delayed.changes === 0) return;
    logger.warn({ err: error, delayMs }, 'Job attempt failed; retrying after a delay');
    this.emit({ kind: 'retrying', jobId: job.id, reason });
  }

  private emit(event: JobEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error({ err: error, event: event.kind }, 'Job event listener failed');
      }
    }
  }
}

function prepareStatements(db: Database) {
  const statement = (sql: string): Statement => db.prepare(sql);
  return {
    insert: statement(`
      INSERT INTO queue_jobs (id, type, lane, payload, state, max_attempts, run_at, created_at)
      VALUES (@id, @type, @lane, @payload, 'waiting', @maxAttempts, @now, @now)
      ON CONFLICT (id) DO NOTHING`),
    byId: statement('SELECT * FROM queue_jobs WHERE id = ?'),
    list: statement(`
      SELECT * FROM queue_jobs
      WHERE (@state IS NULL OR state = @state) AND (@type IS NULL OR type = @type)
      ORDER BY seq DESC LIMIT @limit`),
    counts: statement('SELECT state, COUNT(*) AS count FROM queue_jobs GROUP BY state'),
    recoverInterrupted: statement(`
      UPDATE queue_jobs SET
        attempts_made = attempts_made + 1,
        state = CASE WHEN attempts_made + 1 >= max_attempts THEN 'failed' ELSE 'waiting' END,
        failed_reason = @reason,
        failed_code = 'INTERNAL',
        finished_at = CASE WHEN attempts_made + 1 >= max_attempts THEN @now ELSE NULL END,
        run_token = NULL
      WHERE state = 'active' AND lane = @lane`),
    promoteDelayed: statement(
      `UPDATE queue_jobs SET state = 'waiting' WHERE state = 'delayed' AND run_at <= ?`,
    ),
    nextWaiting: statement(
      `SELECT * FROM queue_jobs WHERE lane = ? AND state = 'waiting' ORDER BY seq LIMIT 1`,
    ),
    nextDelayed: statement(`SELECT MIN(run_at) AS runAt FROM queue_jobs WHERE state = 'delayed'`),
    claim: statement(`UPDATE queue_jobs SET state = 'active', run_token = ?, started_at = ? WHERE seq = ?`),
    progress: statement(
      `UPDATE queue_jobs SET progress = ? WHERE id = ? AND state = 'active' AND run_token = ?`,
    ),
    complete: statement(`
      UPDATE queue_jobs SET state = 'completed', result = ?, finished_at = ?,
        attempts_made = attempts_made + 1, run_token = NULL
      WHERE id = ? AND state = 'active' AND run_token = ?`),
    fail: statement(`
      UPDATE queue_jobs SET state = 'failed', failed_reason = ?, failed_code = ?, finished_at = ?,
        attempts_made = attempts_made + 1, run_token = NULL
      WHERE id = ? AND state = 'active' AND run_token = ?`),
    retryLater: statement(`
      UPDATE queue_jobs SET state = 'delayed', failed_reason = ?, failed_code = ?, run_at = ?,
        attempts_made = attempts_made + 1, run_token = NULL
      WHERE id = ? AND state = 'active' AND run_token = ?`),
    requeue: statement(`
      UPDATE queue_jobs SET state = 'waiting', run_token = NULL
      WHERE id = ? AND state = 'active' AND run_token = ?`),
    prune: statement(`
      DELETE FROM queue_jobs WHERE lane = @lane AND state = @state AND seq <= (
        SELECT seq FROM queue_jobs WHERE lane = @lane AND state = @state
        ORDER BY seq DESC LIMIT 1 OFFSET @keep)`),
  };
}

function toRunningJob(row: JobRow): RunningJob {
  return {
    id: row.id,
    type: row.type,
    payload: JSON.parse(row.payload) as unknown,
    attempt: row.attempts_made + 1,
    maxAttempts: row.max_attempts,
  } as RunningJob;
}

function toJobInfo(row: JobRow): JobInfo {
  return {
    id: row.id,
    type: row.type,
    payload: JSON.parse(row.payload) as unknown,
    state: row.state as JobState,
    progress: row.progress === null ? null : (JSON.parse(row.progress) as JobProgress),
    attemptsMade: row.attempts_made,
    maxAttempts: row.max_attempts,
    result: row.result === null ? null : (JSON.parse(row.result) as JsonValue),
    failedReason: row.failed_reason,
    failedCode: row.failed_code as ErrorCode | null,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  } as JobInfo;
}
