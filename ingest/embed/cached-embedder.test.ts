import { describe, expect, it } from 'vitest';
import { CachedEmbedder } from './cached-embedder.ts';
import { describeEmbedderConformance } from './conformance.ts';
import type { Embedder, EmbeddingKind } from './embedder.ts';
import { hashText, LruEmbeddingCache } from './embedding-cache.ts';
import { HashEmbedder } from './hash-embedder.ts';

describeEmbedderConformance('CachedEmbedder', () =>
  Promise.resolve(
    new CachedEmbedder(new HashEmbedder({ dimension: 128, batchSize: 3 }), new LruEmbeddingCache(100)),
  ),
);

/** Records every call to the wrapped embedder. */
class RecordingEmbedder implements Embedder {
  readonly id = 'recording';
  readonly dimension = 64;
  readonly calls: Array<{ texts: readonly string[]; kind: EmbeddingKind }> = [];
  private readonly inner = new HashEmbedder({ dimension: 64, batchSize: 8 });

  embed(texts: readonly string[], kind: EmbeddingKind): Promise<Float32Array[]> {
    this.calls.push({ texts: [...texts], kind });
    return this.inner.embed(texts, kind);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

describe('CachedEmbedder', () => {
  it('embeds only texts it has not seen', async () => {
    const inner = new RecordingEmbedder();
    const embedder = new CachedEmbedder(inner, new LruEmbeddingCache(100));

    const first = await embedder.embed(['alpha', 'beta'], 'document');
    const second = await embedder.embed(['beta', 'gamma', 'alpha'], 'document');

    expect(inner.calls.map((call) => call.texts)).toEqual([['alpha', 'beta'], ['gamma']]);
    expect(Array.from(second[0] ?? [])).toEqual(Array.from(first[1] ?? []));
    expect(Array.from(second[2] ?? [])).toEqual(Array.from(first[0] ?? []));
    expect(embedder.stats).toEqual({ hits: 2, misses: 3 });
  });

  it('embeds a repeated text once', async () => {
    const inner = new RecordingEmbedder();
    const embedder = new CachedEmbedder(inner, new LruEmbeddingCache(100));
    const vectors = await embedder.embed(['same', 'same', 'other'], 'document');
    expect(inner.calls.map((call) => call.texts)).toEqual([['same', 'other']]);
    expect(vectors).toHaveLength(3);
  });

  it('passes queries through uncached', async () => {
    const inner = new RecordingEmbedder();
    const embedder = new CachedEmbedder(inner, new LruEmbeddingCache(100));
    await embedder.embed(['question'], 'query');
    await embedder.embed(['question'], 'query');
    expect(inner.calls).toHaveLength(2);
    expect(inner.calls[0]?.kind).toBe('query');
  });

  it('keys the cache by embedder id and sha256', async () => {
    const cache = new LruEmbeddingCache(100);
    const embedder = new CachedEmbedder(new RecordingEmbedder(), cache);
    await embedder.embed(['alpha'], 'document');
    const hash = hashText('alpha');
    expect(hash).toBe('8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8');
    expect(cache.get('recording', [hash]).size).toBe(1);
    expect(cache.get('other-embedder', [hash]).size).toBe(0);
  });

  it('returns copies of cached vectors', async () => {
    const embedder = new CachedEmbedder(new RecordingEmbedder(), new LruEmbeddingCache(100));
    const [first] = await embedder.embed(['alpha'], 'document');
    first?.fill(0);
    const [second] = await embedder.embed(['alpha'], 'document');
    expect(second?.some((value) => value !== 0)).toBe(true);
  });
});

describe('LruEmbeddingCache', () => {
  const vector = (value: number): Float32Array => Float32Array.of(value);

  it('evicts the least recently used entry', () => {
    const cache = new LruEmbeddingCache(2);
    cache.put(
      'e',
      new Map([
        ['a', vector(1)],
        ['b', vector(2)],
      ]),
    );
    cache.get('e', ['a']);
    cache.put('e', new Map([['c', vector(3)]]));

    expect(cache.size).toBe(2);
    expect([...cache.get('e', ['a', 'b', 'c']).keys()]).toEqual(['a', 'c']);
  });

  it('rejects a non-positive size', () => {
    expect(() => new LruEmbeddingCache(0)).toThrow(/cache size \(0\)/);
  });
});
