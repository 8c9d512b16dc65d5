import { createHash } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Embedder } from '../../ingest/embed/embedder.ts';
import { closeParseWorkers } from '../../ingest/parse/index.ts';
import type { SearchOptions } from '../../retrieval/hybrid-retriever.ts';
import { openTestDocent } from '../support/test-docent.ts';

// Fusion edge cases (kind 6), filters (kind 7) and multilingual search (kind 8) through the engine.
// retrieval/fusion.test.ts covers the fusion arithmetic; services/docent.test.ts the basic filter
// and CJK cases. These run the whole retriever: SQLite filters, FTS5, HNSW and fusion.

const encoder = new TextEncoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);

/** Vectors from a hash of the whole text: dense ranks bear no relation to shared words. */
class NoiseEmbedder implements Embedder {
  readonly id = 'test-noise-16';
  readonly dimension = 16;

  embed(texts: readonly string[]): Promise<Float32Array[]> {
    return Promise.resolve(
      texts.map((text) => {
        const digest = createHash('sha256').update(text).digest();
        const vector = Float32Array.from({ length: 16 }, (_, index) => (digest[index]! - 127.5) / 127.5);
        const norm = Math.hypot(...vector) || 1;
        return vector.map((value) => value / norm);
      }),
    );
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

let disposers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const dispose of disposers) await dispose();
  disposers = [];
});

afterAll(async () => {
  await closeParseWorkers();
});

async function setup(embedders?: Embedder[]) {
  const context = await openTestDocent(embedders === undefined ? {} : { embedders });
  disposers.push(context.dispose);
  return context.docent;
}

const search = (
  docent: Awaited<ReturnType<typeof setup>>,
  query: string,
  options: Partial<SearchOptions> = {},
) => docent.search(query, { collection: 'default', topK: 10, ...options }).then(({ results }) => results);

