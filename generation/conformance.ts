import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDocentError, type DocentError } from '../core/errors.ts';
import {
  NOT_IN_DOCUMENTS,
  type GenerationEvent,
  type GenerationRequest,
  type Generator,
  type SourceChunk,
} from './types.ts';

/** Sources and a question that every conforming generator answers from source 1. */
export const CONFORMANCE_SOURCES: readonly SourceChunk[] = [
  {
    n: 1,
    chunkId: 101,
    documentId: 'doc-tower',
    source: 'tower.md',
    page: null,
    start: 40,
    end: 40 + 96,
    text: 'The Eiffel Tower was completed in 1889. It was built as the entrance arch of the World Fair in Paris.',
    headingPath: ['History'],
    score: 0.9,
  },
  {
    n: 2,
    chunkId: 202,
    documentId: 'doc-fruit',
    source: 'fruit.md',
    page: 3,
    start: 0,
    end: 59,
    text: 'Bananas grow in tropical regions and are rich in potassium.',
    headingPath: [],
    score: 0.2,
  },
].map((source) => ({ ...source, end: source.start + source.text.length }));

export const CONFORMANCE_QUESTION = 'When was the Eiffel Tower completed?';

export interface ConformanceOptions {
  readonly sources?: readonly SourceChunk[];
  readonly question?: string;
}

async function collect(generator: Generator, request: GenerationRequest): Promise<GenerationEvent[]> {
  const events: GenerationEvent[] = [];
  for await (const event of generator.stream(request)) events.push(event);
  return events;
}

/**
 * Registers the tests every Generator must pass: the stream ends with exactly one `done` event,
 * citations name provided sources and quote them exactly, a request without sources is refused
 * with NOT_IN_DOCUMENTS, and an aborted signal stops the stream with CANCELLED.
 */
export function describeGeneratorConformance(
  name: string,
  create: () => Promise<Generator>,
  options: ConformanceOptions = {},
): void {
  const sources = options.sources ?? CONFORMANCE_SOURCES;
  const question = options.question ?? CONFORMANCE_QUESTION;

  describe(`${name} generator conformance`, () => {
    let generator: Generator;
    beforeAll(async () => {
      generator = await create();
    });
    afterAll(async () => {
      await generator.close();
    });

    it('ends the stream with exactly one done event', async () => {
      const events = await collect(generator, { question, sources });
      const done = events.filter((event) => event.type === 'done');
      expect(done).toHaveLength(1);
      expect(events.at(-1)?.type).toBe('done');
    });

    it('cites only provided sources, quoting them exactly', async () => {
      const events = await collect(generator, { question, sources });
      const last = events.at(-1);
      if (last?.type !== 'done') throw new Error('stream did not end with done');
      const byNumber = new Map(sources.map((source) => [source.n, source]));
      expect(last.answer.refused).toBe(false);
      expect(last.answer.citations.length).toBeGreaterThan(0);
      for (const citation of last.answer.citations) {
        const source = byNumber.get(citation.n);
        expect(source).toBeDefined();
        expect(citation.chunkId).toBe(source?.chunkId);
        expect(citation.documentId).toBe(source?.documentId);
        expect(citation.text).toBe(
          source?.text.slice(citation.start - (source?.start ?? 0), citation.end - (source?.start ?? 0)),
        );
      }
      for (const marker of last.answer.answer.matchAll(/\[(\d+)\]/g)) {
        expect(byNumber.has(Number(marker[1]))).toBe(true);
      }
      const streamed = events.flatMap((event) => (event.type === 'citation' ? [event.citation] : []));
      expect(streamed).toEqual(last.answer.citations);
    });

    it('reports usage as non-negative numbers', async () => {
      const events = await collect(generator, { question, sources });
      const last = events.at(-1);
      if (last?.type !== 'done') throw new Error('stream did not end with done');
      expect(last.answer.generator).toBe(generator.id);
      for (const value of Object.values(last.answer.usage)) {
        expect(Number.isFinite(value)).toBe(true);
        expect(value).toBeGreaterThanOrEqual(0);
      }
    });

    it('refuses when there are no sources', async () => {
      const events = await collect(generator, { question, sources: [] });
      const last = events.at(-1);
      if (last?.type !== 'done') throw new Error('stream did not end with done');
      expect(last.answer.refused).toBe(true);
      expect(last.answer.answer).toBe(NOT_IN_DOCUMENTS);
      expect(last.answer.citations).toEqual([]);
    });

    it('rejects an already aborted request with CANCELLED', async () => {
      const controller = new AbortController();
      controller.abort();
      const error: unknown = await collect(generator, { question, sources, signal: controller.signal }).catch(
        (caught: unknown) => caught,
      );
      expect(isDocentError(error)).toBe(true);
      expect((error as DocentError).code).toBe('CANCELLED');
    });

    it('stops with CANCELLED when aborted mid-stream', async () => {
      const controller = new AbortController();
      const events: GenerationEvent[] = [];
      let error: unknown;
      try {
        for await (const event of generator.stream({ question, sources, signal: controller.signal })) {
          events.push(event);
          controller.abort();
        }
      } catch (caught) {
        error = caught;
      }
      // Only a generator whose first event is already `done` may finish normally.
      if (events[0]?.type === 'done') return;
      expect(isDocentError(error)).toBe(true);
      expect((error as DocentError).code).toBe('CANCELLED');
      expect(events.some((event) => event.type === 'done')).toBe(false);
    });
  });
}
