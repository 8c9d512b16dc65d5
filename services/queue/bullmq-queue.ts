import { randomUUID } from 'node:crypto';
import type { Job, JobType as BullJobState, RedisOptions } from 'bullmq';
import { Queue, QueueEvents, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ErrorCode } from '../../core/errors.ts';
import { DocentError, errorStatus } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { BlobStore } from './blob-store.ts';
import {
  describeRedisUrl,
  openCommandConnection,
  reconnectingOptions,
  throttledErrorLog,
  whenReady,
} from './redis-connection.ts';
import { RedisBlobStore } from './blob-store.ts';
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
  JOB_LANES,
  JOB_STATES,
  LANE_OF_TYPE,
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

export interface BullmqQueueOptions extends QueueSettings {
  /** `redis://[user:password@]host:port[/db]`. */
  readonly redisUrl: string;
  /** Prefix of every Redis key. Queues live under `<prefix>:<lane>`. */
  readonly prefix: string;
  /** Lifetime of results moved to the blob store, in seconds. */
  readonly blobTtlSeconds: number;
  readonly blobMaxBytes: number;
  /** Size in bytes above which a result's JSON is kept in the blob store, 64 KiB by default. */
  readonly inlineResultMaxBytes?: number;
  /** Time `add` waits for Redis before raising QUEUE_UNAVAILABLE, 3000 ms by default. */
  readonly addTimeoutMs?: number;
  /** Lock of a running job and interval of the stalled-job check in ms, BullMQ's 30000 by default. */
  readonly lockMs?: number;
}

/**
 * Key under which a stored job result names its blob. Keeping multi-megabyte results out of
 * the job hash also keeps them out of BullMQ's event stream, which copies every return value.
 */
export const RESULT_BLOB_KEY = '$docentBlobRef';

const DEFAULT_INLINE_RESULT_MAX_BYTES = 64 * 1024;
const DEFAULT_ADD_TIMEOUT_MS = 3000;
/** Events kept per lane in Redis, for subscribers that fall behind. */
const EVENTS_KEPT = 2000;

const BULL_STATES: Record<JobState, BullJobState[]> = {
  waiting: ['waiting', 'prioritized'],
  active: ['active'],
  completed: ['completed'],
  failed: ['failed'],
  delayed: ['delayed'],
};

/** State that the processor of one lane shares with `close`. */
interface LaneState {
  readonly running: Map<string, { done: Promise<unknown> }>;
  /** Set once close starts: jobs fetched from now on go straight back to the lane. */
  closing: boolean;
  /** Set once close times out: aborted jobs go back to the lane instead of failing. */
  handingBack: boolean;
}

interface LaneWorker {
  readonly worker: Worker;
  readonly state: LaneState;
}

/**
 * The JobQueue on Redis through BullMQ, for deployments where `ingest` workers run on other
 * machines. Each lane is one BullMQ queue; the BullMQ retry and backoff settings implement
 * the retry policy, and UnrecoverableError implements permanent failures.
 */
