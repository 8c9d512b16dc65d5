import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Embedder } from './embedder.ts';
import { dot } from './vector.ts';

export interface ConformanceOptions {
  /** Texts where `similar` is closer in meaning to `anchor` than `unrelated` is; the default uses everyday English. */
  readonly similarity?: { readonly anchor: string; readonly similar: string; readonly unrelated: string };
  /** Largest allowed difference per component between batched and single results. */
  readonly tolerance?: number;
}

const TEXTS = [
  'The cat sat on the mat.',
  'Stock markets fell sharply today as inflation rose.',
  'A storm with heavy rain and cold wind is in the forecast.',
  'Bake the bread, then serve it with cheese and soup for dinner.',
  'The patient received a new drug therapy against the disease.',
  'dog',
  'The kitten purrs on the rug, and the puppy barks at the cat in the kitchen while the rain falls.',
];

/**
 * Registers the tests every Embedder must pass. `create` is called once for the suite, so a slow
 * model loads once per test file; the embedder should batch in small batches (e.g. 3) so that the
 * batch tests cross batch boundaries.
 */
export function describeEmbedderConformance(
  name: string,
  create: () => Promise<Embedder>,
  options: ConformanceOptions = {},
): void {
  const tolerance = options.tolerance ?? 1e-4;
  const similarity = options.similarity ?? {
    anchor: 'The cat sat on the mat.',
    similar: 'A kitten sat on the rug; the cat purrs.',
    unrelated: 'Stock markets fell sharply today.',
  };

  describe(`${name} conformance`, () => {
    let embedder: Embedder;

    beforeAll(async () => {
      embedder = await create();
    });

    afterAll(async () => {
      await embedder.close();
    });

    it('has an id and a positive dimension', () => {
      expect(embedder.id.length).toBeGreaterThan(0);
      expect(Number.isInteger(embedder.dimension)).toBe(true);
      expect(embedder.dimension).toBeGreaterThan(0);
    });

    it('returns vectors of its dimension', async () => {
      const vectors = await embedder.embed(TEXTS, 'document');
      for (const vector of vectors) {
        expect(vector).toBeInstanceOf(Float32Array);
        expect(vector.length).toBe(embedder.dimension);
      }
    });

    it('returns one vector per text in order', async () => {
      const forward = await embedder.embed(TEXTS, 'document');
      const reversed = await embedder.embed([...TEXTS].reverse(), 'document');
      expect(forward).toHaveLength(TEXTS.length);
      expect(reversed).toHaveLength(TEXTS.length);
      forward.forEach((vector, i) => {
        expectClose(vector, reversed[TEXTS.length - 1 - i], tolerance);
      });
    });

    it('returns unit-length vectors', async () => {
      const vectors = await embedder.embed([...TEXTS, 'x', '12345 !!'], 'document');
      for (const vector of vectors) expect(Math.sqrt(dot(vector, vector))).toBeCloseTo(1, 4);
    });

    it('is deterministic', async () => {
      const first = await embedder.embed(TEXTS, 'document');
      const second = await embedder.embed(TEXTS, 'document');
      first.forEach((vector, i) => {
        expectClose(vector, second[i], 0);
      });
    });

    it('returns [] for an empty batch', async () => {
      await expect(embedder.embed([], 'document')).resolves.toEqual([]);
      await expect(embedder.embed([], 'query')).resolves.toEqual([]);
    });

    it('embeds an empty text', async () => {
      const [vector] = await embedder.embed([''], 'document');
      expect(vector).toHaveLength(embedder.dimension);
      expect(vector?.every(Number.isFinite)).toBe(true);
    });

    it('truncates a 10k-word text', async () => {
      const words = 'the cat sat on the mat while the rain fell on the market'.split(' ');
      const longText = Array.from({ length: 10_000 }, (_value, i) => words[i % words.length]).join(' ');
      const [vector] = await embedder.embed([longText], 'document');
      expect(vector).toHaveLength(embedder.dimension);
      expect(Math.sqrt(dot(vector ?? new Float32Array(), vector ?? new Float32Array()))).toBeCloseTo(1, 4);
    });

    it('puts similar texts closer than unrelated', async () => {
      const [anchor, similar, unrelated] = await embedder.embed(
        [similarity.anchor, similarity.similar, similarity.unrelated],
        'document',
      );
      if (anchor === undefined || similar === undefined || unrelated === undefined)
        throw new Error('missing vectors');
      expect(dot(anchor, similar)).toBeGreaterThan(dot(anchor, unrelated));
    });

    it('gives batched texts their single results', async () => {
      const batched = await embedder.embed(TEXTS, 'document');
      for (const [i, text] of TEXTS.entries()) {
        const [single] = await embedder.embed([text], 'document');
        expectClose(batched[i], single, tolerance);
      }
    });

    it('embeds queries and documents', async () => {
      const queries = await embedder.embed([similarity.anchor, similarity.unrelated], 'query');
      const [document, unrelatedDocument] = await embedder.embed(
        [similarity.similar, similarity.unrelated],
        'document',
      );
      expect(queries).toHaveLength(2);
      for (const query of queries) {
        expect(query.length).toBe(embedder.dimension);
        expect(Math.sqrt(dot(query, query))).toBeCloseTo(1, 4);
      }
      const [query] = queries;
      if (query === undefined || document === undefined || unrelatedDocument === undefined)
        throw new Error('missing vectors');
      expect(dot(query, document)).toBeGreaterThan(dot(query, unrelatedDocument));
    });
  });
}

function expectClose(
  actual: Float32Array | undefined,
  expected: Float32Array | undefined,
  tolerance: number,
): void {
  expect(actual).toBeDefined();
  expect(expected).toBeDefined();
  if (actual === undefined || expected === undefined) return;
  expect(actual.length).toBe(expected.length);
  let maxDifference = 0;
  for (let i = 0; i < actual.length; i++)
    maxDifference = Math.max(maxDifference, Math.abs((actual[i] ?? 0) - (expected[i] ?? 0)));
  expect(maxDifference).toBeLessThanOrEqual(tolerance);
}
