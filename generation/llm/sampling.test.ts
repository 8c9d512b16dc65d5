import { describe, expect, it } from 'vitest';
import { argmax, chooseToken, nucleus, sample } from './sampling.ts';

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 16807) % 2147483647;
    return state / 2147483647;
  };
}

describe('sampling', () => {
  it('breaks argmax ties toward the lowest index', () => {
    expect(argmax(Float32Array.of(1, 3, 3, 2))).toBe(1);
  });

  it('keeps the smallest set of tokens reaching top-p', () => {
    const distribution = nucleus(Float32Array.of(Math.log(0.5), Math.log(0.3), Math.log(0.2)), 1, 0.7);
    expect(Array.from(distribution.tokens)).toEqual([0, 1]);
    expect(distribution.probabilities[0]).toBeCloseTo(0.625);
  });

  it('never draws an excluded token', () => {
    const distribution = nucleus(Float32Array.of(0, 0, 0), 1, 1);
    const random = seeded(3);
    for (let i = 0; i < 200; i++) expect(sample(distribution, random, 1)).not.toBe(1);
  });

  it('keeps the sampling distribution when verifying drafts', () => {
    // P = (0.6, 0.3, 0.1); the draft is always token 1. Speculative acceptance must still give P.
    const logits = Float32Array.of(Math.log(0.6), Math.log(0.3), Math.log(0.1));
    const random = seeded(11);
    const counts = [0, 0, 0];
    const draws = 20_000;
    for (let i = 0; i < draws; i++) {
      const token = chooseToken(logits, { temperature: 1, topP: 1, random }, 1);
      counts[token] = (counts[token] ?? 0) + 1;
    }
    expect((counts[0] ?? 0) / draws).toBeCloseTo(0.6, 1);
    expect((counts[1] ?? 0) / draws).toBeCloseTo(0.3, 1);
    expect((counts[2] ?? 0) / draws).toBeCloseTo(0.1, 1);
  });

  it('is greedy at temperature 0 whatever the draft', () => {
    expect(chooseToken(Float32Array.of(0, 5, 1), { temperature: 0, topP: 1, random: Math.random }, 2)).toBe(
      1,
    );
  });
});
