import { DocentError } from '../../core/errors.ts';
import { BaseEmbedder } from './base-embedder.ts';
import type { EmbeddingKind } from './embedder.ts';

const WORD = /[\p{L}\p{N}]+/gu;

/** Feature that an empty or symbol-only text hashes to, so that its vector still has unit length. */
const EMPTY_TEXT_FEATURE = '\u0000empty';

export interface HashEmbedderOptions {
  readonly dimension: number;
  readonly batchSize: number;
}

/**
 * Deterministic embedder without a model, for tests and large benchmarks: lower-cased word
 * unigrams and bigrams are hashed (32-bit FNV-1a) into `dimension` buckets with a hash-derived
 * sign, then normalised. Texts that share words get similar vectors, but synonyms without shared words do not.
 */
export class HashEmbedder extends BaseEmbedder {
  readonly id: string;
  readonly dimension: number;
  protected override readonly sortByLength = false;

  constructor(options: HashEmbedderOptions) {
    super(options.batchSize);
    if (!Number.isInteger(options.dimension) || options.dimension < 2 || options.dimension > 65_536) {
      throw new DocentError(
        'INVALID_ARGUMENT',
        `Hash embedder dimension (${options.dimension}) must be an integer from 2 to 65536, e.g. hash:256.`,
      );
    }
    this.dimension = options.dimension;
    this.id = `hash:${options.dimension}`;
  }

  protected embedBatch(texts: readonly string[], _kind: EmbeddingKind): Promise<Float32Array[]> {
    return Promise.resolve(texts.map((text) => this.embedText(text)));
  }

  private embedText(text: string): Float32Array {
    const vector = new Float32Array(this.dimension);
    const words = text.toLowerCase().match(WORD) ?? [];
    if (words.length === 0) {
      this.addFeature(vector, EMPTY_TEXT_FEATURE, 1);
      return vector;
    }
    for (let i = 0; i < words.length; i++) {
      const word = words[i] ?? '';
      this.addFeature(vector, word, 1);
      if (i > 0) this.addFeature(vector, `${words[i - 1] ?? ''} ${word}`, 0.5);
    }
    return vector;
  }

  private addFeature(vector: Float32Array, feature: string, weight: number): void {
    const hash = fnv1a(feature);
    const bucket = hash % this.dimension;
    // The top bit picks the sign so that colliding features tend to cancel instead of adding up.
    const sign = hash & 0x8000_0000 ? -1 : 1;
    vector[bucket] = (vector[bucket] ?? 0) + sign * weight;
  }
}

function fnv1a(text: string): number {
  let hash = 0x811c_9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x0100_0193);
  }
  return hash >>> 0;
}
