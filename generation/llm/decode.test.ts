import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTinyCausalLm } from '../../test/fixtures/tiny-causal-lm.ts';
import type { ConversationTurn, SourceChunk } from '../types.ts';
import { CausalLm } from './causal-lm.ts';
import { Decoder, type DecodeOptions } from './decode.ts';
import { KvCache } from './kv-cache.ts';
import { PrefixCache } from './prefix-cache.ts';
import { buildPrompt, SYSTEM_PROMPT } from './prompt.ts';
import { draftFromContext } from './prompt-lookup.ts';

const XQUAD = path.resolve('../shared/data/xquad/xquad.en.json');
const WORDS =
  'river stone market winter castle engine harbor garden signal copper forest lantern museum valley orbit canal meadow bridge tower station'.split(
    ' ',
  );

function source(n: number, text: string): SourceChunk {
  return {
    n,
    chunkId: n,
    documentId: `doc-${n}`,
    source: `doc-${n}.txt`,
    page: null,
    start: 0,
    end: text.length,
    text,
    headingPath: [],
    score: 1 / n,
  };
}

/** Deterministic pseudo-random documents whose words repeat, so copies contain repeated n-grams. */
function syntheticSources(seed: number, count: number): SourceChunk[] {
  let state = seed;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  return Array.from({ length: count }, (_, i) => {
    const words = Array.from(
      { length: 20 + Math.floor(next() * 30) },
      () => WORDS[Math.floor(next() * WORDS.length)] ?? 'river',
    );
    return source(i + 1, `${words.join(' ')}.`);
  });
}

function xquadSources(limit: number): { question: string; sources: SourceChunk[] }[] {
  const data = JSON.parse(readFileSync(XQUAD, 'utf8')) as {
    data: { paragraphs: { context: string; qas: { question: string }[] }[] }[];
  };
  const paragraphs = data.data.flatMap((article) => article.paragraphs);
  return paragraphs.slice(0, limit).map((paragraph, i) => ({
    question: paragraph.qas[0]?.question ?? 'What?',
    sources: [
      paragraph,
      paragraphs[(i + 7) % paragraphs.length],
      paragraphs[(i + 13) % paragraphs.length],
    ].map((item, k) => source(k + 1, item?.context ?? '')),
  }));
}

async function decodeAll(model: CausalLm, prompt: number[], options: Partial<DecodeOptions> = {}) {
  const decoder = new Decoder(model, {
    maxNewTokens: 200,
    sampling: { temperature: 0, topP: 1, random: Math.random },
    ...options,
  });
  const tokens: number[] = [];
  for await (const group of decoder.run(prompt)) tokens.push(...group);
  return { tokens, stats: decoder.stats() };
}

