import type { DocumentRecord } from '../../index/store.ts';
import type { Docent } from '../docent.ts';
import type { BlobStore } from '../queue/blob-store.ts';
import type { JobInfo, JobQueue, JsonValue } from '../queue/job-queue.ts';

export interface UploadedFile {
  readonly bytes: Uint8Array;
  readonly source: string;
  readonly declaredType?: string;
}

export interface Submission {
  readonly document: DocumentRecord;
  /** The ingest job, or null when the same bytes were already indexed or on their way. */
  readonly jobId: string | null;
  readonly duplicate: boolean;
}

/**
 * Turns API requests into jobs: uploads become `ingest` jobs with their bytes in the blob
 * store, deletes and reindexes become owner-lane jobs. Runs in the index owner process.
 */
export class Ingestion {
  constructor(
    private readonly docent: Docent,
    private readonly queue: JobQueue,
    private readonly blobs: BlobStore,
  ) {}

  /**
   * Registers an upload and queues its ingest. Bytes already in the collection return the
   * existing document; a failed one is queued again.
   */
  async submit(
    file: UploadedFile,
    collection: string,
    metadata: Record<string, JsonValue>,
  ): Promise<Submission> {
    const accepted = this.docent.accept({ bytes: file.bytes, source: file.source, collection, metadata });
    if (accepted.duplicate && !accepted.retry)
      return { document: accepted.document, jobId: null, duplicate: true };

    const document = accepted.document;
    const embedder = this.docent.store.requireCollection(document.collection).embedderId;
    try {
      const blobRef = await this.blobs.put(file.bytes);
      const job = await this.queue.add('ingest', {
        documentId: document.id,
        collection: document.collection,
        sourceName: document.source,
        blobRef,
        metadata,
        embedder,
        ...(file.declaredType === undefined ? {} : { declaredType: file.declaredType }),
      });
      return {
        document: this.docent.store.requireDocument(document.id),
        jobId: job.id,
        duplicate: accepted.duplicate,
      };
    } catch (error) {
      // Without a job the document would stay queued for ever; record why, so an upload retries it.
      this.docent.fail(document.id, error);
      throw error;
    }
  }

  deleteDocument(documentId: string): Promise<JobInfo> {
    this.docent.store.requireDocument(documentId);
    return this.queue.add('delete', { documentId });
  }

  reindex(collection: string | undefined, embedder: string | undefined): Promise<JobInfo> {
    if (collection !== undefined) this.docent.store.requireCollection(collection);
    return this.queue.add('reindex', {
      ...(collection === undefined ? {} : { collection }),
      ...(embedder === undefined ? {} : { embedder }),
    });
  }

  /** Marks a document `processing` when a worker starts on it, unless it moved on already. */
  markProcessing(documentId: string): void {
    const document = this.docent.store.getDocument(documentId);
    if (document?.status === 'queued') this.docent.store.markProcessing(documentId);
  }

  /** Records a failed ingest unless the document was indexed, failed or deleted meanwhile. */
  markFailed(documentId: string, code: string, reason: string): void {
    const document = this.docent.store.getDocument(documentId);
    if (document?.status === 'queued' || document?.status === 'processing') {
      this.docent.store.markFailed(documentId, code, reason);
    }
  }
}
