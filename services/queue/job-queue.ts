import type { ErrorCode } from '../../core/errors.ts';
import { DocentError, isDocentError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Payload of an `ingest` job: parse, chunk and embed one uploaded document. */
export interface IngestPayload {
  readonly documentId: string;
  readonly collection: string;
  /** The uploaded file name, shown in citations. */
  readonly sourceName: string;
  /** Reference returned by `BlobStore.put` for the uploaded bytes. */
  readonly blobRef: string;
  /** Media type declared by the uploader, as a hint for the parser only. */
  readonly declaredType?: string;
  readonly metadata: { readonly [key: string]: JsonValue };
  /** Embedder id of the collection when the job was added; the worker embeds with it. */
  readonly embedder?: string;
}

export interface DeletePayload {
  readonly documentId: string;
}

/** Payload of a `reindex` job. Without `collection`, every collection is reindexed. */
export interface ReindexPayload {
  readonly collection?: string;
  /** Embedder spec to switch to, e.g. `transformers:Xenova/bge-small-en-v1.5`, else the configured one. */
  readonly embedder?: string;
}

/**
 * Payload of an `apply` job: a prepared result that the owner of the database and the dense
 * index writes. `data` is small or names a blob (`resultRef`) holding the bulk of it.
 */
export interface ApplyPayload {
  /** Kind of result to apply, e.g. `ingest-result`, which the apply handler dispatches on. */
  readonly kind: string;
  readonly documentId?: string;
  /** Id of the job whose result this applies, e.g. the `ingest` job. */
  readonly sourceJobId?: string;
  readonly resultRef?: string;
  readonly data?: JsonValue;
}

export interface JobPayloads {
  ingest: IngestPayload;
  delete: DeletePayload;
  reindex: ReindexPayload;
  apply: ApplyPayload;
}

export type JobType = keyof JobPayloads;

export const JOB_TYPES: readonly JobType[] = ['ingest', 'delete', 'reindex', 'apply'];

/**
 * Lanes are the units that workers consume, in the order jobs were added (a retried job goes
 * back to its lane after its backoff delay). `ingest` jobs do the heavy work and may run on
 * any machine. `apply`, `delete` and `reindex` change the database and the dense index, so
 * they share the `owner` lane, which the one process owning those stores consumes.
 * In Redis mode each lane is one BullMQ queue.
 */
export const JOB_LANES = {
  ingest: ['ingest'],
  owner: ['apply', 'delete', 'reindex'],
} as const satisfies Record<string, readonly JobType[]>;

export type JobLane = keyof typeof JOB_LANES;

export const LANE_OF_TYPE: Readonly<Record<JobType, JobLane>> = {
  ingest: 'ingest',
  apply: 'owner',
  delete: 'owner',
  reindex: 'owner',
};

export type JobState = 'waiting' | 'active' | 'completed' | 'failed' | 'delayed';

export const JOB_STATES: readonly JobState[] = ['waiting', 'active', 'completed', 'failed', 'delayed'];

/** Chunks (or other units) done out of the total. */
export interface JobProgress {
  readonly done: number;
  readonly total: number;
}

/** A snapshot of one job as stored by the queue. Times are milliseconds since the Unix epoch. */
export type JobInfo = {
  [T in JobType]: {
    readonly id: string;
    readonly type: T;
    readonly payload: JobPayloads[T];
    readonly state: JobState;
    readonly progress: JobProgress | null;
    /**
     * Attempts that ended, in failure or success. An attempt cut short by a crash counts in
     * embedded mode; in Redis mode BullMQ's stalled-job check reruns it without counting.
     */
    readonly attemptsMade: number;
    readonly maxAttempts: number;
    /**
     * The handler's return value once completed, else null. In Redis mode a result above
     * 64 KiB of JSON is kept in the blob store: `get` loads it, while `list` returns the stub
     * `{ "$docentBlobRef": "sha256:..." }` (see `blobRefOfResult`) to stay cheap.
     */
    readonly result: JsonValue;
    /** Message of the last failed attempt, if any; a job that completed after a retry keeps it. */
    readonly failedReason: string | null;
    /** DocentError code of the last error, or INTERNAL for other errors. */
    readonly failedCode: ErrorCode | null;
    readonly createdAt: number;
    readonly startedAt: number | null;
    readonly finishedAt: number | null;
  };
}[JobType];

/** A job as its handler receives it. `attempt` counts from 1. */
export type RunningJob = {
  [T in JobType]: {
    readonly id: string;
    readonly type: T;
    readonly payload: JobPayloads[T];
    readonly attempt: number;
    readonly maxAttempts: number;
  };
}[JobType];

export interface JobContext {
  /** Stores and broadcasts progress. `done` and `total` are non-negative integers with done <= total. */
  updateProgress(progress: JobProgress): Promise<void>;
  /** Signal aborted when shutdown runs out of time. The job then goes back to its lane for a later run. */
  readonly signal: AbortSignal;
  /** Child logger carrying `jobId` and `jobType`. */
  readonly logger: Logger;
}

/**
 * Runs one job and returns its result as JSON. A DocentError with a code in
 * PERMANENT_ERROR_CODES fails the job at once. Any other error is retried with exponential
 * backoff until the job's attempts run out.
 */
export type JobHandler = (job: RunningJob, context: JobContext) => Promise<JsonValue | undefined>;

export interface ProcessOptions {
  /** Max jobs of these types running at once in this process. 1 keeps a lane strictly in order. */
  readonly concurrency: number;
}

export interface AddOptions {
  /**
   * Caller-chosen id that makes `add` idempotent: while a job with this id is stored, adding
   * it again returns the stored job unchanged. Letters, digits, `.`, `_` and `-`, not digits only.
   */
  readonly jobId?: string;
}

export interface ListOptions {
  readonly state?: JobState;
  readonly type?: JobType;
  /** Max jobs returned, most recently created first: 100 by default, at most 1000. */
  readonly limit?: number;
}

export type JobCounts = Record<JobState, number>;

export type JobEvent =
  | { readonly kind: 'active'; readonly jobId: string }
  | { readonly kind: 'progress'; readonly jobId: string; readonly progress: JobProgress }
  | { readonly kind: 'completed'; readonly jobId: string }
  /** An attempt failed with a transient error, so the job runs again after its backoff delay. */
  | { readonly kind: 'retrying'; readonly jobId: string; readonly reason: string }
  /** The job failed for good: a permanent error, or its attempts ran out. */
  | { readonly kind: 'failed'; readonly jobId: string; readonly reason: string; readonly code: ErrorCode };

export type JobEventListener = (event: JobEvent) => void;

/**
 * A persistent job queue. The embedded implementation keeps jobs in SQLite inside one process.
 * The BullMQ one keeps them in Redis, so that workers on other machines can take `ingest` jobs.
 *
 * A process calls `process` only for the lanes it should run: the owner of the database calls
 * it for `apply`, `delete` and `reindex`, a remote worker only for `ingest`.
 */
export interface JobQueue {
  /** Adds a job. Raises QUEUE_UNAVAILABLE within seconds when the backing store cannot be reached. */
  add<T extends JobType>(type: T, payload: JobPayloads[T], options?: AddOptions): Promise<JobInfo>;
  /** Returns the job, or null when no job has this id (removed jobs included). */
  get(id: string): Promise<JobInfo | null>;
  list(options?: ListOptions): Promise<JobInfo[]>;
  counts(): Promise<JobCounts>;
  /**
   * Starts running jobs of `types` with `handler`. The types must cover whole lanes (see
   * JOB_LANES) because a worker takes every job of the lane it consumes. Each lane can be
   * processed once per queue object. Raises INVALID_ARGUMENT or CONFLICT otherwise.
   */
  process(types: readonly JobType[], handler: JobHandler, options: ProcessOptions): void;
  /**
   * Calls `listener` for job events from every process sharing this queue. Resolves once
   * events are flowing; the returned function stops the subscription.
   */
  subscribe(listener: JobEventListener): Promise<() => void>;
  /**
   * Stops taking jobs and waits up to `timeoutMs` (default: the configured shutdown timeout)
   * for running jobs. Jobs still running then get their signal aborted and go back to their
   * lane without counting the attempt. Leaves the database handle or Redis server as it is.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
}

/** Settings shared by both implementations, filled from Config by `index.ts`. */
export interface QueueSettings {
  /** Runs of a job, the first included, before a transient error fails it. */
  readonly attempts: number;
  /** Delay before the first retry in milliseconds, doubled for each further retry. */
  readonly backoffMs: number;
  readonly shutdownTimeoutMs: number;
  readonly logger: Logger;
}

/** Completed jobs kept per lane for `get` and `list`. Older ones are removed. */
export const COMPLETED_JOBS_KEPT = 1000;
/** Failed jobs kept per lane, so that their reasons can still be read. */
export const FAILED_JOBS_KEPT = 5000;

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;

/** Errors that will fail the same way on every run, so the job fails at once without retries. */
export const PERMANENT_ERROR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'EMPTY_DOCUMENT',
  'UNDECODABLE_TEXT',
  'ENCRYPTED_DOCUMENT',
  'NEEDS_OCR',
  'PARSE_FAILED',
  'PARSE_LIMIT_EXCEEDED',
  'UNSUPPORTED_MEDIA_TYPE',
  'INVALID_ARGUMENT',
  'NOT_FOUND',
]);

