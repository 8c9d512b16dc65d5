import { describe, expect, it } from 'vitest';
import { HashEmbedder } from './hash-embedder.ts';
import { QueryBatchingEmbedder } from './query-batching-embedder.ts';
import type { EmbeddingKind } from './embedder.ts';

class SlowCountingEmbedder extends HashEmbedder {
  calls: string[][] = [];

  override async embed(texts: readonly string[], kind: EmbeddingKind): Promise<Float32Array[]> {
    this.calls.push([...texts]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    return super.embed(texts, kind);
  }
}

describe('QueryBatchingEmbedder', () => {
  it('batches concurrent queries and keeps their order', async () => {
    const inner = new SlowCountingEmbedder({ dimension: 32, batchSize: 32 });
    const batching = new QueryBatchingEmbedder(inner);
    const queries = Array.from({ length: 20 }, (_, index) => `query number ${index}`);

    const vectors = await Promise.all(queries.map((query) => batching.embed([query], 'query')));
    const expected = await new HashEmbedder({ dimension: 32, batchSize: 32 }).embed(queries, 'query');

    expect(inner.calls.length).toBeLessThan(queries.length);
    expect(inner.calls[0]).toEqual([queries[0]]);
    vectors.forEach(([vector], index) =>
      expect(Array.from(vector ?? [])).toEqual(Array.from(expected[index] ?? [])),
    );
  });

  it('passes document embeddings through unbatched', async () => {
    const inner = new SlowCountingEmbedder({ dimension: 16, batchSize: 32 });
    const batching = new QueryBatchingEmbedder(inner);
    await Promise.all([batching.embed(['a', 'b'], 'document'), batching.embed(['c'], 'document')]);
    expect(inner.calls).toEqual([['a', 'b'], ['c']]);
  });

  it('rejects every query of a failed batch', async () => {
    const inner = new SlowCountingEmbedder({ dimension: 16, batchSize: 32 });
    inner.embed = () => Promise.reject(new Error('model crashed'));
    const batching = new QueryBatchingEmbedder(inner);
    const results = await Promise.allSettled([
      batching.embed(['x'], 'query'),
      batching.embed(['y'], 'query'),
    ]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    await expect(batching.embed(['z'], 'query')).rejects.toThrow('model crashed');
  });
});
