import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DocentError } from '../core/errors.ts';
import type { Docent } from './docent.ts';
import { sanitizeSource } from './docent.ts';
import { BagOfWordsEmbedder, openTestDocent } from '../test/support/test-docent.ts';

const encoder = new TextEncoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);

const manual = `# Upgrading

To upgrade the whole system, point /etc/apt/sources.list at the new release.

Then run apt update and apt dist-upgrade to install the new packages.

# Networking

The zebrafish configuration lives in /etc/network/interfaces.
`;

let disposers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const dispose of disposers) await dispose();
  disposers = [];
});

async function setup(options: Parameters<typeof openTestDocent>[0] = {}) {
  const context = await openTestDocent(options);
  disposers.push(context.dispose);
  return context;
}

async function sources(
  docent: Docent,
  query: string,
  mode: 'dense' | 'sparse' | 'hybrid',
  collection = 'default',
) {
  const { results } = await docent.search(query, { collection, topK: 20, mode });
  return results;
}

/** Accepts and prepares two versions of `manual.md`, the older one first, without writing either. */
async function prepareTwoVersions(docent: Docent) {
  const changed = manual.replace('zebrafish', 'platypus');
  const older = docent.accept({ bytes: bytes(manual), source: 'manual.md' }).document;
  const newer = docent.accept({ bytes: bytes(changed), source: 'manual.md' }).document;
  const olderPrepared = await docent.prepare(older.id, { bytes: bytes(manual), source: 'manual.md' });
  const newerPrepared = await docent.prepare(newer.id, { bytes: bytes(changed), source: 'manual.md' });
  return { older, newer, olderPrepared, newerPrepared };
}

/** Checks that SQLite, FTS5 and HNSW hold the same chunks for a collection. */
function expectIndexesAgree(docent: Docent, collection = 'default'): void {
  const record = docent.store.requireCollection(collection);
  const chunkCount = docent.store.countChunks(record.id);
  const ftsCount = (
    docent.store.db.prepare('SELECT count(*) AS count FROM chunks_fts').get() as { count: number }
  ).count;
  const embeddingCount = (
    docent.store.db.prepare('SELECT count(*) AS count FROM embeddings').get() as { count: number }
  ).count;
  expect(ftsCount).toBe(chunkCount);
  expect(embeddingCount).toBe(chunkCount);
  expect(docent.denseIndex(record).size).toBe(chunkCount);
}

