import { createHash } from 'node:crypto';
import { DocentError } from '../../core/errors.ts';

/**
 * Storage for computed embeddings, keyed by embedder id and the sha256 hex digest of the text.
 * The SQLite implementation lives in the index; `LruEmbeddingCache` keeps them in memory.
 */
export interface EmbeddingCache {
  /** Returns the stored vectors among `hashes`; missing hashes are absent from the map. */
  get(embedderId: string, hashes: readonly string[]): Map<string, Float32Array>;
  put(embedderId: string, entries: ReadonlyMap<string, Float32Array>): void;
}

/** sha256 hex digest of the UTF-8 text, the cache key of one embedding. */
export function hashText(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** In-memory EmbeddingCache that evicts the least recently used entry beyond `maxEntries`. */
export class LruEmbeddingCache implements EmbeddingCache {
  // A Map iterates in insertion order, so re-inserting on every hit keeps the oldest entry first.
  private readonly entries = new Map<string, Float32Array>();

  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new DocentError(
        'INVALID_ARGUMENT',
        `Embedding cache size (${maxEntries}) must be a positive integer.`,
      );
    }
  }

  get size(): number {
    return this.entries.size;
  }

  get(embedderId: string, hashes: readonly string[]): Map<string, Float32Array> {
    const found = new Map<string, Float32Array>();
    for (const hash of hashes) {
      const key = cacheKey(embedderId, hash);
      const vector = this.entries.get(key);
      if (vector === undefined) continue;
      this.entries.delete(key);
      this.entries.set(key, vector);
      found.set(hash, vector);
    }
    return found;
  }

  put(embedderId: string, entries: ReadonlyMap<string, Float32Array>): void {
    for (const [hash, vector] of entries) {
      const key = cacheKey(embedderId, hash);
      this.entries.delete(key);
      this.entries.set(key, vector);
    }
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(oldest);
    }
  }
}

function cacheKey(embedderId: string, hash: string): string {
  return `${embedderId}\u0000${hash}`;
}
