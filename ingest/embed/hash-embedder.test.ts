import { describe, expect, it } from 'vitest';
import { DocentError } from '../../core/errors.ts';
import { describeEmbedderConformance } from './conformance.ts';
import { HashEmbedder } from './hash-embedder.ts';
import { dot } from './vector.ts';

describeEmbedderConformance('HashEmbedder', () =>
  Promise.resolve(new HashEmbedder({ dimension: 256, batchSize: 3 })),
);

describe('HashEmbedder', () => {
  it('names its dimension in the id', () => {
    expect(new HashEmbedder({ dimension: 64, batchSize: 8 }).id).toBe('hash:64');
  });

  it('rejects an invalid dimension', () => {
    expect(() => new HashEmbedder({ dimension: 1, batchSize: 8 })).toThrow(DocentError);
    expect(() => new HashEmbedder({ dimension: 3.5, batchSize: 8 })).toThrow(/dimension \(3.5\)/);
  });

  it('ignores case and punctuation', async () => {
    const embedder = new HashEmbedder({ dimension: 128, batchSize: 8 });
    const [a, b] = await embedder.embed(['Hello, World!', 'hello world'], 'document');
    expect(dot(a ?? new Float32Array(), b ?? new Float32Array())).toBeCloseTo(1, 6);
  });
});
