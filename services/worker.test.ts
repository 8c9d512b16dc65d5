import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DocentError } from '../core/errors.ts';
import { silentLogger } from '../core/logger.ts';
import type { Docent } from './docent.ts';
import { encodePrepared } from './prepared-codec.ts';
import { FileBlobStore } from './queue/blob-store.ts';
import type { JobHandler, JobInfo, RunningJob } from './queue/job-queue.ts';
import { APPLY_INGEST_FAILED, APPLY_INGEST_RESULT, createOwnerHandler, ingestFailureOf } from './worker.ts';
import { openTestDocent } from '../test/support/test-docent.ts';

let dispose: (() => Promise<void>) | undefined;
afterEach(async () => {
  await dispose?.();
  dispose = undefined;
});

describe('owner handler', () => {
  it('keeps an indexed document when a late failure arrives', async () => {
    const context = await openTestDocent();
    dispose = context.dispose;
    const { docent } = context;
    const { document } = await docent.ingest({
      bytes: new TextEncoder().encode('Lighthouse notes.'),
      source: 'note.txt',
    });
    expect(document.status).toBe('indexed');

    const handler = createOwnerHandler({
      docent,
      blobs: new FileBlobStore(context.dataDir),
      logger: silentLogger,
    });
    const controller = new AbortController();
    await handler(
      {
        id: 'failed-1',
        type: 'apply',
        payload: {
          kind: APPLY_INGEST_FAILED,
          documentId: document.id,
          sourceJobId: '1',
          data: { code: 'NOT_FOUND', message: 'Blob not found' },
        },
        attempt: 1,
        maxAttempts: 3,
      },
      { updateProgress: () => Promise.resolve(), signal: controller.signal, logger: silentLogger },
    );

    expect(docent.store.requireDocument(document.id).status).toBe('indexed');
  });
});

/** A file blob store whose next `get` fails as if Redis had gone away. */
class FlakyBlobStore extends FileBlobStore {
  failNextGet = false;

  override get(ref: string): Promise<Uint8Array> {
    if (!this.failNextGet) return super.get(ref);
    this.failNextGet = false;
    return Promise.reject(new DocentError('QUEUE_UNAVAILABLE', 'Redis is not reachable'));
  }
}

/**
 * Opens an engine with an owner handler over a flaky blob store, accepts a note and stores its
 * prepared result, as an ingest worker would.
 */
async function prepareNote(): Promise<{
  docent: Docent;
  blobs: FlakyBlobStore;
  handler: JobHandler;
  documentId: string;
  resultRef: string;
}> {
  const context = await openTestDocent();
  dispose = context.dispose;
  const { docent } = context;
  const blobs = new FlakyBlobStore(path.join(context.dataDir, 'blobs'));
  const handler = createOwnerHandler({ docent, blobs, logger: silentLogger });

  const bytes = new TextEncoder().encode('The keeper logged a storm from the north-east.');
  const { document } = docent.accept({ bytes, source: 'storm.txt' });
  const prepared = await docent.prepare(document.id, { bytes, source: 'storm.txt' });
  const resultRef = await blobs.put(encodePrepared(prepared));
  return { docent, blobs, handler, documentId: document.id, resultRef };
}

function applyRun(documentId: string, resultRef: string, attempt: number): RunningJob {
  return {
    id: `apply-${documentId}`,
    type: 'apply',
    payload: { kind: APPLY_INGEST_RESULT, documentId, sourceJobId: documentId, resultRef },
    attempt,
    maxAttempts: 3,
  };
}

function runOwner(handler: JobHandler, job: RunningJob): ReturnType<JobHandler> {
  const controller = new AbortController();
  return handler(job, {
    updateProgress: () => Promise.resolve(),
    signal: controller.signal,
    logger: silentLogger,
  });
}

