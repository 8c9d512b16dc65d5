import path from 'node:path';
import type { Database } from 'better-sqlite3';
import type { Config } from '../../core/config.ts';
import { DocentError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { BlobStore } from './blob-store.ts';
import { FileBlobStore, RedisBlobStore } from './blob-store.ts';
import { BullmqJobQueue } from './bullmq-queue.ts';
import { EmbeddedJobQueue } from './embedded-queue.ts';
import type { JobQueue } from './job-queue.ts';
import { openCommandConnection } from './redis-connection.ts';

export type { BlobStore } from './blob-store.ts';
export { blobRefOfResult, RESULT_BLOB_KEY } from './bullmq-queue.ts';
export type {
  AddOptions,
  ApplyPayload,
  DeletePayload,
  IngestPayload,
  JobContext,
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
  ReindexPayload,
  RunningJob,
} from './job-queue.ts';
export { JOB_LANES, JOB_TYPES, PERMANENT_ERROR_CODES, isPermanentError } from './job-queue.ts';

export interface QueueDependencies {
  /** The process's database, required in embedded mode (no REDIS_URL) and unused with Redis. */
  readonly db?: Database;
  readonly logger: Logger;
}

/**
 * Creates the configured job queue: BullMQ on Redis when REDIS_URL is set, otherwise the
 * embedded queue in the `queue_jobs` table of `db`.
 */
export function createJobQueue(config: Config, { db, logger }: QueueDependencies): JobQueue {
  const settings = {
    attempts: config.queue.attempts,
    backoffMs: config.queue.backoffMs,
    shutdownTimeoutMs: config.queue.shutdownTimeoutMs,
    logger: logger.child({ component: 'queue' }),
  };

  if (config.redisUrl !== undefined) {
    return new BullmqJobQueue({
      ...settings,
      redisUrl: config.redisUrl,
      prefix: config.queue.prefix,
      lockMs: config.queue.lockMs,
      blobTtlSeconds: config.queue.blobTtlSeconds,
      blobMaxBytes: config.queue.blobMaxBytes,
    });
  }

  if (db === undefined) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      'The embedded job queue needs the database handle; pass `db`, or set REDIS_URL to use Redis.',
    );
  }
  return new EmbeddedJobQueue({ ...settings, db });
}

/**
 * Creates the blob store matching the job queue: blobs in Redis (with a TTL and a size limit)
 * when REDIS_URL is set, so that remote workers can read them, else files under
 * DOCENT_DATA_DIR/blobs. See blob-store.ts for why.
 */
export function createBlobStore(config: Config, { logger }: { readonly logger: Logger }): BlobStore {
  if (config.redisUrl === undefined) return new FileBlobStore(path.join(config.dataDir, 'blobs'));

  return new RedisBlobStore({
    client: openCommandConnection(config.redisUrl, logger.child({ component: 'blob-store' })),
    ownsClient: true,
    url: config.redisUrl,
    prefix: config.queue.prefix,
    ttlSeconds: config.queue.blobTtlSeconds,
    maxBytes: config.queue.blobMaxBytes,
  });
}
