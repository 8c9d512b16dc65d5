import { Worker } from 'node:worker_threads';
import type { Config } from '../core/config.ts';
import type { ErrorCode } from '../core/errors.ts';
import { DocentError } from '../core/errors.ts';
import type { PrepareFunction, PrepareInput } from './worker.ts';

/** Messages to a prepare thread. */
export type PrepareThreadRequest =
  | {
      readonly type: 'prepare';
      readonly id: number;
      readonly bytes: Uint8Array;
      readonly filename: string;
      readonly declaredType?: string;
      readonly embedder?: string;
    }
  | { readonly type: 'cancel'; readonly id: number };

/** Messages from a prepare thread. */
export type PrepareThreadResponse =
  | { readonly type: 'progress'; readonly id: number; readonly done: number; readonly total: number }
  | { readonly type: 'done'; readonly id: number; readonly encoded: ArrayBuffer; readonly chunks: number }
  | { readonly type: 'error'; readonly id: number; readonly code: ErrorCode; readonly message: string };

interface Pending {
  readonly input: PrepareInput;
  readonly resolve: (result: { encoded: Uint8Array; chunks: number }) => void;
  readonly reject: (error: Error) => void;
}

/** One worker thread with its own embedder, preparing one document at a time. */
class PrepareThread {
  private worker: Worker | undefined;
  private pending: { id: number; entry: Pending } | undefined;
  private nextId = 1;

  constructor(private readonly config: Config) {}

  get busy(): boolean {
    return this.pending !== undefined;
  }

  run(entry: Pending): void {
    const worker = this.start();
    const id = this.nextId++;
    this.pending = { id, entry };
    const { payload, bytes, signal } = entry.input;
    signal.addEventListener(
      'abort',
      () => worker.postMessage({ type: 'cancel', id } satisfies PrepareThreadRequest),
      {
        once: true,
      },
    );
    worker.postMessage({
      type: 'prepare',
      id,
      bytes,
      filename: payload.sourceName,
      ...(payload.declaredType === undefined ? {} : { declaredType: payload.declaredType }),
      ...(payload.embedder === undefined ? {} : { embedder: payload.embedder }),
    } satisfies PrepareThreadRequest);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(new URL('./prepare-thread-entry.mjs', import.meta.url), {
      workerData: { config: this.config },
    });
    worker.on('message', (response: PrepareThreadResponse) => this.onMessage(response));
    worker.on('error', (error) => this.settle((entry) => entry.reject(error)));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      // A crashed thread (e.g. out of memory) fails the job with a transient error, so it is retried.
      this.settle((entry) =>
        entry.reject(
          new DocentError('INTERNAL', `The prepare thread exited with code ${code} during the job.`),
        ),
      );
    });
    // An idle thread must not keep the process alive.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private onMessage(response: PrepareThreadResponse): void {
    const pending = this.pending;
    if (pending === undefined || pending.id !== response.id) return;
    if (response.type === 'progress') {
      pending.entry.input.onProgress(response.done, response.total);
    } else if (response.type === 'done') {
      this.settle((entry) =>
        entry.resolve({ encoded: new Uint8Array(response.encoded), chunks: response.chunks }),
      );
    } else {
      this.settle((entry) => entry.reject(new DocentError(response.code, response.message)));
    }
  }

  private settle(finish: (entry: Pending) => void): void {
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined) finish(pending.entry);
  }
}

/**
 * Prepares documents in worker threads, one job per thread at a time, which keeps embedding off the
 * event loop that serves HTTP requests and renews queue locks. Each thread loads its
 * own embedder on first use.
 */
export class PrepareThreadPool {
  private readonly threads: PrepareThread[];
  private readonly waiting: Pending[] = [];

  constructor(config: Config, size: number) {
    this.threads = Array.from({ length: Math.max(1, size) }, () => new PrepareThread(config));
  }

  readonly prepare: PrepareFunction = (input) =>
    new Promise((resolve, reject) => {
      const entry: Pending = {
        input,
        resolve: (result) => {
          resolve(result);
          this.dispatch();
        },
        reject: (error) => {
          reject(error);
          this.dispatch();
        },
      };
      this.waiting.push(entry);
      this.dispatch();
    });

  async close(): Promise<void> {
    for (const entry of this.waiting.splice(0)) {
      entry.reject(new DocentError('CANCELLED', 'The prepare threads are shutting down.'));
    }
    await Promise.all(this.threads.map((thread) => thread.close()));
  }

  private dispatch(): void {
    for (const thread of this.threads) {
      if (thread.busy) continue;
      const entry = this.waiting.shift();
      if (entry === undefined) return;
      thread.run(entry);
    }
  }
}