describe('fusion edge cases', () => {
  it('returns the dense side alone when nothing matches lexically', async () => {
    const docent = await setup();
    await docent.ingest({ bytes: bytes('Badgers dig setts in woodland.'), source: 'badger.txt' });
    expect(await search(docent, 'qqqzzz', { mode: 'sparse' })).toEqual([]);
    for (const fusion of ['rrf', 'weighted'] as const) {
      const results = await search(docent, 'qqqzzz', { fusion });
      expect(results.length, fusion).toBeGreaterThan(0);
      for (const result of results) {
        expect(result.sparseRank, fusion).toBeNull();
        expect(result.denseRank, fusion).not.toBeNull();
        expect(Number.isFinite(result.score), fusion).toBe(true);
      }
    }
  });

  it('keeps one lexical hit that has no dense support', async () => {
    const docent = await setup([new NoiseEmbedder()]);
    for (let index = 0; index < 40; index += 1) {
      await docent.ingest({
        bytes: bytes(`Filler note ${index} about nothing in particular, number ${index}.`),
        source: `filler-${index}.txt`,
      });
    }
    await docent.ingest({
      bytes: bytes('The zyzzyva is a weevil from South America.'),
      source: 'weevil.txt',
    });
    for (const fusion of ['rrf', 'weighted'] as const) {
      const results = await search(docent, 'zyzzyva', { fusion, topK: 3 });
      const hit = results.find((result) => result.source === 'weevil.txt');
      expect(hit, fusion).toBeDefined();
      expect(hit?.sparseRank, fusion).toBe(1);
    }
  });

  it('orders tied scores the same way every time', async () => {
    const docent = await setup();
    // The same sentence in five files (the bytes differ by a trailing space, so none is a duplicate).
    for (let index = 0; index < 5; index += 1)
      await docent.ingest({
        bytes: bytes(`Moles are nearly blind.${' '.repeat(index)}`),
        source: `mole-${index}.txt`,
      });
    for (const options of [
      { fusion: 'rrf' as const },
      { fusion: 'weighted' as const, normalization: 'minmax' as const },
      { fusion: 'weighted' as const, normalization: 'zscore' as const },
      { mode: 'dense' as const },
      { mode: 'sparse' as const },
    ]) {
      const first = await search(docent, 'moles blind', options);
      const second = await search(docent, 'moles blind', options);
      const label = JSON.stringify(options);
      expect(first, label).toHaveLength(5);
      expect(
        first.map((result) => result.chunkId),
        label,
      ).toEqual(second.map((result) => result.chunkId));
      expect(
        first.every((result) => Number.isFinite(result.score)),
        label,
      ).toBe(true);
      // Each retriever scores the five copies alike; only the tie-break order separates them.
      for (const side of ['denseScore', 'sparseScore'] as const) {
        const scores = first.map((result) => result[side]).filter((score) => score !== null);
        if (scores.length > 0)
          expect(Math.max(...scores) - Math.min(...scores), `${label} ${side}`).toBeLessThan(1e-6);
      }
      if (options.fusion === 'weighted')
        expect(new Set(first.map((result) => result.score)).size, label).toBe(1);
    }
  });

  it('cuts to topK after fusion, not before', async () => {
    const docent = await setup([new NoiseEmbedder()]);
    for (let index = 0; index < 12; index += 1)
      await docent.ingest({
        bytes: bytes(`Shrew fact ${index}: shrews eat insects.`),
        source: `shrew-${index}.txt`,
      });
    // Each retriever gets topK × DOCENT_CANDIDATE_MULTIPLIER candidates; fusion then keeps topK.
    const fused = await search(docent, 'shrews insects', { topK: 2 });
    expect(fused.map((result) => result.rank)).toEqual([1, 2]);
    const dense = await search(docent, 'shrews insects', { topK: 8, mode: 'dense' });
    const sparse = await search(docent, 'shrews insects', { topK: 8, mode: 'sparse' });
    const top = fused[0]!;
    // The fused winner may rank low on one side, as long as the sum of its reciprocal ranks wins.
    expect(top.denseRank === null || top.denseRank <= 8).toBe(true);
    expect(top.sparseRank === null || top.sparseRank <= 8).toBe(true);
    expect(dense).toHaveLength(8);
    expect(sparse).toHaveLength(8);
  });
});

describe('filters', () => {
  async function filtered() {
    const docent = await setup();
    const english = await docent.ingest({
      bytes: bytes('Voles live in meadows and eat grass.'),
      source: 'vole-en.txt',
      metadata: { lang: 'en', year: 2024, tags: 'mammal' },
    });
    const german = await docent.ingest({
      bytes: bytes('Voles: Wühlmäuse leben in Wiesen, voles eat grass.'),
      source: 'vole-de.txt',
      metadata: { lang: 'de', year: 2023 },
    });
    return { docent, english: english.document.id, german: german.document.id };
  }

  it('returns nothing for a filter that matches nothing, in every mode', async () => {
    const { docent } = await filtered();
    for (const filters of [
      { lang: 'fr' },
      { year: 1999 },
      { lang: 'en', year: 2023 },
      { missing: 'x' },
      { lang: [] },
    ]) {
      for (const mode of ['dense', 'sparse', 'hybrid'] as const) {
        expect(
          await search(docent, 'voles grass', { mode, filters }),
          `${mode} ${JSON.stringify(filters)}`,
        ).toEqual([]);
      }
    }
  });

  it('intersects filters with document ids in every mode', async () => {
    const { docent, english, german } = await filtered();
    for (const mode of ['dense', 'sparse', 'hybrid'] as const) {
      expect(
        await search(docent, 'voles grass', { mode, filters: { lang: 'en' }, documentIds: [german] }),
        mode,
      ).toEqual([]);
      const both = await search(docent, 'voles grass', {
        mode,
        filters: { lang: ['en', 'de'] },
        documentIds: [english],
      });
      expect(new Set(both.map((result) => result.documentId)), mode).toEqual(new Set([english]));
    }
  });

  it('treats an empty filter and empty ids as no restriction', async () => {
    const { docent } = await filtered();
    const plain = await search(docent, 'voles grass');
    expect(plain.length).toBeGreaterThan(1);
    expect(await search(docent, 'voles grass', { filters: {} })).toEqual(plain);
    const noIds = await search(docent, 'voles grass', { documentIds: [] });
    // An empty id list restricts to no document at all, never to every document.
    expect(noIds.length === 0 || noIds.length === plain.length).toBe(true);
  });

  it('matches filter values exactly, without SQL or JSON path injection', async () => {
    const { docent } = await filtered();
    for (const value of ["en' OR '1'='1", 'en" OR 1=1 --', '%', '_n', 'EN', ' en']) {
      expect(await search(docent, 'voles', { filters: { lang: value } }), value).toEqual([]);
    }
    expect(await search(docent, 'voles', { filters: { 'lang.x': 'en' } })).toEqual([]);
    for (const key of ['$.lang', 'lang[0]', "lang') OR 1=1 --", 'lang"']) {
      await expect(search(docent, 'voles', { filters: { [key]: 'en' } }), key).rejects.toThrow(
        /Invalid metadata filter key/,
      );
    }
  });
});