describe('owner handler with apply failures', () => {
  it('keeps the result for a retry', async () => {
    const { docent, blobs, handler, documentId, resultRef } = await prepareNote();

    blobs.failNextGet = true;
    await expect(runOwner(handler, applyRun(documentId, resultRef, 1))).rejects.toThrow(/not reachable/);
    expect(docent.store.requireDocument(documentId).status).toBe('processing');

    await runOwner(handler, applyRun(documentId, resultRef, 2));
    expect(docent.store.requireDocument(documentId).status).toBe('indexed');
    await expect(blobs.get(resultRef)).rejects.toThrow(/not found/i);
  });

  it('skips a second run after the write', async () => {
    const { docent, handler, documentId, resultRef } = await prepareNote();

    await runOwner(handler, applyRun(documentId, resultRef, 1));
    const second = await runOwner(handler, applyRun(documentId, resultRef, 1));

    expect(second).toEqual({ documentId, skipped: 'already indexed' });
    expect(docent.store.requireDocument(documentId).status).toBe('indexed');
  });

  it('marks the document failed on the last attempt', async () => {
    const { docent, blobs, handler, documentId, resultRef } = await prepareNote();

    blobs.failNextGet = true;
    await expect(runOwner(handler, applyRun(documentId, resultRef, 3))).rejects.toThrow(/not reachable/);
    const document = docent.store.requireDocument(documentId);
    expect(document.status).toBe('failed');
    expect(document.errorCode).toBe('QUEUE_UNAVAILABLE');
    expect(document.errorMessage).toMatch(/^Writing the prepared document .* not reachable/);
    await expect(blobs.get(resultRef)).rejects.toThrow(/not found/i);
  });

  it('marks the document failed when the result is gone', async () => {
    const { docent, blobs, handler, documentId, resultRef } = await prepareNote();
    await blobs.delete(resultRef);

    await expect(runOwner(handler, applyRun(documentId, resultRef, 1))).rejects.toThrow(/not found/i);
    const document = docent.store.requireDocument(documentId);
    expect(document.status).toBe('failed');
    expect(document.errorCode).toBe('NOT_FOUND');
  });
});

describe('ingestFailureOf', () => {
  const base = {
    state: 'failed',
    progress: null,
    attemptsMade: 3,
    maxAttempts: 3,
    result: null,
    failedReason: 'job stalled more than allowable limit',
    failedCode: 'INTERNAL',
    createdAt: 0,
    startedAt: 0,
    finishedAt: 0,
  } as const;
  const reason = 'job stalled more than allowable limit';

  it('names the document of an ingest job', () => {
    const job: JobInfo = {
      ...base,
      id: 'ingest-1',
      type: 'ingest',
      payload: {
        documentId: 'doc-1',
        collection: 'c',
        sourceName: 'a.txt',
        blobRef: 'sha256:00',
        metadata: {},
      },
    };
    expect(ingestFailureOf(job, 'INTERNAL', reason)).toEqual({
      documentId: 'doc-1',
      code: 'INTERNAL',
      reason,
    });
  });

  it('explains a failed write of a result', () => {
    const job: JobInfo = {
      ...base,
      id: 'apply-1',
      type: 'apply',
      payload: { kind: APPLY_INGEST_RESULT, documentId: 'doc-1', resultRef: 'sha256:00' },
    };
    expect(ingestFailureOf(job, 'INTERNAL', reason)).toEqual({
      documentId: 'doc-1',
      code: 'INTERNAL',
      reason: `Writing the prepared document to the index failed: ${reason}`,
    });
  });

  it('keeps the reason of a failure report', () => {
    const job: JobInfo = {
      ...base,
      id: 'failed-1',
      type: 'apply',
      payload: {
        kind: APPLY_INGEST_FAILED,
        documentId: 'doc-1',
        data: { code: 'PARSE_FAILED', message: 'No text layer' },
      },
    };
    expect(ingestFailureOf(job, 'INTERNAL', reason)).toEqual({
      documentId: 'doc-1',
      code: 'PARSE_FAILED',
      reason: 'No text layer',
    });
  });

  it('ignores jobs without a document', () => {
    const job: JobInfo = { ...base, id: 'reindex-1', type: 'reindex', payload: {} };
    expect(ingestFailureOf(job, 'INTERNAL', reason)).toBeUndefined();
  });
});
