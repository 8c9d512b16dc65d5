import { Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { CausalLm, ForwardResult } from './causal-lm.ts';
import { Decoder } from './decode.ts';
import { KvCache, type KvLayout } from './kv-cache.ts';
import { PrefixCache } from './prefix-cache.ts';

const EOS = 0;
const VOCAB = 16;
const layout: KvLayout = { layers: 1, kvHeads: 1, headDim: 1, type: 'float32' };

/**
 * Builds a stand-in model whose greedy next token is `successor[last token]`, with a KV cache
 * that stores token ids, so the decode rules can be checked without onnxruntime sessions.
 */
function fakeModel(successor: Record<number, number>, maxPositions = 1000): CausalLm & { calls: number[][] } {
  const calls: number[][] = [];
  const model = {
    calls,
    layout,
    vocabSize: VOCAB,
    maxPositions,
    eosTokenIds: new Set([EOS]),
    emptyCache: () => KvCache.empty(layout),
    forward: (tokens: readonly number[], cache: KvCache): Promise<ForwardResult> => {
      calls.push([...tokens]);
      const previous = Array.from(cache.tensors[0]?.data as Float32Array);
      const ids = Float32Array.from([...previous, ...tokens]);
      const present = [
        new Tensor('float32', ids, [1, 1, ids.length, 1]),
        new Tensor('float32', ids.slice(), [1, 1, ids.length, 1]),
      ];
      const rows = tokens.map((token) => {
        const row = new Float32Array(VOCAB);
        row[successor[token] ?? EOS] = 1;
        return row;
      });
      return Promise.resolve({
        logits: {
          rows: rows.length,
          vocabSize: VOCAB,
          row: (index: number) => rows[index] ?? new Float32Array(VOCAB),
        },
        cache: KvCache.fromPresent(layout, present),
      });
    },
  };
  return model as unknown as CausalLm & { calls: number[][] };
}

async function run(
  model: CausalLm,
  prompt: number[],
  options: { maxNewTokens?: number; prefixCache?: PrefixCache } = {},
) {
  const decoder = new Decoder(model, {
    maxNewTokens: options.maxNewTokens ?? 50,
    sampling: { temperature: 0, topP: 1, random: Math.random },
    promptLookup: { maxDraftTokens: 8, maxNgram: 2 },
    prefixCache: options.prefixCache,
  });
  const tokens: number[] = [];
  for await (const group of decoder.run(prompt)) tokens.push(...group);
  return { tokens, stats: decoder.stats() };
}

describe('Decoder rules', () => {
  it('stops at an end-of-sequence token inside accepted drafts', async () => {
    // The prompt contains 5 6 7 0 9, so after 5 the drafts are 6 7 0 9 and the model agrees up to EOS.
    const model = fakeModel({ 4: 5, 5: 6, 6: 7, 7: EOS, 0: 9 });
    const result = await run(model, [5, 6, 7, 0, 9, 4]);
    expect(result.tokens).toEqual([5, 6, 7]);
    expect(result.stats.endedOnEos).toBe(true);
    expect(result.stats.forwardPasses).toBe(2);
  });

  it('keeps only the tokens before EOS in the prefix cache', async () => {
    const cache = new PrefixCache(1024 * 1024);
    const model = fakeModel({ 4: 5, 5: 6, 6: 7, 7: EOS, 0: 9 });
    await run(model, [5, 6, 7, 0, 9, 4], { prefixCache: cache });
    const hit = cache.lookup([5, 6, 7, 0, 9, 4, 5, 6, 7, 0, 9, 9], 100);
    expect(hit?.length).toBe(9);
    expect(Array.from(hit?.cache.tensors[0]?.data as Float32Array)).toEqual([5, 6, 7, 0, 9, 4, 5, 6, 7]);
  });

  it('stops at the token limit inside accepted drafts', async () => {
    const model = fakeModel({ 1: 2, 2: 3, 3: 1 });
    const result = await run(model, [1, 2, 3, 1, 2, 3, 1], { maxNewTokens: 5 });
    expect(result.tokens).toEqual([2, 3, 1, 2, 3]);
    expect(result.stats.generatedTokens).toBe(5);
  });

  it('replaces the first rejected draft with the model token', async () => {
    // Drafts after 2 are 3 8 1 2 (from the prompt); the model says 2 -> 3 -> 4.
    const model = fakeModel({ 1: 2, 2: 3, 3: 4, 4: EOS });
    const result = await run(model, [2, 3, 8, 1]);
    expect(result.tokens).toEqual([2, 3, 4]);
    expect(result.stats.acceptedDraftTokens).toBe(1);
    expect(model.calls[1]).toEqual([2, 3, 8, 1, 2]);
    expect(model.calls[2]).toEqual([4]);
  });

  it('respects the context length of the model', async () => {
    const model = fakeModel({ 1: 1 }, 6);
    const result = await run(model, [1, 1, 1, 1]);
    expect(result.tokens).toHaveLength(2);
  });

  it('rejects a prompt that fills the context', async () => {
    const model = fakeModel({}, 3);
    await expect(run(model, [1, 2, 3])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