export function isPermanentError(error: unknown): boolean {
  return isDocentError(error) && PERMANENT_ERROR_CODES.has(error.code);
}

export function errorCodeOf(error: unknown): ErrorCode {
  return isDocentError(error) ? error.code : 'INTERNAL';
}

export function errorMessageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Delay before the retry that follows attempt number `attemptsMade` (1-based). */
export function backoffDelay(backoffMs: number, attemptsMade: number): number {
  return backoffMs * 2 ** Math.max(0, attemptsMade - 1);
}

const JOB_ID_PATTERN = /^[A-Za-z0-9._-]{1,200}$/;

/** Raises INVALID_ARGUMENT unless `jobId` is usable as a job id in both implementations. */
export function validateJobId(jobId: string): void {
  if (!JOB_ID_PATTERN.test(jobId) || /^\d+$/.test(jobId)) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      `Invalid job id ${JSON.stringify(jobId)}: use 1 to 200 letters, digits, '.', '_' or '-', not digits only.`,
    );
  }
}

export function validateJobType(type: string): asserts type is JobType {
  if (!(JOB_TYPES as readonly string[]).includes(type)) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      `Unknown job type ${JSON.stringify(type)}: use one of ${JOB_TYPES.join(', ')}.`,
    );
  }
}

export function validateProgress(progress: JobProgress): void {
  const { done, total } = progress;
  if (!Number.isInteger(done) || !Number.isInteger(total) || done < 0 || total < 0 || done > total) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      `Invalid job progress ${JSON.stringify(progress)}: done and total must be integers with 0 <= done <= total.`,
    );
  }
}

