import type { Config } from '../core/config.ts';
import { DocentError, toDocentError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Embedder } from '../ingest/embed/embedder.ts';
import { prepareDocument } from '../ingest/pipeline.ts';
import type { Docent } from './docent.ts';
import { decodePrepared, encodePrepared } from './prepared-codec.ts';
import { PrepareThreadPool } from './prepare-thread.ts';
import type { BlobStore } from './queue/blob-store.ts';
import { createBlobStore, createJobQueue } from './queue/index.ts';
import type {
  ApplyPayload,
  IngestPayload,
  JobContext,
  JobHandler,
  JobInfo,
  JobQueue,
  JsonValue,
  ReindexPayload,
  RunningJob,
} from './queue/job-queue.ts';
import { errorCodeOf, errorMessageOf, isPermanentError } from './queue/job-queue.ts';

/** `ApplyPayload.kind` of a prepared document to write, and of an ingest that failed for good. */
export const APPLY_INGEST_RESULT = 'ingest-result';
export const APPLY_INGEST_FAILED = 'ingest-failed';

/** Start of the reason recorded on a document whose prepared result could not be written. */
const APPLY_FAILED_PREFIX = 'Writing the prepared document to the index failed: ';

/** A failure to record on a document, so that it does not stay `queued` or `processing`. */
export interface IngestFailure {
  readonly documentId: string;
  readonly code: string;
  readonly reason: string;
}

/**
 * Returns the document whose ingest ends with `job` failing for good, with the code and reason
 * to record, or undefined for jobs that ingest no document. Covers `ingest` jobs and the
 * `apply` jobs that write their outcome, including failures that BullMQ raises itself, e.g.
 * for a job that stalled too often.
 */
export function ingestFailureOf(job: JobInfo, code: string, reason: string): IngestFailure | undefined {
  if (job.type === 'ingest') return { documentId: job.payload.documentId, code, reason };
  if (job.type !== 'apply' || job.payload.documentId === undefined) return undefined;

  const documentId = job.payload.documentId;
  if (job.payload.kind === APPLY_INGEST_FAILED) {
    // Only recording the ingest's failure went wrong, so the ingest's own reason is the one to show.
    const data = (job.payload.data ?? {}) as { code?: string; message?: string };
    return { documentId, code: data.code ?? code, reason: data.message ?? reason };
  }
  return { documentId, code, reason: `${APPLY_FAILED_PREFIX}${reason}` };
}

/** Input of a `prepare` call: the job payload, the uploaded bytes, the abort signal and the progress callback. */
export interface PrepareInput {
  readonly payload: IngestPayload;
  readonly bytes: Uint8Array;
  readonly signal: AbortSignal;
  /** Chunks embedded so far out of the total. */
  readonly onProgress: (done: number, total: number) => void;
}

/** Parses, chunks and embeds one upload and returns the encoded prepared document. */
export type PrepareFunction = (input: PrepareInput) => Promise<{ encoded: Uint8Array; chunks: number }>;

/**
 * Prepares documents on this thread with `embedderFor`, which blocks the event loop while an
 * embedder computes synchronously. Tests use it with their in-memory embedders.
 */
export function prepareInProcess(
  config: Config,
  embedderFor: (payload: IngestPayload) => Promise<Embedder>,
): PrepareFunction {
  return async ({ payload, bytes, signal, onProgress }) => {
    const embedder = await embedderFor(payload);
    const prepared = await prepareDocument(
      {
        bytes,
        filename: payload.sourceName,
        ...(payload.declaredType === undefined ? {} : { declaredType: payload.declaredType }),
      },
      {
        embedder,
        chunking: config.chunking,
        parseLimits: config.parsing,
        signal,
        onProgress: (progress) => {
          if (progress.stage === 'embed') onProgress(progress.done, progress.total);
        },
      },
    );
    return { encoded: encodePrepared(prepared), chunks: prepared.chunks.length };
  };
}

export interface IngestHandlerOptions {
  readonly queue: JobQueue;
  readonly blobs: BlobStore;
  readonly prepare: PrepareFunction;
}

/**
 * Handles the `ingest` lane, in any process: parses, chunks and embeds the uploaded bytes,
 * stores the prepared document as a blob and adds an `apply` job for the index owner. A job
 * that fails for good also adds an `apply` job, so that the owner records the reason.
 */
export function createIngestHandler(options: IngestHandlerOptions): JobHandler {
  return async (job, context) => {
    if (job.type !== 'ingest') throw new DocentError('INVALID_ARGUMENT', `Unexpected job type ${job.type}`);
    const payload = job.payload;
    try {
      return await prepareAndHandOver(options, job.id, payload, context);
    } catch (error) {
      const final = isPermanentError(error) || job.attempt >= job.maxAttempts;
      if (final && !context.signal.aborted) {
        // When the report cannot be queued, e.g. while Redis is away, the job still fails with its
        // own error, and the index owner records that reason from the job's failed event.
        await options.queue
          .add(
            'apply',
            {
              kind: APPLY_INGEST_FAILED,
              documentId: payload.documentId,
              sourceJobId: job.id,
              data: { code: errorCodeOf(error), message: errorMessageOf(error), uploadRef: payload.blobRef },
            },
            { jobId: `failed-${job.id}` },
          )
          .catch((reportError: unknown) =>
            context.logger.warn(
              { err: reportError, documentId: payload.documentId },
              'Queueing the failure report of an ingest job failed',
            ),
          );
      }
      throw error;
    }
  };
}

