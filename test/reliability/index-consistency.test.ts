/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-assignment -- supertest types response bodies as any; the assertions check their shape. */
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Embedder } from '../../ingest/embed/embedder.ts';
import { closeParseWorkers } from '../../ingest/parse/index.ts';
import { openTestApp, type TestApp } from '../../services/api/test-app.ts';
import type { Docent } from '../../services/docent.ts';
import { BagOfWordsEmbedder, openTestDocent } from '../support/test-docent.ts';
import { bearer, expectIndexesAgree, indexCounts, uploadAndWait } from './support.ts';

// Deletes (kind 4) and reindexing (kind 5). services/docent.test.ts covers a delete across a
// restart and a reindex to another dimension without concurrent queries.

const encoder = new TextEncoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);

/**
 * Wraps an embedder and embeds documents four texts at a time, as a model with a small batch
 * would: each batch waits `delayMs`, and the batch after `failAfterBatches` throws.
 */
class ControlledEmbedder implements Embedder {
  readonly id: string;
  readonly dimension: number;
  batches = 0;

  constructor(
    private readonly inner: Embedder,
    private readonly options: { delayMs?: number; failAfterBatches?: number } = {},
  ) {
    this.id = inner.id;
    this.dimension = inner.dimension;
  }

  async embed(texts: readonly string[], kind: 'query' | 'document'): Promise<Float32Array[]> {
    if (kind === 'query') return this.inner.embed(texts, kind);
    const vectors: Float32Array[] = [];
    for (let start = 0; start < texts.length; start += 4) {
      this.batches += 1;
      if (this.options.failAfterBatches !== undefined && this.batches > this.options.failAfterBatches)
        throw new Error('embedder stopped half way');
      if (this.options.delayMs !== undefined)
        await new Promise((resolve) => setTimeout(resolve, this.options.delayMs));
      vectors.push(...(await this.inner.embed(texts.slice(start, start + 4), kind)));
    }
    return vectors;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function manySections(count: number, word: string): string {
  return Array.from(
    { length: count },
    (_, index) =>
      `# Section ${index}\n\nThe ${word} paragraph number ${index} talks about topic ${index} at some length, enough to be a chunk of its own.\n`,
  ).join('\n');
}

async function documentIdsFound(docent: Docent, query: string, mode: 'dense' | 'sparse' | 'hybrid') {
  const { results } = await docent.search(query, { collection: 'default', topK: 50, mode });
  return new Set(results.map((result) => result.documentId));
}

let disposers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const dispose of disposers) await dispose();
  disposers = [];
});

afterAll(async () => {
  await closeParseWorkers();
});

describe('deletes through the API', () => {
  let test: TestApp;

  beforeAll(async () => {
    test = await openTestApp();
  });

  afterAll(async () => {
    await test.close();
  });

  it('hides a deleted document from search and answers at once', async () => {
    const [kept] = await uploadAndWait(test, [['kept.txt', 'Puffins nest on cliffs in the north.']], {
      collection: 'birds',
    });
    const [gone] = await uploadAndWait(
      test,
      [['gone.txt', 'Puffins eat sand eels. The puffin colony on Skomer is large.']],
      { collection: 'birds' },
    );
    const deleted = await request(test.app)
      .delete(`/v1/documents/${gone!.documentId}`)
      .set(bearer(test.keys.writer));
    expect(deleted.status).toBe(202);
    await test.waitForJob(deleted.body.jobId);

    for (const mode of ['dense', 'sparse', 'hybrid']) {
      const search = await request(test.app)
        .post('/v1/search')
        .set(bearer(test.keys.reader))
        .send({ query: 'puffin sand eels Skomer', collection: 'birds', mode, topK: 20 });
      const ids = search.body.results.map((result: { documentId: string }) => result.documentId);
      expect(ids, mode).not.toContain(gone!.documentId);
      if (mode !== 'sparse') expect(ids, mode).toContain(kept!.documentId);
    }
    const answer = await request(test.app)
      .post('/v1/ask')
      .set(bearer(test.keys.reader))
      .send({ question: 'What do puffins eat on Skomer?', collection: 'birds' });
    expect(answer.status).toBe(200);
    for (const citation of answer.body.citations) expect(citation.documentId).not.toBe(gone!.documentId);
    for (const source of answer.body.sources) expect(source.documentId).not.toBe(gone!.documentId);
    const chunks = await request(test.app)
      .get(`/v1/documents/${gone!.documentId}/chunks`)
      .set(bearer(test.keys.reader));
    expect(chunks.status).toBe(404);
    expectIndexesAgree(test.docent, 'birds');
  });

  it('indexes nothing for a document deleted while it is ingested', async () => {
    const response = await request(test.app)
      .post('/v1/documents')
      .set(bearer(test.keys.writer))
      .field('collection', 'race')
      .attach('files', Buffer.from('Narwhals have one long tusk.'), 'narwhal.txt');
    expect(response.status).toBe(202);
    const { documentId, jobId } = response.body.documents[0];
    const deleted = await request(test.app)
      .delete(`/v1/documents/${documentId}`)
      .set(bearer(test.keys.writer));
    expect(deleted.status).toBe(202);
    await test.waitForJob(jobId);
    await test.waitForJob(deleted.body.jobId);
    // The ingest job hands its result to an apply job on the owner lane, queued after the delete.
    const apply = await test.waitForJob(`apply-${jobId}`);
    expect(apply.state).toBe('completed');

    expect(test.docent.store.getDocument(documentId)).toBeUndefined();
    const search = await request(test.app)
      .post('/v1/search')
      .set(bearer(test.keys.reader))
      .send({ query: 'narwhal tusk', collection: 'race' });
    expect(search.body.results).toEqual([]);
    expectIndexesAgree(test.docent, 'race');
  });
});

