import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Config } from '../core/config.ts';
import { DocentError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { createApp } from './api/app.ts';
import type { ApiContext } from './api/context.ts';
import { ConversationStore } from './api/conversations.ts';
import { Ingestion } from './api/ingestion.ts';
import { ApiMetrics } from './api/metrics.ts';
import { KeyStore } from './auth/key-store.ts';
import type { Docent } from './docent.ts';
import { createBlobStore, createJobQueue } from './queue/index.ts';
import type { BlobStore } from './queue/blob-store.ts';
import type { JobQueue } from './queue/job-queue.ts';
import { PrepareThreadPool } from './prepare-thread.ts';
import {
  createIngestHandler,
  createOwnerHandler,
  ingestFailureOf,
  prepareInProcess,
  type PrepareFunction,
} from './worker.ts';

export interface ServerParts {
  readonly config: Config;
  readonly logger: Logger;
  readonly docent: Docent;
  readonly queue: JobQueue;
  readonly blobs: BlobStore;
  readonly keys: KeyStore;
}

export interface RunOptions {
  /** `ingest` jobs this process runs at once; 0 leaves them to `docent worker` processes. */
  readonly ingestConcurrency: number;
  /** How ingest jobs prepare documents; by default on this thread with the engine's embedders. */
  readonly prepare?: PrepareFunction;
}

/**
 * Wires the API and the job handlers of the index owner: the owner lane (apply, delete,
 * reindex) with concurrency 1, and the ingest lane when `ingestConcurrency` > 0.
 */
export async function assembleServer(
  parts: ServerParts,
  options: RunOptions & { isReady?: () => boolean },
): Promise<{ app: Express; context: ApiContext; stopEvents: () => void }> {
  const { docent, queue, blobs, logger } = parts;
  const metrics = new ApiMetrics(queue);
  const ingestion = new Ingestion(docent, queue, blobs);
  const context: ApiContext = {
    config: parts.config,
    logger,
    docent,
    queue,
    ingestion,
    keys: parts.keys,
    metrics,
    conversations: new ConversationStore(),
  };

  // A document turns `processing` when any worker, here or remote, starts its ingest job. A
  // failed ingest job normally reports itself through an apply job. The failed event also covers
  // jobs that BullMQ fails on its own, e.g. after a worker stalled too often, and apply jobs that
  // failed for good. Thus no accepted upload stays `processing`.
  const stopEvents = await queue.subscribe((event) => {
    if (event.kind !== 'active' && event.kind !== 'failed') return;
    queue
      .get(event.jobId)
      .then((job) => {
        if (job === null) return;
        if (event.kind === 'active') {
          if (job.type === 'ingest') ingestion.markProcessing(job.payload.documentId);
          return;
        }
        const failure = ingestFailureOf(job, event.code, event.reason);
        if (failure !== undefined) ingestion.markFailed(failure.documentId, failure.code, failure.reason);
      })
      .catch((error: unknown) =>
        logger.warn({ err: error, jobId: event.jobId }, 'Reading a job after its event failed'),
      );
  });

  queue.process(
    ['apply', 'delete', 'reindex'],
    createOwnerHandler({ docent, blobs, logger, onIndexed: (chunks) => metrics.chunksIndexed.inc(chunks) }),
    { concurrency: 1 },
  );
  if (options.ingestConcurrency > 0) {
    queue.process(
      ['ingest'],
      createIngestHandler({
        queue,
        blobs,
        prepare:
          options.prepare ??
          prepareInProcess(parts.config, (payload) =>
            Promise.resolve(docent.embedderFor(docent.store.requireCollection(payload.collection))),
          ),
      }),
      { concurrency: options.ingestConcurrency },
    );
  }

  const app = createApp(context, options.isReady === undefined ? {} : { isReady: options.isReady });
  return { app, context, stopEvents };
}

export interface RunningServer {
  readonly url: string;
  /** Stops accepting requests, finishes or hands back running jobs, saves the indexes and closes everything. */
  close(): Promise<void>;
}

/**
 * Opens the engine, queue, blob store and key store from `config` and serves the API and the
 * portal on `config.server`. Without REDIS_URL everything runs in this process.
 */
export async function startServer(options: {
  config: Config;
  logger: Logger;
  docent: Docent;
  ingestConcurrency?: number;
}): Promise<RunningServer> {
  const { config, logger, docent } = options;
  const queue = createJobQueue(config, { db: docent.store.db, logger });
  const blobs = createBlobStore(config, { logger });
  const keys = KeyStore.open(config.dataDir);
  let ready = false;

  const ingestConcurrency = options.ingestConcurrency ?? config.queue.workerConcurrency;
  const threads = new PrepareThreadPool(config, ingestConcurrency);
  const { app, stopEvents } = await assembleServer(
    { config, logger, docent, queue, blobs, keys },
    { ingestConcurrency, prepare: threads.prepare, isReady: () => ready },
  );

  let server: Server;
  try {
    server = await listen(app, config.server.host, config.server.port);
  } catch (error) {
    await queue.close({ timeoutMs: 1000 });
    await threads.close();
    stopEvents();
    await blobs.close();
    keys.close();
    const code = (error as NodeJS.ErrnoException).code;
    const where = `${config.server.host}:${config.server.port}`;
    throw new DocentError(
      'CONFLICT',
      code === 'EADDRINUSE'
        ? `Cannot listen on ${where}: the port is in use. Stop the other process or choose another port with DOCENT_PORT or --port.`
        : `Cannot listen on ${where}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  // Longer than the idle timeout of common clients and proxies (often 60 s), so that the
  // server does not close a kept-alive connection just as a client reuses it.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  ready = true;
  logger.info(
    { url, queue: config.redisUrl === undefined ? 'embedded' : 'redis', ingestConcurrency },
    'Server started',
  );

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    ready = false;
    logger.info('Server shutting down');
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    // Open SSE streams would keep close() waiting, so they are cut after 5 s and their clients see the stream end.
    const streams = setTimeout(() => server.closeAllConnections(), 5000);
    streams.unref();
    await queue.close();
    await threads.close();
    stopEvents();
    await stopped;
    clearTimeout(streams);
    await blobs.close();
    keys.close();
    await docent.close();
    logger.info('Server stopped');
  };
  return {
    url,
    close: () => {
      closing ??= close();
      return closing;
    },
  };
}

function listen(app: Express, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (error?: Error) => {
      if (error === undefined) resolve(server);
      else reject(error);
    });
    server.once('error', reject);
  });
}