export function resolveListLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      `Invalid list limit ${limit}: use an integer from 1 to ${MAX_LIST_LIMIT}.`,
    );
  }
  return limit;
}

/**
 * Checks the arguments of `JobQueue.process` and returns the lanes they cover. `taken` contains
 * the lanes this queue object already processes.
 */
export function resolveProcessLanes(
  types: readonly JobType[],
  options: ProcessOptions,
  taken: ReadonlySet<JobLane>,
): JobLane[] {
  if (types.length === 0) {
    throw new DocentError('INVALID_ARGUMENT', 'process() needs at least one job type.');
  }
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      `Invalid concurrency ${options.concurrency}: use an integer of at least 1.`,
    );
  }
  for (const type of types) validateJobType(type);

  const lanes = [...new Set(types.map((type) => LANE_OF_TYPE[type]))];
  for (const lane of lanes) {
    const missing = JOB_LANES[lane].filter((type) => !types.includes(type));
    if (missing.length > 0) {
      throw new DocentError(
        'INVALID_ARGUMENT',
        `process() must also handle ${missing.join(', ')}: the '${lane}' lane holds ${JOB_LANES[lane].join(', ')} and one worker takes all of its jobs in order.`,
      );
    }
    if (taken.has(lane)) {
      throw new DocentError('CONFLICT', `The '${lane}' lane is already processed by this queue.`);
    }
  }
  return lanes;
}

/** Waits at most `timeoutMs` for `work` to settle and returns whether it did. */
export async function settlesWithin(work: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([
      work.then(
        () => true as const,
        () => true as const,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
