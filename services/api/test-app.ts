import path from 'node:path';
import type { Express } from 'express';
import { loadConfig } from '../../core/config.ts';
import { silentLogger } from '../../core/logger.ts';
import { ExtractiveGenerator } from '../../generation/extractive/extractive-generator.ts';
import type { Generator } from '../../generation/types.ts';
import { openTestDocent } from '../../test/support/test-docent.ts';
import { KeyStore, type Role } from '../auth/key-store.ts';
import type { Docent } from '../docent.ts';
import { FileBlobStore } from '../queue/blob-store.ts';
import { BullmqJobQueue } from '../queue/bullmq-queue.ts';
import { EmbeddedJobQueue } from '../queue/embedded-queue.ts';
import type { JobInfo, JobQueue } from '../queue/job-queue.ts';
import { assembleServer } from '../server.ts';
import type { PrepareFunction } from '../worker.ts';
import type { ApiContext } from './context.ts';

export interface TestApp {
  readonly app: Express;
  readonly context: ApiContext;
  readonly docent: Docent;
  readonly queue: JobQueue;
  /** Plain keys of each role, for `Authorization: Bearer`. */
  readonly keys: Record<Role, string>;
  createKey(role: Role, collections?: string[]): string;
  /** Waits until the job is completed or failed, polling the queue. */
  waitForJob(id: string, timeoutMs?: number): Promise<JobInfo>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  readonly env?: Record<string, string>;
  readonly generator?: Generator;
  /** Runs the jobs through BullMQ on this Redis under this key prefix instead of the embedded queue. */
  readonly redis?: { readonly url: string; readonly prefix: string };
  /** Function that prepares the documents of ingest jobs, by default on this thread with the engine's embedders. */
  readonly prepare?: PrepareFunction;
  /** Number of ingest jobs run at once, 1 by default. */
  readonly ingestConcurrency?: number;
}

/**
 * Builds the API over a fast test engine (bag-of-words embedder, extractive answerer) with
 * in-process workers and the embedded queue, as `docent serve` runs without Redis, or BullMQ.
 */
export async function openTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const env = { DOCENT_QUEUE_BACKOFF_MS: '10', DOCENT_RATE_LIMIT_PER_MINUTE: '0', ...options.env };
  const engine = await openTestDocent({ env, generator: options.generator ?? new ExtractiveGenerator() });
  const docent = engine.docent;
  const config = loadConfig({ ...env, DOCENT_DATA_DIR: engine.dataDir, DOCENT_EMBEDDER: docent.embedder.id });
  const settings = {
    attempts: config.queue.attempts,
    backoffMs: config.queue.backoffMs,
    shutdownTimeoutMs: 2000,
    logger: silentLogger,
  };
  const queue: JobQueue =
    options.redis === undefined
      ? new EmbeddedJobQueue({ ...settings, db: docent.store.db, pollIntervalMs: 50 })
      : new BullmqJobQueue({
          ...settings,
          redisUrl: options.redis.url,
          prefix: options.redis.prefix,
          blobTtlSeconds: config.queue.blobTtlSeconds,
          blobMaxBytes: config.queue.blobMaxBytes,
        });
  const blobs = new FileBlobStore(path.join(engine.dataDir, 'blobs'));
  const keyStore = KeyStore.open(engine.dataDir);
  const { app, context, stopEvents } = await assembleServer(
    { config, logger: silentLogger, docent, queue, blobs, keys: keyStore },
    {
      ingestConcurrency: options.ingestConcurrency ?? 1,
      ...(options.prepare === undefined ? {} : { prepare: options.prepare }),
    },
  );
  const createKey = (role: Role, collections?: string[]): string =>
    keyStore.create({ role, ...(collections === undefined ? {} : { collections }) }).key;

  return {
    app,
    context,
    docent,
    queue,
    keys: { reader: createKey('reader'), writer: createKey('writer'), admin: createKey('admin') },
    createKey,
    async waitForJob(id, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const job = await queue.get(id);
        if (job !== null && (job.state === 'completed' || job.state === 'failed')) return job;
        if (Date.now() > deadline)
          throw new Error(`Job ${id} did not finish within ${timeoutMs} ms (state ${job?.state})`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async close() {
      await queue.close({ timeoutMs: 2000 });
      stopEvents();
      keyStore.close();
      await engine.dispose();
    },
  };
}

/** Builds the Authorization header of a bearer key. */
export const bearer = (key: string): Record<string, string> => ({ Authorization: `Bearer ${key}` });

export interface SseEvent {
  readonly event: string;
  readonly data: unknown;
}

/** Splits a text/event-stream body into events with parsed JSON data. */
export function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '' && !block.startsWith(':'))
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = /^data: (.*)$/m.exec(block)?.[1] ?? 'null';
      return { event, data: data === '[DONE]' ? data : (JSON.parse(data) as unknown) };
    });
}
