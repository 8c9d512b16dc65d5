import type { Embedder, EmbeddingKind } from './embedder.ts';
import { hashText, type EmbeddingCache } from './embedding-cache.ts';

/**
 * Embedder that looks each text up in an EmbeddingCache first and embeds only the misses, in one
 * call to the wrapped embedder. It keeps the wrapped embedder's id and dimension.
 *
 * NOTE: the cache key has no embedding kind because the keys are fixed as (embedder id, text
 * hash). Only `document` embeddings are cached, so embedders that prefix queries stay correct.
 */
export class CachedEmbedder implements Embedder {
  readonly id: string;
  readonly dimension: number;
  private hitCount = 0;
  private missCount = 0;

  constructor(
    private readonly inner: Embedder,
    private readonly cache: EmbeddingCache,
  ) {
    this.id = inner.id;
    this.dimension = inner.dimension;
  }

  /** Counts of texts served from the cache and texts embedded, since construction. */
  get stats(): { readonly hits: number; readonly misses: number } {
    return { hits: this.hitCount, misses: this.missCount };
  }

  async embed(texts: readonly string[], kind: EmbeddingKind): Promise<Float32Array[]> {
    if (kind !== 'document') return this.inner.embed(texts, kind);
    if (texts.length === 0) return [];

    const hashes = texts.map(hashText);
    const found = this.cache.get(this.id, hashes);

    // Each distinct missing text is embedded once, even when it occurs several times in `texts`.
    const missing = new Map<string, string>();
    hashes.forEach((hash, i) => {
      if (!found.has(hash) && !missing.has(hash)) missing.set(hash, texts[i] ?? '');
    });
    if (missing.size > 0) {
      const vectors = await this.inner.embed([...missing.values()], kind);
      const computed = new Map<string, Float32Array>();
      [...missing.keys()].forEach((hash, i) => {
        const vector = vectors[i];
        if (vector !== undefined) computed.set(hash, vector);
      });
      this.cache.put(this.id, computed);
      for (const [hash, vector] of computed) found.set(hash, vector);
    }

    this.missCount += missing.size;
    this.hitCount += texts.length - missing.size;
    // Copies, so that a caller who changes a returned vector cannot change the cached one.
    return hashes.map((hash) => Float32Array.from(found.get(hash) ?? new Float32Array(this.dimension)));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