describe('multilingual search', () => {
  async function corpus() {
    const docent = await setup();
    const add = (source: string, text: string) => docent.ingest({ bytes: bytes(text), source });
    await add('zh.txt', '长城是中国古代的军事防御工程。熊猫生活在四川的竹林里。');
    await add('ja.txt', '富士山は日本で一番高い山です。すしとラーメンが好きです。');
    await add('ko.txt', '한라산은 제주도에 있는 산입니다. 김치는 한국의 전통 음식입니다.');
    await add('en.txt', 'The Rhine flows through Basel and Cologne to the North Sea.');
    return docent;
  }

  it('finds Chinese, Japanese and Korean of one, two and many characters', async () => {
    const docent = await corpus();
    const cases: Array<[string, string]> = [
      ['熊', 'zh.txt'],
      ['熊猫', 'zh.txt'],
      ['长城军事防御工程', 'zh.txt'],
      ['山', 'ja.txt'],
      ['すし', 'ja.txt'],
      ['富士山は高い', 'ja.txt'],
      ['김치', 'ko.txt'],
      ['한라산은 제주도', 'ko.txt'],
      ['panda 熊猫', 'zh.txt'],
      ['Fuji 富士山', 'ja.txt'],
      ['kimchi 김치', 'ko.txt'],
      ['Rhine 长城', 'en.txt'],
    ];
    for (const [query, source] of cases) {
      const results = await search(docent, query, { mode: 'sparse' });
      const sources = results.map((result) => result.source);
      expect(sources, query).toContain(source);
      if (!query.startsWith('Rhine')) expect(sources[0], query).toBe(source);
    }
    // One character shared by two languages finds both.
    const mountain = (await search(docent, '山', { mode: 'sparse' })).map((result) => result.source);
    expect(mountain).toContain('ja.txt');
  });

  it('returns dense results whether or not the lexical side matches', async () => {
    const docent = await corpus();
    for (const query of ['鑫鑫鑫', 'ꙮꙮ', '熊猫', 'Rhine']) {
      const dense = await search(docent, query, { mode: 'dense', topK: 4 });
      const hybrid = await search(docent, query, { topK: 4 });
      expect(dense.length, query).toBe(4);
      expect(hybrid.length, query).toBe(4);
      const denseOrder = dense.map((result) => result.chunkId);
      const hybridDense = hybrid
        .filter((result) => result.denseRank !== null)
        .sort((left, right) => left.denseRank! - right.denseRank!)
        .map((result) => result.chunkId);
      expect(hybridDense, query).toEqual(denseOrder.slice(0, hybridDense.length));
    }
  });
});
