import { describe, expect, it } from 'vitest';
import { normalize, reciprocalRankFusion, singleList, weightedFusion, type RankedHit } from './fusion.ts';

const hits = (...entries: Array<[number, number]>): RankedHit[] =>
  entries.map(([chunkId, score]) => ({ chunkId, score }));

describe('reciprocalRankFusion', () => {
  it('fuses by chunk id and sums reciprocal ranks', () => {
    const fused = reciprocalRankFusion(hits([1, 0.9], [2, 0.8]), hits([2, 7], [3, 5]), 60);
    expect(fused.map((hit) => hit.chunkId)).toEqual([2, 1, 3]);
    expect(fused[0]?.score).toBeCloseTo(1 / 62 + 1 / 61);
    expect(fused[0]?.denseRank).toBe(2);
    expect(fused[0]?.sparseRank).toBe(1);
  });

  it('returns nothing for two empty lists', () => {
    expect(reciprocalRankFusion([], [], 60)).toEqual([]);
  });

  it('keeps a single hit from only one retriever', () => {
    const fused = reciprocalRankFusion([], hits([5, 3.2]), 60);
    expect(fused).toHaveLength(1);
    expect(fused[0]?.denseRank).toBeNull();
    expect(fused[0]?.sparseRank).toBe(1);
  });

  it('breaks ties by best rank then chunk id', () => {
    const fused = reciprocalRankFusion(hits([10, 1], [11, 1]), hits([11, 1], [10, 1]), 60);
    expect(fused[0]?.score).toBeCloseTo(fused[1]?.score ?? 0);
    expect(fused.map((hit) => hit.chunkId)).toEqual([10, 11]);
  });

  it('counts a chunk listed twice once per list', () => {
    const fused = reciprocalRankFusion(hits([1, 0.9], [1, 0.5]), [], 60);
    expect(fused).toHaveLength(1);
    expect(fused[0]?.score).toBeCloseTo(1 / 61);
  });
});

describe('weightedFusion', () => {
  it('weights min-max normalised scores by alpha', () => {
    const fused = weightedFusion(hits([1, 0.9], [2, 0.5]), hits([2, 10], [3, 4]), 0.5, 'minmax');
    const byId = new Map(fused.map((hit) => [hit.chunkId, hit.score]));
    expect(byId.get(1)).toBeCloseTo(0.5);
    expect(byId.get(2)).toBeCloseTo(0.5);
    expect(byId.get(3)).toBeCloseTo(0);
  });

  it('alpha 1 orders by dense score only', () => {
    const fused = weightedFusion(hits([1, 0.2], [2, 0.1]), hits([2, 50]), 1, 'minmax');
    expect(fused.map((hit) => hit.chunkId)).toEqual([1, 2]);
  });

  it('handles one lexical hit and no dense support', () => {
    const fused = weightedFusion([], hits([4, 12]), 0.5, 'zscore');
    expect(fused).toHaveLength(1);
    expect(Number.isFinite(fused[0]?.score)).toBe(true);
  });

  it('keeps a legitimate alpha of 0', () => {
    const fused = weightedFusion(hits([1, 0.9]), hits([2, 3]), 0, 'minmax');
    expect(fused[0]?.chunkId).toBe(2);
  });
});

describe('normalize', () => {
  it('maps tied scores to 1 for min-max and 0 for z-score', () => {
    expect(normalize([3, 3, 3], 'minmax')).toEqual([1, 1, 1]);
    expect(normalize([3, 3], 'zscore')).toEqual([0, 0]);
  });

  it('returns an empty list for no scores', () => {
    expect(normalize([], 'minmax')).toEqual([]);
    expect(normalize([], 'zscore')).toEqual([]);
  });

  it('scales min-max into [0, 1]', () => {
    expect(normalize([10, 5, 0], 'minmax')).toEqual([1, 0.5, 0]);
  });
});

describe('singleList', () => {
  it('keeps scores and ranks of one retriever', () => {
    const result = singleList(hits([7, 0.7], [8, 0.6]), 'dense');
    expect(result.map((hit) => [hit.chunkId, hit.denseRank, hit.score])).toEqual([
      [7, 1, 0.7],
      [8, 2, 0.6],
    ]);
  });
});