describe('decode loop on the copy fixture', () => {
  let directory: string;
  let model: CausalLm;
  const xquadCases = existsSync(XQUAD) ? xquadSources(8) : [];

  beforeAll(async () => {
    directory = await mkdtemp(path.join(tmpdir(), 'docent-decode-'));
    const corpus = [
      SYSTEM_PROMPT,
      ...WORDS,
      ...xquadCases.flatMap((item) => [item.question, ...item.sources.map((s) => s.text)]),
    ];
    const fixture = await buildTinyCausalLm({
      modelsDir: directory,
      id: 'fixture/copy',
      corpus,
      behaviour: { kind: 'copy' },
      variants: ['q4'],
    });
    model = await CausalLm.load(fixture.directory, { dtype: 'q4' });
  });
  afterAll(async () => {
    await model.close();
    await rm(directory, { recursive: true, force: true });
  });

  const prompts = (): number[][] => {
    const cases = [
      ...Array.from({ length: 10 }, (_, i) => ({
        question: `Where is the ${WORDS[i] ?? 'river'}?`,
        sources: syntheticSources(i + 1, 3),
      })),
      ...xquadCases,
    ];
    return cases.map(
      (item) =>
        buildPrompt({ ...item, history: [] }, model, { contextTokens: 4096, answerTokens: 200 }).tokens,
    );
  };

  it('gives the same greedy tokens with prompt lookup on many prompts', async () => {
    let plainPasses = 0;
    let lookupPasses = 0;
    let generated = 0;
    for (const prompt of prompts()) {
      const plain = await decodeAll(model, prompt);
      const lookup = await decodeAll(model, prompt, { promptLookup: { maxDraftTokens: 10, maxNgram: 3 } });
      expect(lookup.tokens).toEqual(plain.tokens);
      expect(plain.tokens.length).toBeGreaterThan(5);
      plainPasses += plain.stats.forwardPasses;
      lookupPasses += lookup.stats.forwardPasses;
      generated += plain.tokens.length;
    }
    // Plain decoding runs one pass per generated token (the prefill pass yields the first).
    expect(plainPasses).toBeGreaterThanOrEqual(generated);
    expect(plainPasses / lookupPasses).toBeGreaterThan(1.5);
  });

  it('gives the same tokens when the prefill runs in chunks', async () => {
    const prompt = prompts()[3] ?? [];
    const whole = await decodeAll(model, prompt);
    const chunked = await decodeAll(model, prompt, { prefillChunkTokens: 50 });
    expect(chunked.tokens).toEqual(whole.tokens);
    expect(chunked.stats.forwardPasses - whole.stats.forwardPasses).toBe(Math.ceil(prompt.length / 50) - 1);
  });

  it('stops at the token limit with and without drafts', async () => {
    const prompt = prompts()[0] ?? [];
    const plain = await decodeAll(model, prompt, { maxNewTokens: 7 });
    const lookup = await decodeAll(model, prompt, {
      maxNewTokens: 7,
      promptLookup: { maxDraftTokens: 10, maxNgram: 3 },
    });
    expect(plain.tokens).toHaveLength(7);
    expect(lookup.tokens).toEqual(plain.tokens);
  });

  it('reuses the prefix cache across a three-turn conversation', async () => {
    const tokenizer = model;
    const cache = new PrefixCache(64 * 1024 * 1024);
    const history: ConversationTurn[] = [];
    const questions = ['Where is the river?', 'And the castle?', 'What about the orbit?'];
    let saved = 0;
    for (const [turn, question] of questions.entries()) {
      const sources = syntheticSources(100 + turn, 3);
      const prompt = buildPrompt({ question, sources, history }, tokenizer, {
        contextTokens: 4096,
        answerTokens: 200,
      }).tokens;
      const cold = await decodeAll(model, prompt);
      const warm = await decodeAll(model, prompt, {
        prefixCache: cache,
        promptLookup: { maxDraftTokens: 10, maxNgram: 3 },
      });
      expect(warm.tokens).toEqual(cold.tokens);
      expect(cold.stats.prefillTokens).toBe(prompt.length);
      if (turn > 0) expect(warm.stats.prefillTokens).toBeLessThan(prompt.length);
      saved += prompt.length - warm.stats.prefillTokens;
      history.push(
        { role: 'user', content: question },
        { role: 'assistant', content: model.tokenizer.decode(cold.tokens, { skip_special_tokens: true }) },
      );
    }
    expect(saved).toBeGreaterThan(0);
    expect(cache.byteLength).toBeLessThanOrEqual(64 * 1024 * 1024);
  });

  it('ends early when the signal aborts', async () => {
    const controller = new AbortController();
    const decoder = new Decoder(model, {
      maxNewTokens: 100,
      sampling: { temperature: 0, topP: 1, random: Math.random },
      signal: controller.signal,
    });
    const consume = async () => {
      for await (const group of decoder.run(prompts()[1] ?? [])) {
        expect(group.length).toBeGreaterThan(0);
        controller.abort();
      }
    };
    await expect(consume()).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(decoder.stats().generatedTokens).toBe(1);
  });

  it('samples a complete answer at temperature 1', async () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const result = await decodeAll(model, prompts()[2] ?? [], {
      sampling: { temperature: 1, topP: 0.9, random },
      promptLookup: { maxDraftTokens: 10, maxNgram: 3 },
    });
    expect(result.tokens.length).toBeGreaterThan(0);
  });
});

describe('KV cache', () => {
  it('truncates every head to the kept length', () => {
    const layout = { layers: 1, kvHeads: 2, headDim: 2, type: 'float32' as const };
    const empty = KvCache.empty(layout);
    expect(empty.length).toBe(0);
    const cache = KvCache.fromPresent(
      layout,
      [0, 1].map(
        () => new Tensor('float32', Float32Array.from([1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]), [1, 2, 3, 2]),
      ),
    );
    const kept = cache.truncate(2);
    expect(Array.from(kept.tensors[0]!.data as Float32Array)).toEqual([1, 1, 2, 2, 4, 4, 5, 5]);
    expect(kept.byteLength).toBe(2 * 2 * 2 * 2 * 4);
  });
});

describe('prompt lookup drafting', () => {
  it('proposes the continuation of the latest match', () => {
    expect(draftFromContext([1, 2, 3, 4, 9, 1, 2, 3, 5, 6, 1, 2], 3, 4)).toEqual([3, 5, 6, 1]);
  });

  it('falls back to shorter n-grams', () => {
    expect(draftFromContext([7, 8, 9, 5, 2], 3, 2)).toEqual([]);
    expect(draftFromContext([7, 8, 9, 5, 8], 3, 2)).toEqual([9, 5]);
  });

  it('returns nothing when drafting is off', () => {
    expect(draftFromContext([1, 2, 1], 2, 0)).toEqual([]);
  });
});
