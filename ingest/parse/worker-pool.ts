import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DocentError, type ErrorCode } from '../../core/errors.ts';
import type { ContentLimits } from './parse-bytes.ts';
import type { WorkerRequest, WorkerResponse } from './parse-worker.ts';
import type { ParsedDocument, ParseInput } from './types.ts';

/** An idle worker is stopped after this long, releasing its memory. */
const IDLE_MS = 30_000;

interface Task {
  readonly input: ParseInput;
  readonly limits: ContentLimits;
  readonly timeoutMs: number;
  readonly resolve: (document: ParsedDocument) => void;
  readonly reject: (error: DocentError) => void;
}

interface PooledWorker {
  readonly worker: Worker;
  idleTimer?: NodeJS.Timeout;
}

/**
 * Parsing workers that share one heap limit. A worker parses one document at a time and is
 * reused, because starting one (loading tsx, pdf.js, mammoth) costs seconds. A worker that times
 * out, runs out of memory or crashes is discarded, and only its document fails. At most one
 * worker per CPU runs, and further documents wait in order.
 */
export class ParseWorkerPool {
  private readonly idle: PooledWorker[] = [];
  private readonly queue: Task[] = [];
  private running = 0;
  private nextId = 1;
  private readonly maxWorkers = Math.max(1, availableParallelism());

  constructor(private readonly maxMemoryMb: number) {}

  parse(input: ParseInput, limits: ContentLimits, timeoutMs: number): Promise<ParsedDocument> {
    return new Promise<ParsedDocument>((resolve, reject) => {
      this.queue.push({ input, limits, timeoutMs, resolve, reject });
      this.dispatch();
    });
  }

  /** Stops every idle worker; running parses finish first. */
  async close(): Promise<void> {
    const workers = this.idle.splice(0);
    await Promise.all(
      workers.map(async (pooled) => {
        clearTimeout(pooled.idleTimer);
        await pooled.worker.terminate();
      }),
    );
  }

  private dispatch(): void {
    while (this.queue.length > 0 && (this.idle.length > 0 || this.running < this.maxWorkers)) {
      const task = this.queue.shift()!;
      const pooled = this.idle.pop() ?? this.spawn();
      clearTimeout(pooled.idleTimer);
      this.running += 1;
      this.run(pooled, task);
    }
  }

  private spawn(): PooledWorker {
    const worker = new Worker(new URL('./parse-worker-entry.mjs', import.meta.url), {
      // The entry registers tsx itself. Inherited flags such as --input-type, --eval or --inspect
      // would break or clash in a worker, so none are passed on.
      execArgv: [],
      resourceLimits: {
        maxOldGenerationSizeMb: this.maxMemoryMb,
        maxYoungGenerationSizeMb: Math.min(64, Math.max(8, Math.floor(this.maxMemoryMb / 8))),
      },
    });
    const pooled: PooledWorker = { worker };
    // Errors of a running parse are handled in `run`. This listener keeps an error that arrives
    // while the worker is idle from crashing the process, and drops a worker that exited.
    worker.on('error', () => undefined);
    worker.on('exit', () => {
      clearTimeout(pooled.idleTimer);
      const index = this.idle.indexOf(pooled);
      if (index >= 0) this.idle.splice(index, 1);
    });
    return pooled;
  }

  private run(pooled: PooledWorker, task: Task): void {
    const { worker } = pooled;
    const id = this.nextId++;
    const { filename } = task.input;
    worker.ref();

    let settled = false;
    const finish = (reusable: boolean, outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      this.running -= 1;
      if (reusable) this.release(pooled);
      else void worker.terminate();
      outcome();
      this.dispatch();
    };
    const fail = (code: ErrorCode, message: string, cause?: unknown): void => {
      finish(false, () =>
        task.reject(new DocentError(code, message, cause === undefined ? undefined : { cause })),
      );
    };

    const onMessage = (response: WorkerResponse): void => {
      if (response.id !== id) return;
      if (response.ok) finish(true, () => task.resolve(response.document));
      else {
        const details = response.details === undefined ? undefined : { details: response.details };
        finish(true, () =>
          task.reject(new DocentError(response.code as ErrorCode, response.message, details)),
        );
      }
    };
    const onError = (error: Error & { code?: string }): void => {
      if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        fail(
          'PARSE_LIMIT_EXCEEDED',
          `Parsing "${filename}" needed more than ${this.maxMemoryMb} MiB of memory and was stopped. Split the file or raise DOCENT_PARSE_MAX_MEMORY_MB.`,
          error,
        );
      } else {
        fail('PARSE_FAILED', `Parsing "${filename}" failed: ${error.message}`, error);
      }
    };
    const onExit = (exitCode: number): void => {
      fail('PARSE_FAILED', `The parser for "${filename}" stopped (exit code ${exitCode}) without a result.`);
    };
    const timer = setTimeout(() => {
      fail(
        'PARSE_LIMIT_EXCEEDED',
        `Parsing "${filename}" took longer than ${task.timeoutMs} ms and was stopped. Split the file or raise DOCENT_PARSE_TIMEOUT_MS.`,
      );
    }, task.timeoutMs);

    worker.on('message', onMessage);
    worker.once('error', onError);
    worker.once('exit', onExit);
    const request: WorkerRequest = { id, input: task.input, limits: task.limits };
    worker.postMessage(request);
  }

  private release(pooled: PooledWorker): void {
    // An idle worker must not keep the process alive.
    pooled.worker.unref();
    pooled.idleTimer = setTimeout(() => {
      const index = this.idle.indexOf(pooled);
      if (index >= 0) this.idle.splice(index, 1);
      void pooled.worker.terminate();
    }, IDLE_MS);
    pooled.idleTimer.unref();
    this.idle.push(pooled);
  }
}
