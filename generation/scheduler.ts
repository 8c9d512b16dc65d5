import { DocentError } from '../core/errors.ts';

export interface SchedulerOptions {
  /** Requests that may wait for the model; one more is rejected with BUSY. */
  readonly maxQueue: number;
  /** Time a request may take from `acquire` to `release`, waiting included, in milliseconds. */
  readonly timeoutMs: number;
  /** Requests that may hold the model at once. One, because a process has one model and forward passes do not overlap well on a CPU. */
  readonly concurrency?: number;
}

/** The right to use the model, held from `acquire` until `release`. */
export interface Lease {
  /** Aborts when the client's signal aborts or the request's time runs out; `reason` is a DocentError. */
  readonly signal: AbortSignal;
  /** Milliseconds the request waited in the queue. */
  readonly waitedMs: number;
  release(): void;
}

interface Waiter {
  readonly grant: () => void;
  readonly reject: (error: DocentError) => void;
}

/**
 * Serialises access to the one loaded model of a process: a bounded first-in, first-out queue,
 * cancellation of waiting and running requests when the client's signal aborts, and a per-request
 * timeout. A full queue raises BUSY at once instead of letting latency grow without bound.
 */
export class Scheduler {
  private readonly options: SchedulerOptions;
  private readonly waiting: Waiter[] = [];
  private running = 0;

  constructor(options: SchedulerOptions) {
    this.options = options;
  }

  get queued(): number {
    return this.waiting.length;
  }

  get active(): number {
    return this.running;
  }

  /**
   * Waits for the model. Raises BUSY when the queue is full, CANCELLED when `signal` aborts and
   * TIMEOUT when the request's time runs out while waiting.
   */
  async acquire(signal?: AbortSignal): Promise<Lease> {
    const startedAt = performance.now();
    if (signal?.aborted === true) throw cancelled(signal);

    const controller = new AbortController();
    const timer = setTimeout(() => {
      controller.abort(
        new DocentError(
          'TIMEOUT',
          `Generation timed out after ${this.options.timeoutMs} ms; raise DOCENT_GENERATION_TIMEOUT_MS or lower the answer length.`,
        ),
      );
    }, this.options.timeoutMs);
    const onClientAbort = () => controller.abort(cancelled(signal));
    signal?.addEventListener('abort', onClientAbort, { once: true });
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onClientAbort);
    };

    const concurrency = this.options.concurrency ?? 1;
    if (this.running < concurrency && this.waiting.length === 0) {
      this.running++;
    } else {
      if (this.waiting.length >= this.options.maxQueue) {
        cleanup();
        throw new DocentError(
          'BUSY',
          `The generation queue is full (${this.waiting.length} requests waiting, DOCENT_GENERATION_QUEUE_SIZE=${this.options.maxQueue}); retry later.`,
          { details: { queued: this.waiting.length, maxQueue: this.options.maxQueue } },
        );
      }
      try {
        await new Promise<void>((resolve, reject) => {
          // `release` hands its slot over, so `running` already counts this request when granted.
          const waiter: Waiter = { grant: resolve, reject };
          this.waiting.push(waiter);
          controller.signal.addEventListener(
            'abort',
            () => {
              const index = this.waiting.indexOf(waiter);
              if (index !== -1) this.waiting.splice(index, 1);
              reject(controller.signal.reason as DocentError);
            },
            { once: true },
          );
        });
      } catch (error) {
        cleanup();
        throw error;
      }
    }

    let released = false;
    return {
      signal: controller.signal,
      waitedMs: performance.now() - startedAt,
      release: () => {
        if (released) return;
        released = true;
        cleanup();
        const next = this.waiting.shift();
        if (next === undefined) this.running--;
        else next.grant();
      },
    };
  }
}

function cancelled(signal: AbortSignal | undefined): DocentError {
  return new DocentError('CANCELLED', 'The request was cancelled by the client.', { cause: signal?.reason });
}