async function prepareAndHandOver(
  options: IngestHandlerOptions,
  jobId: string,
  payload: IngestPayload,
  context: JobContext,
): Promise<JsonValue> {
  const bytes = await options.blobs.get(payload.blobRef);

  let lastReported = -1;
  let progressWrite: Promise<void> = Promise.resolve();
  const { encoded, chunks } = await options.prepare({
    payload,
    bytes,
    signal: context.signal,
    onProgress: (done, total) => {
      if (done === lastReported) return;
      lastReported = done;
      // Progress writes are chained so they land in order; a failed write only loses a report.
      progressWrite = progressWrite
        .then(() => context.updateProgress({ done, total }))
        .catch((error: unknown) => context.logger.warn({ err: error }, 'Reporting job progress failed'));
    },
  });
  await progressWrite;

  const resultRef = await options.blobs.put(encoded);
  await options.queue.add(
    'apply',
    {
      kind: APPLY_INGEST_RESULT,
      documentId: payload.documentId,
      sourceJobId: jobId,
      resultRef,
      data: { uploadRef: payload.blobRef },
    },
    { jobId: `apply-${jobId}` },
  );
  return { documentId: payload.documentId, chunks, resultRef };
}

export interface OwnerHandlerOptions {
  readonly docent: Docent;
  readonly blobs: BlobStore;
  readonly logger: Logger;
  /** Called after a document's chunks were written to the indexes. */
  readonly onIndexed?: (chunks: number) => void;
}

/**
 * Handles the `owner` lane in the one process that owns SQLite and the HNSW files: writes
 * prepared documents and failures, deletes documents and reindexes collections. The lane runs
 * with concurrency 1, so these writes happen one at a time in the order they were queued.
 */
export function createOwnerHandler(options: OwnerHandlerOptions): JobHandler {
  return async (job, context) => {
    switch (job.type) {
      case 'apply':
        return applyJob(options, job.payload, job.attempt >= job.maxAttempts);
      case 'delete': {
        const document = options.docent.deleteDocument(job.payload.documentId);
        await releaseUpload(options, `sha256:${document.sha256}`);
        return { documentId: document.id, deleted: true };
      }
      case 'reindex':
        return reindexJob(options.docent, job.payload, context);
      default:
        throw new DocentError(
          'INVALID_ARGUMENT',
          `The owner lane does not run ${(job as RunningJob).type} jobs`,
        );
    }
  };
}

async function applyJob(
  options: OwnerHandlerOptions,
  payload: ApplyPayload,
  lastAttempt: boolean,
): Promise<JsonValue> {
  const { docent } = options;
  const documentId = payload.documentId;
  if (documentId === undefined) throw new DocentError('INVALID_ARGUMENT', 'An apply job needs a documentId');
  const data = (payload.data ?? {}) as { code?: string; message?: string; uploadRef?: string };

  if (payload.kind === APPLY_INGEST_FAILED) {
    const document = docent.store.getDocument(documentId);
    if (document?.status === 'indexed') {
      // A retried ingest job can fail after an earlier attempt's result was already applied, e.g.
      // when Redis went away after storing the apply job but before acknowledging it. The indexed
      // document stands; the late failure is only logged.
      options.logger.warn(
        { documentId, sourceJobId: payload.sourceJobId, code: data.code },
        'Ignoring an ingest failure for a document that is already indexed',
      );
    } else if (document !== undefined) {
      docent.store.markFailed(documentId, data.code ?? 'PARSE_FAILED', data.message ?? 'Ingest failed.');
    }
    if (data.uploadRef !== undefined) await releaseUpload(options, data.uploadRef);
    return { documentId, failed: true };
  }
  if (payload.kind !== APPLY_INGEST_RESULT || payload.resultRef === undefined) {
    throw new DocentError('INVALID_ARGUMENT', `Unknown apply job kind ${JSON.stringify(payload.kind)}`);
  }

  const resultRef = payload.resultRef;
  let outcome: JsonValue;
  try {
    outcome = await writePrepared(options, documentId, resultRef);
  } catch (error) {
    // The prepared result stays in the blob store while another attempt may still need it.
    if (!isPermanentError(error) && !lastAttempt) throw error;

    const document = docent.store.getDocument(documentId);
    if (document?.status === 'queued' || document?.status === 'processing') {
      docent.store.markFailed(
        documentId,
        errorCodeOf(error),
        `${APPLY_FAILED_PREFIX}${errorMessageOf(error)}`,
      );
    }
    await releaseApplyBlobs(options, resultRef, data.uploadRef).catch((cleanupError: unknown) =>
      options.logger.warn(
        { err: cleanupError, documentId, resultRef },
        'Deleting the blobs of a failed apply job failed',
      ),
    );
    throw error;
  }
  await releaseApplyBlobs(options, resultRef, data.uploadRef);
  return outcome;
}