describe('Docent ingest', () => {
  it('indexes a document with exact chunk offsets', async () => {
    const { docent } = await setup();
    const { document } = await docent.ingest({ bytes: bytes(manual), source: 'manual.md' });
    expect(document.status).toBe('indexed');
    expect(document.chunkCount).toBeGreaterThan(0);

    const text = docent.store.getDocumentText(document.id) ?? '';
    for (const chunk of docent.store.getChunks(document.id))
      expect(text.slice(chunk.start, chunk.end)).toBe(chunk.text);
    expectIndexesAgree(docent);
  });

  it('finds the document by sparse, dense and hybrid search', async () => {
    const { docent } = await setup();
    await docent.ingest({ bytes: bytes(manual), source: 'manual.md' });
    for (const mode of ['sparse', 'dense', 'hybrid'] as const) {
      const results = await sources(docent, 'zebrafish interfaces', mode);
      expect(results[0]?.text, mode).toContain('zebrafish');
    }
  });

  it('treats the same bytes again as a no-op', async () => {
    const { docent } = await setup();
    const first = await docent.ingest({ bytes: bytes(manual), source: 'manual.md' });
    const second = await docent.ingest({ bytes: bytes(manual), source: 'copy-of-manual.md' });
    expect(second.duplicate).toBe(true);
    expect(second.document.id).toBe(first.document.id);
    expect(docent.store.listDocuments()).toHaveLength(1);
    expectIndexesAgree(docent);
  });

  it('replaces an older version with the same source name', async () => {
    const { docent } = await setup();
    await docent.ingest({ bytes: bytes(manual), source: 'manual.md' });
    const changed = manual.replace('zebrafish', 'platypus');
    const { document } = await docent.ingest({ bytes: bytes(changed), source: 'manual.md' });

    expect(docent.store.listDocuments().map((listed) => listed.id)).toEqual([document.id]);
    for (const mode of ['sparse', 'dense'] as const) {
      const results = await sources(docent, 'zebrafish', mode);
      expect(
        results.every((result) => !result.text.includes('zebrafish')),
        mode,
      ).toBe(true);
    }
    expect((await sources(docent, 'platypus', 'sparse'))[0]?.documentId).toBe(document.id);
    expectIndexesAgree(docent);
  });

  it('keeps a newer version written last', async () => {
    const { docent } = await setup();
    const { older, newer, olderPrepared, newerPrepared } = await prepareTwoVersions(docent);

    docent.apply(older.id, olderPrepared);
    expect(docent.store.requireDocument(newer.id).status).toBe('processing');
    docent.apply(newer.id, newerPrepared);

    expect(docent.store.listDocuments().map((listed) => listed.id)).toEqual([newer.id]);
    expect(docent.store.requireDocument(newer.id).status).toBe('indexed');
    for (const mode of ['sparse', 'dense'] as const) {
      const results = await sources(docent, 'zebrafish platypus interfaces', mode);
      expect(results.length, mode).toBeGreaterThan(0);
      expect(new Set(results.map((result) => result.documentId)), mode).toEqual(new Set([newer.id]));
    }
    expectIndexesAgree(docent);
  });

  it('makes failed bytes uploaded again newest', async () => {
    const { docent } = await setup();
    const changed = manual.replace('zebrafish', 'platypus');
    const first = docent.accept({ bytes: bytes(manual), source: 'manual.md' }).document;
    docent.fail(first.id, new DocentError('PARSE_FAILED', 'The parser timed out'));
    const pending = docent.accept({ bytes: bytes(changed), source: 'manual.md' }).document;

    const { document } = await docent.ingest({ bytes: bytes(manual), source: 'manual.md' });

    expect(document.id).toBe(first.id);
    expect(document.status).toBe('indexed');
    // The version still pending was uploaded before these bytes came again, so it was replaced.
    expect(docent.store.getDocument(pending.id)).toBeUndefined();
    expect(docent.store.listDocuments().map((listed) => listed.id)).toEqual([first.id]);
    expectIndexesAgree(docent);
  });

  it('keeps indexed bytes uploaded again', async () => {
    const { docent } = await setup();
    const changed = manual.replace('zebrafish', 'platypus');
    const first = await docent.ingest({ bytes: bytes(manual), source: 'manual.md' });
    const pending = docent.accept({ bytes: bytes(changed), source: 'manual.md' }).document;
    const pendingPrepared = await docent.prepare(pending.id, { bytes: bytes(changed), source: 'manual.md' });

    const again = docent.accept({ bytes: bytes(manual), source: 'manual.md' });

    expect(again.document.id).toBe(first.document.id);
    expect(again.duplicate).toBe(true);
    expect(docent.store.getDocument(pending.id)).toBeUndefined();
    expect(() => docent.apply(pending.id, pendingPrepared)).toThrow(/not found/);
    expect(docent.store.listDocuments().map((listed) => listed.id)).toEqual([first.document.id]);
    expect(await sources(docent, 'platypus', 'sparse')).toHaveLength(0);
    expectIndexesAgree(docent);
  });

  it('keeps queued bytes uploaded again', async () => {
    const { docent } = await setup();
    const { older, newer, olderPrepared, newerPrepared } = await prepareTwoVersions(docent);

    const again = docent.accept({ bytes: bytes(manual), source: 'manual.md' });
    expect(again.document.id).toBe(older.id);
    docent.apply(newer.id, newerPrepared);
    docent.apply(older.id, olderPrepared);

    expect(docent.store.listDocuments().map((listed) => listed.id)).toEqual([older.id]);
    expect(docent.store.requireDocument(older.id).status).toBe('indexed');
    expect(await sources(docent, 'platypus', 'sparse')).toHaveLength(0);
    expectIndexesAgree(docent);
  });

  it('drops an older version written last', async () => {
    const { docent } = await setup();
    const { older, newer, olderPrepared, newerPrepared } = await prepareTwoVersions(docent);

    docent.apply(newer.id, newerPrepared);
    // The newer version removed the older row, so the older result has nothing left to write.
    expect(docent.store.getDocument(older.id)).toBeUndefined();
    expect(() => docent.apply(older.id, olderPrepared)).toThrow(/not found/);

    expect(docent.store.listDocuments().map((listed) => listed.id)).toEqual([newer.id]);
    for (const mode of ['sparse', 'dense'] as const) {
      const results = await sources(docent, 'zebrafish platypus interfaces', mode);
      expect(new Set(results.map((result) => result.documentId)), mode).toEqual(new Set([newer.id]));
    }
    expectIndexesAgree(docent);
  });

  it('embeds only changed chunks of a new version', async () => {
    const embedder = new BagOfWordsEmbedder();
    const embedded: string[] = [];
    const original = embedder.embed.bind(embedder);
    embedder.embed = (texts) => {
      embedded.push(...texts);
      return original(texts);
    };
    const { docent } = await setup({ embedders: [embedder] });
    await docent.ingest({ bytes: bytes(manual), source: 'manual.md' });
    const firstCount = embedded.length;
    await docent.ingest({ bytes: bytes(manual.replace('zebrafish', 'platypus')), source: 'manual.md' });
    expect(firstCount).toBeGreaterThan(1);
    expect(embedded.length - firstCount).toBe(1);
    expect(embedded.at(-1)).toContain('platypus');
  });

  it('rejects an empty file before storing anything', async () => {
    const { docent } = await setup();
    expect(() => docent.accept({ bytes: bytes('  \n\t '), source: 'blank.txt' })).toThrow(DocentError);
    expect(docent.store.listDocuments()).toHaveLength(0);
  });

  it('records a parse failure on the document only', async () => {
    const { docent } = await setup();
    const { document } = await docent.ingest({
      bytes: Uint8Array.from([0x25, 0x50, 0x44, 0x46, 0x2d, 0x31, 0x00, 0xff]),
      source: 'broken.pdf',
    });
    expect(document.status).not.toBe('indexed');
    expect(document.errorMessage).toBeTruthy();
    await docent.ingest({ bytes: bytes(manual), source: 'manual.md' });
    expectIndexesAgree(docent);
  });

  it('writes nothing when applying a prepared document fails', async () => {
    const { docent } = await setup();
    const accepted = docent.accept({ bytes: bytes(manual), source: 'manual.md' });
    const prepared = await docent.prepare(accepted.document.id, {
      bytes: bytes(manual),
      source: 'manual.md',
    });
    const broken = {
      ...prepared,
      embeddings: prepared.embeddings.map((vector, index) => (index === 1 ? new Float32Array(3) : vector)),
    };
    expect(() => docent.apply(accepted.document.id, broken)).toThrow();
    expect(docent.store.getChunks(accepted.document.id)).toHaveLength(0);
    expect(
      (docent.store.db.prepare('SELECT count(*) AS count FROM chunks_fts').get() as { count: number }).count,
    ).toBe(0);
  });
});