describe('reindex', () => {
  it('leaves no orphan chunk when a new version has fewer sections', async () => {
    const context = await openTestDocent();
    disposers.push(context.dispose);
    const { docent } = context;
    await docent.ingest({ bytes: bytes(manySections(12, 'walrus')), source: 'guide.md' });
    const before = indexCounts(docent);
    const { document } = await docent.ingest({ bytes: bytes(manySections(2, 'otter')), source: 'guide.md' });

    const after = indexCounts(docent);
    expect(after.chunks).toBe(document.chunkCount);
    expect(after.chunks).toBeLessThan(before.chunks);
    expectIndexesAgree(docent);
    expect(await documentIdsFound(docent, 'walrus', 'sparse')).toEqual(new Set());
    const { results } = await docent.search('walrus paragraph topic', {
      collection: 'default',
      topK: 50,
      mode: 'dense',
    });
    expect(results.every((result) => result.text.includes('otter'))).toBe(true);

    const reopened = await context.reopen();
    expectIndexesAgree(reopened);
    expect(indexCounts(reopened).chunks).toBe(document.chunkCount);
  });

  it('keeps the old index serving when a reindex fails half way', async () => {
    const small = new BagOfWordsEmbedder(32);
    const failing = new ControlledEmbedder(new BagOfWordsEmbedder(48), { failAfterBatches: 3 });
    const context = await openTestDocent({ embedders: [small, failing] });
    disposers.push(context.dispose);
    const { docent } = context;
    await docent.ingest({ bytes: bytes(manySections(30, 'heron')), source: 'herons.md' });
    const before = await docent.search('heron topic 7', { collection: 'default', topK: 5, mode: 'dense' });

    await expect(docent.reindex('default', failing.id)).rejects.toThrow('half way');
    expect(failing.batches).toBe(4);
    expect(docent.store.requireCollection('default').embedderId).toBe(small.id);
    const after = await docent.search('heron topic 7', { collection: 'default', topK: 5, mode: 'dense' });
    expect(after.results.map((result) => result.chunkId)).toEqual(
      before.results.map((result) => result.chunkId),
    );
    expectIndexesAgree(docent);

    const reopened = await context.reopen();
    expect(reopened.store.requireCollection('default').embedderId).toBe(small.id);
    expectIndexesAgree(reopened);
  });

  it('swaps the embedder dimension without a failed query', async () => {
    const small = new BagOfWordsEmbedder(32);
    const large = new ControlledEmbedder(new BagOfWordsEmbedder(128), { delayMs: 25 });
    const context = await openTestDocent({
      embedders: [small, large],
      env: { DOCENT_EMBED_BATCH_SIZE: '4' },
    });
    disposers.push(context.dispose);
    const { docent } = context;
    await docent.ingest({ bytes: bytes(manySections(40, 'ibis')), source: 'ibis.md' });
    await docent.ingest({ bytes: bytes('The flamingo stands on one leg.'), source: 'flamingo.txt' });

    let done = false;
    const failures: unknown[] = [];
    let queries = 0;
    let emptyAnswers = 0;
    const query = async (): Promise<void> => {
      while (!done) {
        for (const mode of ['dense', 'hybrid', 'sparse'] as const) {
          try {
            const { results } = await docent.search('flamingo one leg', {
              collection: 'default',
              topK: 3,
              mode,
            });
            queries += 1;
            if (results[0]?.source !== 'flamingo.txt') emptyAnswers += 1;
          } catch (error) {
            failures.push(error);
          }
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const clients = [query(), query(), query()];
    const switched = await docent.reindex('default', large.id);
    done = true;
    await Promise.all(clients);

    expect(failures).toEqual([]);
    expect(emptyAnswers).toBe(0);
    expect(queries).toBeGreaterThan(10);
    expect(switched.dimension).toBe(128);
    expectIndexesAgree(docent);
    const reopened = await context.reopen();
    expect(reopened.store.requireCollection('default').dimension).toBe(128);
    expectIndexesAgree(reopened);
  });
});