/**
 * Writes the prepared document stored under `resultRef`. Skips a document that was deleted
 * meanwhile, or that an earlier run of the same job already wrote.
 */
async function writePrepared(
  options: OwnerHandlerOptions,
  documentId: string,
  resultRef: string,
): Promise<JsonValue> {
  const { docent } = options;
  const document = docent.store.getDocument(documentId);
  if (document === undefined) {
    // Deleted while it was being prepared: nothing to write.
    return { documentId, skipped: 'document deleted' };
  }

  let bytes: Uint8Array;
  try {
    bytes = await options.blobs.get(resultRef);
  } catch (error) {
    // A second run of this job, e.g. after its lock expired while Redis was away, finds the
    // result already written and deleted by the first run.
    if (document.status !== 'indexed' || toDocentError(error).code !== 'NOT_FOUND') throw error;
    return { documentId, skipped: 'already indexed' };
  }
  const prepared = decodePrepared(bytes);
  try {
    const written = docent.apply(documentId, prepared);
    options.onIndexed?.(written.chunkCount);
    return { documentId, chunks: written.chunkCount };
  } catch (error) {
    // A reindex switched the collection to another embedder while the document was embedded.
    if (toDocentError(error).code !== 'CONFLICT') throw error;
    docent.fail(documentId, error);
    return { documentId, failed: true };
  }
}

async function releaseApplyBlobs(
  options: OwnerHandlerOptions,
  resultRef: string,
  uploadRef: string | undefined,
): Promise<void> {
  await options.blobs.delete(resultRef);
  if (uploadRef !== undefined) await releaseUpload(options, uploadRef);
}

/** Deletes uploaded bytes unless another document with the same bytes still waits for ingest. */
async function releaseUpload(options: OwnerHandlerOptions, ref: string): Promise<void> {
  const digest = ref.replace(/^sha256:/, '');
  const pending = options.docent.store.db
    .prepare(
      `SELECT COUNT(*) AS count FROM documents WHERE sha256 = ? AND status IN ('queued', 'processing')`,
    )
    .get(digest) as { count: number };
  if (pending.count === 0) await options.blobs.delete(ref);
}

async function reindexJob(docent: Docent, payload: ReindexPayload, context: JobContext): Promise<JsonValue> {
  const collections =
    payload.collection === undefined
      ? docent.store.listCollections()
      : docent.store.listCollections().filter((collection) => collection.name === payload.collection);
  if (payload.collection !== undefined && collections.length === 0)
    docent.store.requireCollection(payload.collection);

  const total = collections.reduce((sum, collection) => sum + collection.chunkCount, 0);
  let finished = 0;
  const reindexed: JsonValue[] = [];
  await context.updateProgress({ done: 0, total });
  for (const collection of collections) {
    context.signal.throwIfAborted();
    const switched = await docent.reindex(collection.name, payload.embedder, (progress) => {
      if (progress.stage !== 'embed') return;
      const done = Math.min(total, finished + progress.done);
      context.updateProgress({ done, total }).catch(() => undefined);
    });
    finished += collection.chunkCount;
    await context.updateProgress({ done: Math.min(finished, total), total });
    reindexed.push({ collection: switched.name, embedder: switched.embedderId });
  }
  return { reindexed };
}

export interface RunningWorker {
  /** Stops taking jobs, finishes or hands back running ones and closes the connections. */
  close(): Promise<void>;
}

/**
 * Runs `ingest` jobs from Redis in this process (`docent worker`): parse, chunk and embed,
 * then hand the prepared document to the index owner through the blob store and an `apply`
 * job. Workers never open the SQLite database or the HNSW files.
 */
export function runWorker(options: { config: Config; logger: Logger; concurrency?: number }): RunningWorker {
  const { config, logger } = options;
  if (config.redisUrl === undefined) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      'docent worker needs REDIS_URL: without Redis, `docent serve` runs ingest jobs in its own process.',
    );
  }
  const queue = createJobQueue(config, { logger });
  const blobs = createBlobStore(config, { logger });
  const concurrency = options.concurrency ?? config.queue.workerConcurrency;
  const threads = new PrepareThreadPool(config, concurrency);
  queue.process(['ingest'], createIngestHandler({ queue, blobs, prepare: threads.prepare }), { concurrency });
  logger.info({ concurrency }, 'Worker started');

  return {
    async close() {
      await queue.close();
      await blobs.close();
      await threads.close();
      logger.info('Worker stopped');
    },
  };
}