export class BullmqJobQueue implements JobQueue {
  private readonly options: BullmqQueueOptions;
  private readonly logger: Logger;
  /** Connection for adding and reading jobs: without an offline queue, commands fail at once while Redis is away. */
  private readonly client: Redis;
  private readonly blobs: BlobStore;
  private readonly queues: Record<JobLane, Queue>;
  private readonly workers = new Map<JobLane, LaneWorker>();
  private readonly listeners = new Set<JobEventListener>();
  private queueEvents: Promise<QueueEvents[]> | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: BullmqQueueOptions) {
    this.options = options;
    this.logger = options.logger;
    this.client = openCommandConnection(options.redisUrl, this.logger);
    this.blobs = new RedisBlobStore({
      client: this.client,
      url: options.redisUrl,
      prefix: options.prefix,
      ttlSeconds: options.blobTtlSeconds,
      maxBytes: options.blobMaxBytes,
    });

    const defaultJobOptions = {
      attempts: options.attempts,
      backoff: { type: 'exponential', delay: options.backoffMs },
      removeOnComplete: { count: COMPLETED_JOBS_KEPT },
      removeOnFail: { count: FAILED_JOBS_KEPT },
    };
    const makeQueue = (lane: JobLane): Queue => {
      const queue = new Queue(lane, {
        connection: this.client,
        prefix: options.prefix,
        defaultJobOptions,
        streams: { events: { maxLen: EVENTS_KEPT } },
      });
      queue.on('error', throttledErrorLog(this.logger, `BullMQ queue '${lane}' failed`));
      return queue;
    };
    this.queues = { ingest: makeQueue('ingest'), owner: makeQueue('owner') };
  }

  async add<T extends JobType>(type: T, payload: JobPayloads[T], options: AddOptions = {}): Promise<JobInfo> {
    validateJobType(type);
    if (options.jobId !== undefined) validateJobId(options.jobId);
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      throw new DocentError('INVALID_ARGUMENT', `The payload of a ${type} job must be a JSON object.`);
    }
    await this.assertAvailable();

    // BullMQ numbers jobs per queue, but `get` searches all lanes, so ids must be unique across them.
    const queue = this.queues[LANE_OF_TYPE[type]];
    const jobId = options.jobId ?? randomUUID();
    const job = await this.withinTimeout(queue.add(type, payload, { jobId }), `add a ${type} job`);
    if (options.jobId === undefined) return this.toJobInfo(job, 'waiting', false);

    // BullMQ returns the data just passed even when the id already existed, so read what is stored.
    const stored = await this.get(options.jobId);
    if (stored === null) {
      throw new DocentError(
        'QUEUE_UNAVAILABLE',
        `Job ${options.jobId} vanished right after it was added; retry.`,
      );
    }
    return stored;
  }

  async get(id: string): Promise<JobInfo | null> {
    await this.assertAvailable();

    // Read the state before the job: a job read first could finish in between and then show a
    // final state without its result or reason.
    const lanes = Object.values(this.queues);
    const states = await this.withinTimeout(
      Promise.all(lanes.map((queue) => queue.getJobState(id))),
      `read job ${id}`,
    );
    const index = states.findIndex((state) => state !== 'unknown');
    const queue = lanes[index];
    const state = states[index];
    if (queue === undefined || state === undefined) return null;

    const job = await this.withinTimeout(queue.getJob(id), `read job ${id}`);
    if (job === undefined) return null;
    return this.toJobInfo(job as Job, toJobState(state), true);
  }

  async list(options: ListOptions = {}): Promise<JobInfo[]> {
    const limit = resolveListLimit(options.limit);
    if (options.type !== undefined) validateJobType(options.type);
    if (options.state !== undefined && !JOB_STATES.includes(options.state)) {
      throw new DocentError('INVALID_ARGUMENT', `Unknown job state ${JSON.stringify(options.state)}.`);
    }
    await this.assertAvailable();

    const lanes =
      options.type === undefined ? (Object.keys(this.queues) as JobLane[]) : [LANE_OF_TYPE[options.type]];
    const states = options.state === undefined ? JOB_STATES : [options.state];
    const batches = await this.withinTimeout(
      Promise.all(
        lanes.flatMap((lane) =>
          states.map(async (state) => {
            const jobs = await this.queues[lane].getJobs(BULL_STATES[state], 0, limit - 1, false);
            return jobs.map((job) => ({ job: job as Job, state }));
          }),
        ),
      ),
      'list jobs',
    );

    // NOTE: with a type filter on the shared owner lane, other types use up part of the
    // limit, so fewer than `limit` jobs may return although more exist.
    const found = batches
      .flat()
      .filter(({ job }) => options.type === undefined || job.name === options.type)
      .sort((a, b) => b.job.timestamp - a.job.timestamp)
      .slice(0, limit);
    return Promise.all(found.map(({ job, state }) => this.toJobInfo(job, state, false)));
  }

  async counts(): Promise<JobCounts> {
    await this.assertAvailable();
    const perLane = await this.withinTimeout(
      Promise.all(
        Object.values(this.queues).map((queue) =>
          queue.getJobCounts('waiting', 'prioritized', 'active', 'completed', 'failed', 'delayed'),
        ),
      ),
      'count jobs',
    );
    const counts: JobCounts = { waiting: 0, active: 0, completed: 0, failed: 0, delayed: 0 };
    for (const lane of perLane) {
      counts.waiting += (lane.waiting ?? 0) + (lane.prioritized ?? 0);
      counts.active += lane.active ?? 0;
      counts.completed += lane.completed ?? 0;
      counts.failed += lane.failed ?? 0;
      counts.delayed += lane.delayed ?? 0;
    }
    return counts;
  }

  process(types: readonly JobType[], handler: JobHandler, options: ProcessOptions): void {
    if (this.closing) {
      throw new DocentError('QUEUE_UNAVAILABLE', 'The job queue is shutting down; it takes no new workers.');
    }
    const lanes = resolveProcessLanes(types, options, new Set(this.workers.keys()));
    for (const lane of lanes) this.startWorker(lane, handler, options.concurrency);
  }

  async subscribe(listener: JobEventListener): Promise<() => void> {
    if (this.closing) {
      throw new DocentError(
        'QUEUE_UNAVAILABLE',
        'The job queue is shutting down; it takes no new subscribers.',
      );
    }
    this.queueEvents ??= this.startEvents();
    try {
      await this.queueEvents;
    } catch (error) {
      this.queueEvents = undefined;
      throw error;
    }
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closing ??= this.shutDown(options.timeoutMs ?? this.options.shutdownTimeoutMs);
    return this.closing;
  }

  private async shutDown(timeoutMs: number): Promise<void> {
    await Promise.all([...this.workers.values()].map((lane) => this.closeWorker(lane, timeoutMs)));

    // Closing waits for a reconnect while Redis is away, so bound it.
    const closeTimeoutMs = 2000;
    const events = this.queueEvents?.catch(() => [] as QueueEvents[]);
    await settlesWithin(
      Promise.all([
        events?.then((all) => Promise.all(all.map((queueEvents) => queueEvents.close()))),
        ...Object.values(this.queues).map((queue) => queue.close()),
      ]),
      closeTimeoutMs,
    );
    this.client.disconnect();
  }

  private async closeWorker({ worker, state }: LaneWorker, timeoutMs: number): Promise<void> {
    state.closing = true;
    worker.pause(true).catch((error: unknown) => this.logger.warn({ err: error }, 'Pausing a worker failed'));

    const running = (): Promise<unknown> =>
      Promise.all([...state.running.values()].map((entry) => entry.done));
    if (await settlesWithin(running(), timeoutMs)) {
      await settlesWithin(worker.close(), 2000);
      return;
    }

    // Abort the handlers. The processor hands each job back to the lane once its handler stops.
    this.logger.warn(
      { jobs: [...state.running.keys()], timeoutMs },
      'Shutdown timed out; handing running jobs back',
    );
    state.handingBack = true;
    worker.cancelAllJobs(`Shutdown timed out after ${timeoutMs} ms; the job will run again.`);
    const handedBack = await settlesWithin(running(), Math.min(timeoutMs, 1000) + 500);

    // A handler that ignores its signal keeps its job active until the lock expires. BullMQ's
    // stalled-job check then moves it back to waiting.
    await settlesWithin(worker.close(!handedBack), 2000);
  }

  private startWorker(lane: JobLane, handler: JobHandler, concurrency: number): void {
    const state: LaneState = { running: new Map(), closing: false, handingBack: false };

    // BullMQ passes the abort signal only to processors that declare a third parameter.
    const processor = async (job: Job, token?: string, signal?: AbortSignal): Promise<JsonValue> => {
      const done = this.runJob(state, handler, job, token, signal);
      state.running.set(job.id ?? '', { done });
      try {
        return await done;
      } finally {
        state.running.delete(job.id ?? '');
      }
    };
    const worker = new Worker(lane, processor, {
      connection: this.blockingConnectionOptions(),
      prefix: this.options.prefix,
      concurrency,
      ...(this.options.lockMs === undefined
        ? {}
        : { lockDuration: this.options.lockMs, stalledInterval: this.options.lockMs }),
    });
    worker.on('error', throttledErrorLog(this.logger, `BullMQ worker '${lane}' failed`));
    worker.on('failed', (job, error) => {
      if (job === undefined || error instanceof WaitingError) return;
      const final = error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
      this.logger.warn(
        { jobId: job.id, jobType: job.name, attemptsMade: job.attemptsMade, err: error },
        final ? 'Job failed' : 'Job attempt failed; retrying after a delay',
      );
    });
    this.workers.set(lane, { worker, state });
  }

  private async runJob(
    lane: LaneState,
    handler: JobHandler,
    job: Job,
    token: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<JsonValue> {
    if (lane.closing) await this.handBack(job, token);

    const running = {
      id: job.id ?? '',
      type: job.name,
      payload: job.data as unknown,
      attempt: job.attemptsMade + 1,
      maxAttempts: job.opts.attempts ?? 1,
    } as RunningJob;
    const context = {
      signal: signal ?? new AbortController().signal,
      logger: this.logger.child({ jobId: running.id, jobType: running.type, attempt: running.attempt }),
      updateProgress: async (progress: JobProgress): Promise<void> => {
        validateProgress(progress);
        await job.updateProgress({ done: progress.done, total: progress.total });
      },
    };

    let result: JsonValue;
    try {
      result = (await handler(running, context)) ?? null;
    } catch (error) {
      if (lane.handingBack && signal?.aborted === true) await this.handBack(job, token);
      const message = encodeFailure(error);
      throw isPermanentError(error) ? new UnrecoverableError(message) : new Error(message, { cause: error });
    }
    return this.storeResult(result);
  }

  /** Moves an active job back to waiting without counting an attempt. The WaitingError stops BullMQ from moving it again. */
  private async handBack(job: Job, token: string | undefined): Promise<never> {
    await job.moveToWait(token);
    this.logger.info({ jobId: job.id, jobType: job.name }, 'Handed a job back to its lane for a later run');
    throw new WaitingError();
  }

  /** Returns options for the connections BullMQ opens itself. Blocking commands need `maxRetriesPerRequest: null`. */
  private blockingConnectionOptions(): RedisOptions {
    return { url: this.options.redisUrl, ...reconnectingOptions(), maxRetriesPerRequest: null };
  }

  private async storeResult(result: JsonValue): Promise<JsonValue> {
    const json = JSON.stringify(result);
    const limit = this.options.inlineResultMaxBytes ?? DEFAULT_INLINE_RESULT_MAX_BYTES;
    if (Buffer.byteLength(json) <= limit) return result;
    const ref = await this.blobs.put(Buffer.from(json));
    return { [RESULT_BLOB_KEY]: ref };
  }

  private async loadResult(stored: unknown): Promise<JsonValue> {
    if (stored === undefined || stored === null) return null;
    const ref = blobRefOfResult(stored);
    if (ref === undefined) return stored as JsonValue;
    try {
      const bytes = await this.blobs.get(ref);
      return JSON.parse(Buffer.from(bytes).toString('utf8')) as JsonValue;
    } catch (error) {
      if (!(error instanceof DocentError && error.code === 'NOT_FOUND')) throw error;
      // The job itself still exists, so `get` returns it with the stub rather than raising NOT_FOUND.
      this.logger.warn({ err: error, ref }, 'Job result expired from the blob store');
      return stored as JsonValue;
    }
  }

  private async startEvents(): Promise<QueueEvents[]> {
    await this.assertAvailable();
    return Promise.all(
      (Object.keys(JOB_LANES) as JobLane[]).map(async (lane) => {
        // Start after the newest event now in the stream, so that nothing emitted between
        // this call and the first read is lost and nothing older is replayed.
        const eventsKey = `${this.options.prefix}:${lane}:events`;
        const newest = await this.withinTimeout(
          this.client.xrevrange(eventsKey, '+', '-', 'COUNT', 1),
          'subscribe',
        );
        const queueEvents = new QueueEvents(lane, {
          connection: this.blockingConnectionOptions(),
          prefix: this.options.prefix,
          lastEventId: newest[0]?.[0] ?? '0-0',
        });
        queueEvents.on('error', throttledErrorLog(this.logger, `BullMQ events of '${lane}' failed`));
        this.forwardEvents(lane, queueEvents);
        await this.withinTimeout(queueEvents.waitUntilReady(), 'subscribe');
        return queueEvents;
      }),
    );
  }

  private forwardEvents(lane: JobLane, queueEvents: QueueEvents): void {
    queueEvents.on('active', ({ jobId }) => this.emit({ kind: 'active', jobId }));
    queueEvents.on('progress', ({ jobId, data }) => {
      if (isProgress(data))
        this.emit({ kind: 'progress', jobId, progress: { done: data.done, total: data.total } });
    });
    queueEvents.on('completed', ({ jobId }) => this.emit({ kind: 'completed', jobId }));
    queueEvents.on('failed', ({ jobId, failedReason }) => {
      const { reason, code } = decodeFailure(failedReason);
      this.emit({ kind: 'failed', jobId, reason, code });
    });
    // A failed attempt that will be retried moves the job to the delayed set for its backoff.
    queueEvents.on('delayed', ({ jobId }) => {
      this.queues[lane]
        .getJob(jobId)
        .then((job) =>
          this.emit({ kind: 'retrying', jobId, reason: decodeFailure(job?.failedReason).reason }),
        )
        .catch((error: unknown) => this.logger.warn({ err: error, jobId }, 'Reading a retried job failed'));
    });
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

  private async toJobInfo(job: Job, state: JobState, loadBlobResult: boolean): Promise<JobInfo> {
    const failure = job.failedReason ? decodeFailure(job.failedReason) : undefined;
    const result = loadBlobResult
      ? await this.loadResult(job.returnvalue)
      : ((job.returnvalue as JsonValue) ?? null);
    return {
      id: job.id ?? '',
      type: job.name,
      payload: job.data as unknown,
      state,
      progress: isProgress(job.progress) ? { done: job.progress.done, total: job.progress.total } : null,
      attemptsMade: job.attemptsMade,
      maxAttempts: job.opts.attempts ?? 1,
      result,
      failedReason: failure?.reason ?? null,
      failedCode: failure?.code ?? null,
      createdAt: job.timestamp,
      startedAt: job.processedOn ?? null,
      finishedAt: job.finishedOn ?? null,
    } as JobInfo;
  }

  /**
   * Waits up to the add timeout for the connection to be ready, then raises QUEUE_UNAVAILABLE.
   * Commands are sent only on a ready connection, so a rejected `add` never lands later.
   */
  private async assertAvailable(): Promise<void> {
    if (this.closing) {
      throw new DocentError(
        'QUEUE_UNAVAILABLE',
        'The job queue is shutting down; retry once it has restarted.',
      );
    }
    if (this.client.status === 'ready') return;

    await whenReady(this.client, this.options.addTimeoutMs ?? DEFAULT_ADD_TIMEOUT_MS, this.options.redisUrl);
  }

  /** Runs a Redis operation, raising QUEUE_UNAVAILABLE when it fails or outlasts the add timeout. */
  private async withinTimeout<T>(operation: Promise<T>, what: string): Promise<T> {
    const timeoutMs = this.options.addTimeoutMs ?? DEFAULT_ADD_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new DocentError(
              'QUEUE_UNAVAILABLE',
              `Redis at ${describeRedisUrl(this.options.redisUrl)} did not answer within ${timeoutMs} ms to ${what}; retry later.`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([operation, timeout]);
    } catch (error) {
      if (error instanceof DocentError) throw error;
      throw new DocentError('QUEUE_UNAVAILABLE', `Could not ${what} in Redis: ${errorMessageOf(error)}`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Returns the blob reference a stored result points to, if it was moved to the blob store. */
export function blobRefOfResult(stored: unknown): string | undefined {
  if (stored === null || typeof stored !== 'object' || Array.isArray(stored)) return undefined;
  const ref = (stored as Record<string, unknown>)[RESULT_BLOB_KEY];
  return typeof ref === 'string' ? ref : undefined;
}

/** BullMQ stores only an error's message, so the DocentError code travels in front of it. */
function encodeFailure(error: unknown): string {
  return `[${errorCodeOf(error)}] ${errorMessageOf(error)}`;
}

function decodeFailure(failedReason: string | undefined): { reason: string; code: ErrorCode } {
  const match = /^\[([A-Z_]+)\] ([\s\S]*)$/.exec(failedReason ?? '');
  if (match?.[1] !== undefined && match[2] !== undefined && match[1] in errorStatus) {
    return { reason: match[2], code: match[1] as ErrorCode };
  }
  // Failures that BullMQ raises itself, e.g. for a job stalled too often.
  return { reason: failedReason ?? '', code: 'INTERNAL' };
}

function toJobState(state: string): JobState {
  switch (state) {
    case 'active':
    case 'completed':
    case 'failed':
    case 'delayed':
      return state;
    default:
      return 'waiting';
  }
}

function isProgress(value: unknown): value is JobProgress {
  if (value === null || typeof value !== 'object') return false;
  const { done, total } = value as Record<string, unknown>;
  return typeof done === 'number' && typeof total === 'number';
}
