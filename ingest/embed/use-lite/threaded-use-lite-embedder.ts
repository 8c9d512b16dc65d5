import { Worker } from 'node:worker_threads';
import { DocentError, type ErrorCode } from '../../../core/errors.ts';
import { BaseEmbedder } from '../base-embedder.ts';
import type { EmbeddingKind } from '../embedder.ts';
import type { UseLiteId } from './use-lite-embedder.ts';
import type { UseLiteWorkerData, UseLiteWorkerMessage, UseLiteWorkerRequest } from './use-lite-worker.ts';

export interface ThreadedUseLiteOptions {
  readonly batchSize: number;
  /** Worker threads, each with its own model and TensorFlow.js engine (about 180 MB RSS each after a batch of 32 abstracts). */
  readonly threads: number;
  /** Whether to read the whole text in windows (`use-lite-windowed`), as in UseLiteOptions. */
  readonly windowed?: boolean;
}

interface PendingBatch {
  readonly resolve: (vectors: Float32Array[]) => void;
  readonly reject: (error: DocentError) => void;
  readonly count: number;
}

interface UseLiteWorker {
  readonly worker: Worker;
  pending?: PendingBatch | undefined;
}

/**
 * Universal Sentence Encoder lite on several worker threads. The TensorFlow.js wasm backend runs
 * on one thread in Node.js, so this is how use-lite uses more than one core. Batches go to idle
 * workers, and the vectors equal those of UseLiteEmbedder.
 *
 * NOTE: the speed-up is unproven. On a 2-core machine that other processes kept busy, two threads
 * were no faster than one (measure-backends.ts, wasm against wasm-threads).
 */
export class ThreadedUseLiteEmbedder extends BaseEmbedder {
  readonly id: UseLiteId;
  readonly dimension = 512;
  protected override readonly concurrency: number;
  private readonly idle: UseLiteWorker[];
  private readonly waiting: Array<{
    resolve: (worker: UseLiteWorker) => void;
    reject: (error: DocentError) => void;
  }> = [];
  private readonly workers: Set<UseLiteWorker>;
  private nextRequestId = 1;

  private constructor(workers: readonly UseLiteWorker[], options: ThreadedUseLiteOptions) {
    super(options.batchSize);
    this.id = options.windowed === true ? 'use-lite-windowed' : 'use-lite';
    this.concurrency = workers.length;
    this.workers = new Set(workers);
    this.idle = [...workers];
    // An idle worker does not keep the process alive, so a program that never calls close() still exits.
    // A worker is referenced again while it embeds a batch that the caller awaits.
    for (const entry of workers) entry.worker.unref();
    for (const entry of workers) this.watch(entry);
  }

  /** Starts `threads` workers and waits until each has loaded the model. */
  static async load(options: ThreadedUseLiteOptions): Promise<ThreadedUseLiteEmbedder> {
    if (!Number.isInteger(options.threads) || options.threads < 1) {
      throw new DocentError(
        'INVALID_ARGUMENT',
        `Embedding threads (${options.threads}) must be a positive integer; set DOCENT_EMBED_THREADS to e.g. 2.`,
      );
    }
    const started = Array.from({ length: options.threads }, () =>
      startWorker({ batchSize: options.batchSize, windowed: options.windowed === true }),
    );
    const results = await Promise.allSettled(started);
    const workers = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failure = results.find((result) => result.status === 'rejected');
    if (failure !== undefined) {
      await Promise.all(workers.map((entry) => entry.worker.terminate()));
      throw failure.reason;
    }
    return new ThreadedUseLiteEmbedder(workers, options);
  }

  protected async embedBatch(texts: readonly string[], _kind: EmbeddingKind): Promise<Float32Array[]> {
    const entry = await this.acquire();
    try {
      return await new Promise<Float32Array[]>((resolve, reject) => {
        entry.pending = { resolve, reject, count: texts.length };
        const request: UseLiteWorkerRequest = { id: this.nextRequestId++, texts };
        entry.worker.postMessage(request);
      });
    } finally {
      entry.pending = undefined;
      this.release(entry);
    }
  }

  override async close(): Promise<void> {
    const workers = [...this.workers];
    this.workers.clear();
    this.idle.length = 0;
    await Promise.all(workers.map((entry) => entry.worker.terminate()));
  }

  private acquire(): Promise<UseLiteWorker> {
    const entry = this.idle.pop();
    if (entry !== undefined) {
      entry.worker.ref();
      return Promise.resolve(entry);
    }
    if (this.workers.size === 0) return Promise.reject(noWorkersError());
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private release(entry: UseLiteWorker): void {
    if (!this.workers.has(entry)) return;
    const waiter = this.waiting.shift();
    if (waiter !== undefined) {
      waiter.resolve(entry);
      return;
    }
    entry.worker.unref();
    this.idle.push(entry);
  }

  private watch(entry: UseLiteWorker): void {
    const dimension = this.dimension;
    entry.worker.on('message', (message: UseLiteWorkerMessage) => {
      const pending = entry.pending;
      if (pending === undefined) return;
      if (message.type === 'vectors') {
        pending.resolve(
          Array.from({ length: pending.count }, (_value, i) =>
            message.data.slice(i * dimension, (i + 1) * dimension),
          ),
        );
      } else if (message.type === 'error') {
        pending.reject(new DocentError(message.code as ErrorCode, message.message));
      }
    });
    const fail = (reason: string): void => {
      this.workers.delete(entry);
      const index = this.idle.indexOf(entry);
      if (index !== -1) this.idle.splice(index, 1);
      entry.pending?.reject(new DocentError('INTERNAL', `A use-lite worker thread stopped: ${reason}`));
      // Batches waiting for a worker fail once none is left, instead of waiting forever.
      if (this.workers.size === 0) {
        for (const waiter of this.waiting.splice(0)) waiter.reject(noWorkersError());
      }
    };
    entry.worker.on('error', (error) => {
      fail(error.message);
    });
    entry.worker.on('exit', (code) => {
      fail(`exit code ${code}`);
    });
  }
}

function noWorkersError(): DocentError {
  return new DocentError(
    'INTERNAL',
    'The use-lite embedder has no running worker threads because it was closed or its workers stopped; create a new one with createEmbedder.',
  );
}

function startWorker(workerData: UseLiteWorkerData): Promise<UseLiteWorker> {
  const worker = new Worker(new URL('./use-lite-worker-entry.mjs', import.meta.url), { workerData });
  return new Promise((resolve, reject) => {
    const onMessage = (message: UseLiteWorkerMessage): void => {
      worker.off('error', onError);
      if (message.type === 'ready') {
        resolve({ worker });
      } else if (message.type === 'failed') {
        void worker.terminate();
        reject(
          new DocentError(
            message.code as ErrorCode,
            `Loading use-lite in a worker thread failed: ${message.message}`,
          ),
        );
      }
    };
    const onError = (error: Error): void => {
      reject(
        new DocentError('INTERNAL', `Starting a use-lite worker thread failed: ${error.message}`, {
          cause: error,
        }),
      );
    };
    worker.once('message', onMessage);
    worker.once('error', onError);
  });
}
