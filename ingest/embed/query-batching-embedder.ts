import type { Embedder, EmbeddingKind } from './embedder.ts';

interface PendingQuery {
  readonly text: string;
  readonly resolve: (vector: Float32Array) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Embedder that groups concurrent query embeddings into batches. A query arriving while no
 * batch runs starts one at once, so a lone query waits for nothing; queries arriving while a
 * batch runs go into the next one. Under concurrent search this replaces many one-text model
 * calls with a few batched ones. Document embeddings pass straight through.
 */
export class QueryBatchingEmbedder implements Embedder {
  readonly id: string;
  readonly dimension: number;
  private readonly pending: PendingQuery[] = [];
  private running = false;
  private batchCount = 0;

  constructor(
    private readonly inner: Embedder,
    private readonly maxBatch = 64,
  ) {
    this.id = inner.id;
    this.dimension = inner.dimension;
  }

  /** Model calls made for queries since construction. */
  get batches(): number {
    return this.batchCount;
  }

  embed(texts: readonly string[], kind: EmbeddingKind): Promise<Float32Array[]> {
    if (kind !== 'query') return this.inner.embed(texts, kind);
    return Promise.all(
      texts.map(
        (text) =>
          new Promise<Float32Array>((resolve, reject) => {
            this.pending.push({ text, resolve, reject });
            void this.drain();
          }),
      ),
    );
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, this.maxBatch);
        this.batchCount += 1;
        try {
          const vectors = await this.inner.embed(
            batch.map((query) => query.text),
            'query',
          );
          batch.forEach((query, index) => {
            const vector = vectors[index];
            if (vector === undefined)
              query.reject(new Error(`The embedder returned no vector for query ${index}`));
            else query.resolve(vector);
          });
        } catch (error) {
          for (const query of batch) query.reject(error);
        }
      }
    } finally {
      this.running = false;
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