describe('Docent delete', () => {
  it('removes a document from both indexes at once and after a restart', async () => {
    const context = await setup();
    const { document } = await context.docent.ingest({ bytes: bytes(manual), source: 'manual.md' });
    await context.docent.ingest({
      bytes: bytes('Unrelated notes about gardening and tomatoes.'),
      source: 'notes.txt',
    });
    context.docent.deleteDocument(document.id);

    for (const mode of ['sparse', 'dense', 'hybrid'] as const) {
      const results = await sources(context.docent, 'zebrafish sources.list', mode);
      expect(
        results.some((result) => result.documentId === document.id),
        mode,
      ).toBe(false);
    }
    expectIndexesAgree(context.docent);

    const reopened = await context.reopen();
    for (const mode of ['sparse', 'dense', 'hybrid'] as const) {
      const results = await sources(reopened, 'zebrafish sources.list', mode);
      expect(
        results.some((result) => result.documentId === document.id),
        mode,
      ).toBe(false);
    }
    expectIndexesAgree(reopened);
  });
});

describe('Docent restart', () => {
  it('rebuilds a stale dense index from stored vectors', async () => {
    const context = await setup();
    await context.docent.ingest({ bytes: bytes(manual), source: 'manual.md' });
    context.docent.flush();
    // A process killed after the SQLite commit but before saving HNSW leaves an older index file.
    await context.docent.ingest({ bytes: bytes('Tomatoes need sun and water.'), source: 'garden.txt' });
    const denseDirectory = path.join(context.dataDir, 'dense');
    const sidecars = readdirSync(denseDirectory).filter((name) => name.endsWith('.json'));
    expect(sidecars.length).toBe(1);

    const reopened = await context.reopen();
    expectIndexesAgree(reopened);
    const results = await sources(reopened, 'tomatoes sun', 'dense');
    expect(results[0]?.source).toBe('garden.txt');
  });

  it('rebuilds a missing dense index file', async () => {
    const context = await setup();
    await context.docent.ingest({ bytes: bytes(manual), source: 'manual.md' });
    await context.docent.close();
    rmSync(path.join(context.dataDir, 'dense'), { recursive: true, force: true });
    const reopened = await context.reopen();
    expectIndexesAgree(reopened);
    expect(existsSync(path.join(context.dataDir, 'dense'))).toBe(true);
  });
});

