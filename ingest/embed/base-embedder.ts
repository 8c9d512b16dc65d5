import { DocentError } from '../../core/errors.ts';
import type { Embedder, EmbeddingKind } from './embedder.ts';
import { normalizeInPlace } from './vector.ts';

/**
 * Shared frame of the embedders: validates the input, splits it into batches of `batchSize`,
 * calls `embedBatch` for each and checks and normalises what it returns. Subclasses fill in
 * `embedBatch` and may override `close`.
 */
export abstract class BaseEmbedder implements Embedder {
  abstract readonly id: string;
  abstract readonly dimension: number;
  readonly batchSize: number;
  /** Whether `embed` groups texts of similar length into batches; off for models without padding. */
  protected readonly sortByLength: boolean = true;
  /** Number of `embedBatch` calls `embed` keeps running at once; above 1 only for embedders with worker threads. */
  protected readonly concurrency: number = 1;

  protected constructor(batchSize: number) {
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new DocentError(
        'INVALID_ARGUMENT',
        `batchSize (${batchSize}) must be a positive integer; set DOCENT_EMBED_BATCH_SIZE to a value such as 32.`,
      );
    }
    this.batchSize = batchSize;
  }

  async embed(texts: readonly string[], kind: EmbeddingKind): Promise<Float32Array[]> {
    if (kind !== 'query' && kind !== 'document') {
      throw new DocentError(
        'INVALID_ARGUMENT',
        `Embedding kind ${JSON.stringify(kind)} is invalid; use 'query' or 'document'.`,
      );
    }
    const nonString = texts.findIndex((text) => typeof text !== 'string');
    if (nonString !== -1) {
      throw new DocentError(
        'INVALID_ARGUMENT',
        `texts[${nonString}] is ${typeof texts[nonString]}, not a string; pass the chunk texts as strings.`,
      );
    }

    // Texts of similar length share a batch, so that models which pad each batch to its longest
    // text waste less work on padding. Results return in input order.
    const order = texts.map((_text, index) => index);
    if (this.sortByLength) order.sort((a, b) => (texts[b]?.length ?? 0) - (texts[a]?.length ?? 0) || a - b);

    const batches: number[][] = [];
    for (let offset = 0; offset < order.length; offset += this.batchSize) {
      batches.push(order.slice(offset, offset + this.batchSize));
    }

    const vectors = new Array<Float32Array>(texts.length);
    const runBatch = async (batchIndices: readonly number[]): Promise<void> => {
      const batch = batchIndices.map((index) => texts[index] ?? '');
      const batchVectors = await this.embedBatch(batch, kind);
      if (batchVectors.length !== batch.length) {
        throw new DocentError(
          'INTERNAL',
          `Embedder ${this.id} returned ${batchVectors.length} vectors for ${batch.length} texts.`,
        );
      }
      batchVectors.forEach((vector, i) => {
        if (vector.length !== this.dimension) {
          throw new DocentError(
            'INTERNAL',
            `Embedder ${this.id} returned a vector of dimension ${vector.length}, expected ${this.dimension}.`,
          );
        }
        vectors[batchIndices[i] ?? 0] = normalizeInPlace(vector);
      });
    };

    // Up to `concurrency` lanes each take the next batch until none is left.
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < batches.length) {
        const batchIndices = batches[next++] ?? [];
        await runBatch(batchIndices);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, batches.length) }, lane));
    return vectors;
  }

  async close(): Promise<void> {}

  /** Embeds one batch of at most `batchSize` texts; the result need not be normalised. */
  protected abstract embedBatch(texts: readonly string[], kind: EmbeddingKind): Promise<Float32Array[]>;
}
