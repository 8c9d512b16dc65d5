import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { FileBlobStore } from './queue/blob-store.ts';
import { APPLY_INGEST_FAILED, createOwnerHandler } from './worker.ts';
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