describe('Docent search filters', () => {
  it('returns nothing for a filter that matches nothing', async () => {
    const { docent } = await setup();
    await docent.ingest({ bytes: bytes(manual), source: 'manual.md', metadata: { lang: 'en' } });
    for (const mode of ['sparse', 'dense', 'hybrid'] as const) {
      const { results } = await docent.search('upgrade', {
        collection: 'default',
        topK: 5,
        mode,
        filters: { lang: 'de' },
      });
      expect(results, mode).toEqual([]);
    }
  });

  it('treats an empty filter as no filter', async () => {
    const { docent } = await setup();
    await docent.ingest({ bytes: bytes(manual), source: 'manual.md', metadata: { lang: 'en' } });
    const { results } = await docent.search('upgrade', { collection: 'default', topK: 5, filters: {} });
    expect(results.length).toBeGreaterThan(0);
  });

  it('intersects filters with document ids', async () => {
    const { docent } = await setup();
    const english = await docent.ingest({
      bytes: bytes(manual),
      source: 'manual.md',
      metadata: { lang: 'en' },
    });
    const german = await docent.ingest({
      bytes: bytes('Upgrade: apt full-upgrade ausführen.'),
      source: 'de.txt',
      metadata: { lang: 'de' },
    });
    const { results } = await docent.search('upgrade', {
      collection: 'default',
      topK: 10,
      filters: { lang: 'en' },
      documentIds: [german.document.id],
    });
    expect(results).toEqual([]);
    const matching = await docent.search('upgrade', {
      collection: 'default',
      topK: 10,
      filters: { lang: ['en', 'fr'] },
      documentIds: [english.document.id],
    });
    expect(matching.results.every((result) => result.documentId === english.document.id)).toBe(true);
    expect(matching.results.length).toBeGreaterThan(0);
  });

  it('rejects a filter key that could change the JSON path', async () => {
    const { docent } = await setup();
    await docent.ingest({ bytes: bytes(manual), source: 'manual.md' });
    await expect(
      docent.search('upgrade', { collection: 'default', topK: 5, filters: { 'a") OR 1=1 --': 'x' } }),
    ).rejects.toThrow('Invalid metadata filter key');
  });

  it('survives FTS5 syntax in the query', async () => {
    const { docent } = await setup();
    await docent.ingest({ bytes: bytes(manual), source: 'manual.md' });
    for (const query of [
      '"unbalanced',
      'NEAR(apt',
      'apt* OR',
      'col:upgrade',
      '-(',
      "'; DROP TABLE chunks; --",
    ]) {
      await expect(
        docent.search(query, { collection: 'default', topK: 5, mode: 'sparse' }),
      ).resolves.toBeDefined();
    }
  });
});

