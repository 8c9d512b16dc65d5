import { Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { KvCache, type KvLayout } from './kv-cache.ts';
import { PrefixCache, commonPrefixLength } from './prefix-cache.ts';

const layout: KvLayout = { layers: 1, kvHeads: 1, headDim: 2, type: 'float32' };

/** Builds a cache whose rows contain the token ids, so a cut can be checked by value. */
function cacheOf(tokens: readonly number[]): KvCache {
  const data = Float32Array.from(tokens.flatMap((token) => [token, token]));
  return KvCache.fromPresent(layout, [
    new Tensor('float32', data, [1, 1, tokens.length, 2]),
    new Tensor('float32', data.slice(), [1, 1, tokens.length, 2]),
  ]);
}

const bytesPerToken = 2 * 2 * 4;

describe('PrefixCache', () => {
  it('returns the longest shared prefix, cut to the limit', () => {
    const cache = new PrefixCache(1024 * 1024);
    cache.store([1, 2, 3, 4], cacheOf([1, 2, 3, 4]));
    cache.store([1, 2, 9], cacheOf([1, 2, 9]));
    const hit = cache.lookup([1, 2, 3, 7, 8], 10);
    expect(hit?.length).toBe(3);
    expect(Array.from(hit?.cache.tensors[0]?.data as Float32Array)).toEqual([1, 1, 2, 2, 3, 3]);
    expect(cache.lookup([1, 2, 3, 4], 3)?.length).toBe(3);
    expect(cache.lookup([5, 6], 2)).toBeUndefined();
  });

  it('replaces entries that the new one extends', () => {
    const cache = new PrefixCache(1024 * 1024);
    cache.store([1, 2], cacheOf([1, 2]));
    cache.store([1, 2, 3], cacheOf([1, 2, 3]));
    expect(cache.size).toBe(1);
    expect(cache.byteLength).toBe(3 * bytesPerToken);
  });

  it('evicts the least recently used entry past the byte bound', () => {
    const cache = new PrefixCache(10 * bytesPerToken);
    cache.store([1, 1, 1, 1], cacheOf([1, 1, 1, 1]));
    cache.store([2, 2, 2, 2], cacheOf([2, 2, 2, 2]));
    cache.lookup([1, 1, 1, 1, 5], 4);
    cache.store([3, 3, 3, 3], cacheOf([3, 3, 3, 3]));
    expect(cache.byteLength).toBeLessThanOrEqual(10 * bytesPerToken);
    expect(cache.lookup([2, 2, 2, 2], 4)).toBeUndefined();
    expect(cache.lookup([1, 1, 1, 1], 4)?.length).toBe(4);
    expect(cache.lookup([3, 3, 3, 3], 4)?.length).toBe(4);
  });

  it('stores nothing when disabled or when one entry exceeds the bound', () => {
    const disabled = new PrefixCache(0);
    disabled.store([1, 2], cacheOf([1, 2]));
    expect(disabled.size).toBe(0);
    const small = new PrefixCache(bytesPerToken);
    small.store([1, 2], cacheOf([1, 2]));
    expect(small.size).toBe(0);
  });

  it('keys an entry by the tokens its cache covers', () => {
    const cache = new PrefixCache(1024);
    cache.store([1, 2, 3, 4], cacheOf([1, 2]));
    expect(cache.lookup([1, 2, 3, 4], 4)?.length).toBe(2);
  });
});

describe('commonPrefixLength', () => {
  it('counts equal leading tokens', () => {
    expect(commonPrefixLength([1, 2, 3], [1, 2, 4])).toBe(2);
    expect(commonPrefixLength([], [1])).toBe(0);
  });
});
