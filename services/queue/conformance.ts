import { afterEach, beforeEach, expect, it } from 'vitest';
import { DocentError } from '../../core/errors.ts';
import type { BlobStore } from './blob-store.ts';
import { blobRefOf } from './blob-store.ts';
import type {
  IngestPayload,
  JobEvent,
  JobInfo,
  JobQueue,
  JobState,
  JsonValue,
  RunningJob,
} from './job-queue.ts';

/** Queue settings a test may override. The suite's defaults keep retries fast. */
export interface TestQueueSettings {
  readonly attempts: number;
  readonly backoffMs: number;
  readonly shutdownTimeoutMs: number;
}

/**
 * Storage for one test. Every `open` returns a new queue object on the same storage (the
 * same database file, or the same Redis prefix), which is how the suite simulates a restart.
 */
export interface QueueStorage {
  open(settings: TestQueueSettings): Promise<JobQueue>;
  /** Removes the storage after the test, once the queues it opened are closed. */
  destroy(): Promise<void>;
}

const DEFAULT_SETTINGS: TestQueueSettings = { attempts: 3, backoffMs: 20, shutdownTimeoutMs: 5000 };

export function ingestPayload(documentId: string): IngestPayload {
  return {
    documentId,
    collection: 'default',
    sourceName: `${documentId}.txt`,
    blobRef: `sha256:${'0'.repeat(64)}`,
    metadata: { author: 'Ada', tags: ['a', 'b'] },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `get(id)` until the job reaches `state`, or fails the test showing the last job seen. */
export async function waitForState(
  queue: JobQueue,
  id: string,
  state: JobState,
  timeoutMs = 10_000,
): Promise<JobInfo> {
  const deadline = Date.now() + timeoutMs;
  let job: JobInfo | null = null;
  while (Date.now() < deadline) {
    job = await queue.get(id);
    if (job?.state === state) return job;
    await sleep(15);
  }
  throw new Error(
    `Job ${id} did not reach state ${state} within ${timeoutMs} ms; last seen: ${JSON.stringify(job)}`,
  );
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** A promise with its resolve function, for handlers that wait on the test. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * Registers the JobQueue conformance tests in the current `describe` block. `createStorage`
 * runs before each test and gets fresh, empty storage.
 */
export function registerJobQueueConformance(createStorage: () => Promise<QueueStorage>): void {
  let storage: QueueStorage;
  let opened: JobQueue[];

  const open = async (overrides: Partial<TestQueueSettings> = {}): Promise<JobQueue> => {
    const queue = await storage.open({ ...DEFAULT_SETTINGS, ...overrides });
    opened.push(queue);
    return queue;
  };

  beforeEach(async () => {
    storage = await createStorage();
    opened = [];
  });

  afterEach(async () => {
    await Promise.all(opened.map((queue) => queue.close({ timeoutMs: 200 })));
    await storage.destroy();
  });

  it('adds, gets and lists jobs', async () => {
    const queue = await open();

    const added = await queue.add('ingest', ingestPayload('doc-1'));
    const deleted = await queue.add('delete', { documentId: 'doc-0' }, { jobId: 'delete-doc-0' });

    expect(added.type).toBe('ingest');
    expect(added.state).toBe('waiting');
    expect(added.payload).toEqual(ingestPayload('doc-1'));
    expect(added.attemptsMade).toBe(0);
    expect(added.maxAttempts).toBe(3);
    expect(deleted.id).toBe('delete-doc-0');
    expect(await queue.get(added.id)).toMatchObject({ id: added.id, type: 'ingest', state: 'waiting' });
    expect(await queue.get('no-such-job')).toBeNull();

    const listed = await queue.list();
    expect(listed.map((job) => job.id).sort()).toEqual([added.id, deleted.id].sort());
    expect((await queue.list({ type: 'delete' })).map((job) => job.id)).toEqual([deleted.id]);
    expect(await queue.list({ state: 'completed' })).toEqual([]);
    expect(await queue.list({ limit: 1 })).toHaveLength(1);
  });

  it('returns the stored job when a job id repeats', async () => {
    const queue = await open();

    const first = await queue.add('delete', { documentId: 'doc-1' }, { jobId: 'delete-doc-1' });
    const second = await queue.add('delete', { documentId: 'doc-2' }, { jobId: 'delete-doc-1' });

    expect(second.id).toBe(first.id);
    expect(second.payload).toEqual({ documentId: 'doc-1' });
    expect(await queue.list()).toHaveLength(1);
  });

  it('rejects invalid job ids and types', async () => {
    const queue = await open();

    await expect(queue.add('delete', { documentId: 'x' }, { jobId: 'a:b' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(queue.add('delete', { documentId: 'x' }, { jobId: '123' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    // @ts-expect-error an unknown job type is the case under test
    await expect(queue.add('compact', {})).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('rejects process calls that split a lane', async () => {
    const queue = await open();
    const handler = (): Promise<null> => Promise.resolve(null);

    expect(() => queue.process(['apply'], handler, { concurrency: 1 })).toThrow(DocentError);
    expect(() => queue.process(['ingest'], handler, { concurrency: 0 })).toThrow(/concurrency/);
    queue.process(['ingest'], handler, { concurrency: 1 });
    expect(() => queue.process(['ingest'], handler, { concurrency: 1 })).toThrow(/already processed/);
  });

  it('stores the handler result', async () => {
    const queue = await open();
    const seen: RunningJob[] = [];
    queue.process(
      ['ingest'],
      (job) => {
        seen.push(job);
        return Promise.resolve({
          chunks: 3,
          documentId: job.type === 'ingest' ? job.payload.documentId : null,
        });
      },
      { concurrency: 1 },
    );

    const { id } = await queue.add('ingest', ingestPayload('doc-1'));
    const done = await waitForState(queue, id, 'completed');

    expect(done.result).toEqual({ chunks: 3, documentId: 'doc-1' });
    expect(done.attemptsMade).toBe(1);
    expect(done.failedReason).toBeNull();
    expect(done.finishedAt).toBeGreaterThanOrEqual(done.createdAt);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      id,
      type: 'ingest',
      attempt: 1,
      maxAttempts: 3,
      payload: ingestPayload('doc-1'),
    });
  });

  it('stores a result of several megabytes', async () => {
    const queue = await open();
    const text = 'chunk text '.repeat(300_000);
    queue.process(['ingest'], () => Promise.resolve({ text }), { concurrency: 1 });

    const { id } = await queue.add('ingest', ingestPayload('doc-1'));
    const done = await waitForState(queue, id, 'completed');

    expect((done.result as { text: string }).text).toHaveLength(text.length);
  });

  it('reports progress as events and in the job', async () => {
    const queue = await open();
    const events: JobEvent[] = [];
    await queue.subscribe((event) => events.push(event));
    queue.process(
      ['ingest'],
      async (_job, context) => {
        for (let done = 1; done <= 3; done++) await context.updateProgress({ done, total: 3 });
        return null;
      },
      { concurrency: 1 },
    );

    const { id } = await queue.add('ingest', ingestPayload('doc-1'));
    await waitForState(queue, id, 'completed');
    await waitUntil(() => events.some((event) => event.kind === 'completed'), 'the completed event');

    const mine = events.filter((event) => event.jobId === id);
    const progress = mine.flatMap((event) => (event.kind === 'progress' ? [event.progress] : []));
    expect(progress).toEqual([
      { done: 1, total: 3 },
      { done: 2, total: 3 },
      { done: 3, total: 3 },
    ]);
    expect(mine.map((event) => event.kind).at(-1)).toBe('completed');
    expect((await queue.get(id))?.progress).toEqual({ done: 3, total: 3 });
  });

  it('rejects invalid progress', async () => {
    const queue = await open();
    queue.process(
      ['ingest'],
      async (_job, context) => {
        await context.updateProgress({ done: 4, total: 3 });
        return null;
      },
      { concurrency: 1 },
    );

    const { id } = await queue.add('ingest', ingestPayload('doc-1'));
    const failed = await waitForState(queue, id, 'failed');

    expect(failed.failedCode).toBe('INVALID_ARGUMENT');
    expect(failed.attemptsMade).toBe(1);
  });

  it('retries a transient error then succeeds', async () => {
    const queue = await open();
    const events: JobEvent[] = [];
    await queue.subscribe((event) => events.push(event));
    const attempts: number[] = [];
    queue.process(
      ['ingest'],
      (job) => {
        attempts.push(job.attempt);
        if (job.attempt === 1) return Promise.reject(new Error('connection reset by embedder'));
        return Promise.resolve('ok');
      },
      { concurrency: 1 },
    );

    const { id } = await queue.add('ingest', ingestPayload('doc-1'));
    const done = await waitForState(queue, id, 'completed');
    await waitUntil(() => events.some((event) => event.kind === 'completed'), 'the completed event');

    expect(done.result).toBe('ok');
    expect(done.attemptsMade).toBe(2);
    expect(attempts).toEqual([1, 2]);
    expect(events).toContainEqual({ kind: 'retrying', jobId: id, reason: 'connection reset by embedder' });
    expect(events.filter((event) => event.kind === 'active')).toHaveLength(2);
  });

  it('fails a permanent error once with its reason', async () => {
    const queue = await open();
    const events: JobEvent[] = [];
    await queue.subscribe((event) => events.push(event));
    let calls = 0;
    queue.process(
      ['ingest'],
      () => {
        calls++;
        return Promise.reject(new DocentError('PARSE_FAILED', 'doc-1.pdf has no cross-reference table.'));
      },
      { concurrency: 1 },
    );

    const { id } = await queue.add('ingest', ingestPayload('doc-1'));
    const failed = await waitForState(queue, id, 'failed');
    await waitUntil(() => events.some((event) => event.kind === 'failed'), 'the failed event');

    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toBe('doc-1.pdf has no cross-reference table.');
    expect(failed.failedCode).toBe('PARSE_FAILED');
    expect(calls).toBe(1);
    expect(events.find((event) => event.kind === 'failed')).toEqual({
      kind: 'failed',
      jobId: id,
      reason: 'doc-1.pdf has no cross-reference table.',
      code: 'PARSE_FAILED',
    });
  });

  it('fails a transient error after all attempts', async () => {
    const queue = await open({ attempts: 3 });
    let calls = 0;
    queue.process(
      ['ingest'],
      () => {
        calls++;
        return Promise.reject(new DocentError('TIMEOUT', `Embedder timed out on call ${calls}.`));
      },
      { concurrency: 1 },
    );

    const { id } = await queue.add('ingest', ingestPayload('doc-1'));
    const failed = await waitForState(queue, id, 'failed');

    expect(failed.attemptsMade).toBe(3);
    expect(failed.failedCode).toBe('TIMEOUT');
    expect(failed.failedReason).toBe('Embedder timed out on call 3.');
    expect(calls).toBe(3);
  });

  it('lists failed jobs with their reasons', async () => {
    const queue = await open();
    queue.process(
      ['ingest'],
      (job) => {
        const name = job.type === 'ingest' ? job.payload.sourceName : '';
        if (name === 'good.txt') return Promise.resolve(null);
        return Promise.reject(new DocentError('EMPTY_DOCUMENT', `${name} contains no text.`));
      },
      { concurrency: 1 },
    );

    const good = await queue.add('ingest', ingestPayload('good'));
    const bad = await queue.add('ingest', ingestPayload('bad'));
    await waitForState(queue, good.id, 'completed');
    await waitForState(queue, bad.id, 'failed');

    const failed = await queue.list({ state: 'failed' });
    expect(failed.map((job) => [job.id, job.failedReason, job.failedCode])).toEqual([
      [bad.id, 'bad.txt contains no text.', 'EMPTY_DOCUMENT'],
    ]);
  });

  it('respects the concurrency limit', async () => {
    const queue = await open();
    let running = 0;
    let maxRunning = 0;
    queue.process(
      ['ingest'],
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await sleep(60);
        running--;
        return null;
      },
      { concurrency: 2 },
    );

    const jobs = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((n) => queue.add('ingest', ingestPayload(`doc-${n}`))),
    );
    for (const job of jobs) await waitForState(queue, job.id, 'completed');

    expect(maxRunning).toBe(2);
  });

  it('runs an owner lane in the order jobs were added', async () => {
    const queue = await open();
    const order: string[] = [];
    queue.process(
      ['apply', 'delete', 'reindex'],
      async (job) => {
        order.push(job.type);
        await sleep(5);
        return null;
      },
      { concurrency: 1 },
    );

    await queue.add('apply', { kind: 'ingest-result', documentId: 'doc-1' });
    await queue.add('delete', { documentId: 'doc-1' });
    await queue.add('reindex', { collection: 'default' });
    const last = await queue.add('apply', { kind: 'ingest-result', documentId: 'doc-2' });
    await waitForState(queue, last.id, 'completed');

    expect(order).toEqual(['apply', 'delete', 'reindex', 'apply']);
  });

  it('chains ingest results into apply jobs', async () => {
    const worker = await open();
    const owner = await open();
    const applied: JsonValue[] = [];
    worker.process(
      ['ingest'],
      async (job) => {
        const prepared = { documentId: job.type === 'ingest' ? job.payload.documentId : '', chunks: 2 };
        await worker.add(
          'apply',
          { kind: 'ingest-result', sourceJobId: job.id, data: prepared },
          { jobId: `apply-${job.id}` },
        );
        return prepared;
      },
      { concurrency: 2 },
    );
    owner.process(
      ['apply', 'delete', 'reindex'],
      (job) => {
        if (job.type === 'apply') applied.push(job.payload.data ?? null);
        return Promise.resolve(null);
      },
      { concurrency: 1 },
    );

    const ingest = await owner.add('ingest', ingestPayload('doc-7'));
    const apply = await waitForState(owner, `apply-${ingest.id}`, 'completed');

    expect(apply.payload).toMatchObject({ kind: 'ingest-result', sourceJobId: ingest.id });
    expect(applied).toEqual([{ documentId: 'doc-7', chunks: 2 }]);
  });

  it('waits for an active job on close', async () => {
    const queue = await open();
    const started = gate();
    let finished = false;
    queue.process(
      ['ingest'],
      async () => {
        started.open();
        await sleep(300);
        finished = true;
        return 'done';
      },
      { concurrency: 1 },
    );

    const { id } = await queue.add('ingest', ingestPayload('doc-1'));
    await started.promise;
    await queue.close();

    expect(finished).toBe(true);
    const reopened = await open();
    expect(await reopened.get(id)).toMatchObject({ state: 'completed', result: 'done' });
  });

  it('requeues a job that outlives the close timeout', async () => {
    const queue = await open();
    const started = gate();
    let aborted = false;
    queue.process(
      ['ingest'],
      (_job, context) => {
        started.open();
        return new Promise((_resolve, reject) => {
          context.signal.addEventListener('abort', () => {
            aborted = true;
            reject(new DocentError('CANCELLED', 'aborted'));
          });
        });
      },
      { concurrency: 1 },
    );

    const { id } = await queue.add('ingest', ingestPayload('doc-1'));
    await started.promise;
    await queue.close({ timeoutMs: 100 });
    expect(aborted).toBe(true);

    const restarted = await open();
    const attempts: number[] = [];
    restarted.process(
      ['ingest'],
      (job) => {
        attempts.push(job.attempt);
        return Promise.resolve('second run');
      },
      { concurrency: 1 },
    );
    const done = await waitForState(restarted, id, 'completed');

    expect(done.result).toBe('second run');
    expect(attempts).toEqual([1]);
  });

  it('rejects add after close', async () => {
    const queue = await open();

    await queue.close();

    await expect(queue.add('delete', { documentId: 'doc-1' })).rejects.toMatchObject({
      code: 'QUEUE_UNAVAILABLE',
    });
    expect(() => queue.process(['ingest'], () => Promise.resolve(null), { concurrency: 1 })).toThrow(
      DocentError,
    );
  });

  it('processes jobs added before a restart', async () => {
    const before = await open();
    const added = await Promise.all([1, 2, 3].map((n) => before.add('ingest', ingestPayload(`doc-${n}`))));
    await before.close();

    const after = await open();
    const seen: string[] = [];
    after.process(
      ['ingest'],
      (job) => {
        seen.push(job.id);
        return Promise.resolve(null);
      },
      { concurrency: 1 },
    );
    for (const job of added) await waitForState(after, job.id, 'completed');

    expect(seen.sort()).toEqual(added.map((job) => job.id).sort());
  });

  it('counts jobs by state', async () => {
    const queue = await open({ attempts: 2, backoffMs: 60_000 });
    const hang = gate();
    queue.process(
      ['ingest'],
      async (job) => {
        const name = job.type === 'ingest' ? job.payload.documentId : '';
        if (name === 'fails') throw new DocentError('NEEDS_OCR', 'fails.pdf is a scan.');
        if (name === 'retries') throw new Error('socket hang up');
        if (name === 'hangs') await hang.promise;
        return null;
      },
      { concurrency: 4 },
    );

    const completes = await queue.add('ingest', ingestPayload('completes'));
    const fails = await queue.add('ingest', ingestPayload('fails'));
    const retries = await queue.add('ingest', ingestPayload('retries'));
    const hangs = await queue.add('ingest', ingestPayload('hangs'));
    await queue.add('apply', { kind: 'ingest-result' });
    await queue.add('delete', { documentId: 'doc-9' });
    await waitForState(queue, completes.id, 'completed');
    await waitForState(queue, fails.id, 'failed');
    await waitForState(queue, retries.id, 'delayed');
    await waitForState(queue, hangs.id, 'active');

    expect(await queue.counts()).toEqual({ waiting: 2, active: 1, completed: 1, failed: 1, delayed: 1 });
    hang.open();
    await waitForState(queue, hangs.id, 'completed');
  });
}

/** Registers the BlobStore tests that every implementation passes. */
export function registerBlobStoreConformance(
  createStore: () => Promise<{ store: BlobStore; destroy: () => Promise<void> }>,
): void {
  let store: BlobStore;
  let destroy: () => Promise<void>;

  beforeEach(async () => {
    ({ store, destroy } = await createStore());
  });

  afterEach(async () => {
    await store.close();
    await destroy();
  });

  it('returns the bytes it stored', async () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);

    const ref = await store.put(bytes);

    expect(ref).toBe(blobRefOf(bytes));
    expect(ref).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await store.get(ref)).toEqual(bytes);
  });

  it('stores equal bytes under one reference', async () => {
    const first = await store.put(new TextEncoder().encode('same text'));
    const second = await store.put(new TextEncoder().encode('same text'));

    expect(second).toBe(first);
  });

  it('stores an empty blob', async () => {
    const ref = await store.put(new Uint8Array());

    expect(await store.get(ref)).toEqual(new Uint8Array());
  });

  it('raises NOT_FOUND after delete', async () => {
    const ref = await store.put(new TextEncoder().encode('to delete'));

    await store.delete(ref);
    await store.delete(ref);

    await expect(store.get(ref)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('rejects malformed references', async () => {
    await expect(store.get('../../etc/passwd')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.delete(`sha256:${'A'.repeat(64)}`)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
}