describe('Docent multilingual search', () => {
  it('finds CJK text with one, two and many characters', async () => {
    const { docent } = await setup();
    await docent.ingest({ bytes: bytes('東京都は日本の首都です。Tokyo is the capital.'), source: 'ja.txt' });
    await docent.ingest({ bytes: bytes('서울은 한국의 수도입니다.'), source: 'ko.txt' });
    await docent.ingest({ bytes: bytes('北京是中国的首都。'), source: 'zh.txt' });
    const top = async (query: string) => (await sources(docent, query, 'sparse'))[0]?.source;
    expect(await top('日')).toBe('ja.txt');
    expect(await top('北京')).toBe('zh.txt');
    expect(await top('東京都の首都')).toBe('ja.txt');
    expect(await top('서울')).toBe('ko.txt');
    expect(await top('Tokyo 東京')).toBe('ja.txt');
  });
});

describe('Docent reindex', () => {
  it('switches to an embedder with another dimension', async () => {
    const small = new BagOfWordsEmbedder(32);
    const large = new BagOfWordsEmbedder(96);
    const { docent } = await setup({ embedders: [small, large] });
    await docent.ingest({ bytes: bytes(manual), source: 'manual.md' });

    const collection = await docent.reindex('default', large.id);
    expect(collection.embedderId).toBe(large.id);
    expect(collection.dimension).toBe(96);
    const results = await sources(docent, 'zebrafish', 'dense');
    expect(results[0]?.text).toContain('zebrafish');
    expectIndexesAgree(docent);
  });
});

describe('sanitizeSource', () => {
  it('keeps only the last path component', () => {
    expect(sanitizeSource('../../etc/passwd')).toBe('passwd');
    expect(sanitizeSource('C:\\Users\\me\\report.pdf')).toBe('report.pdf');
  });

  it('removes control characters and limits the length', () => {
    expect(sanitizeSource('a\u0000b\u001fc.txt')).toBe('abc.txt');
    expect(sanitizeSource('x'.repeat(300))).toHaveLength(255);
    expect(sanitizeSource('..')).toBe('unnamed');
  });
});

describe('Docent with two processes', () => {
  it('reloads the dense index after another process writes', async () => {
    const context = await setup();
    const server = context.docent;
    await server.ingest({ bytes: bytes(manual), source: 'manual.md' });
    expect((await sources(server, 'zebrafish', 'dense'))[0]?.text).toContain('zebrafish');

    // A second engine on the same data folder stands for `docent ingest` beside a running server.
    const second = await openTestDocent({ dataDir: context.dataDir });
    await second.docent.ingest({
      bytes: bytes('Tomatoes need sun and water every day.'),
      source: 'garden.txt',
    });
    const { document } = await second.docent.ingest({
      bytes: bytes('Platypus facts for the curious.'),
      source: 'platypus.txt',
    });
    second.docent.deleteDocument(document.id);
    await second.docent.close();

    const results = await sources(server, 'tomatoes sun water', 'dense');
    expect(results[0]?.source).toBe('garden.txt');
    expect(results.some((result) => result.source === 'platypus.txt')).toBe(false);
    expectIndexesAgree(server);
  });
});
