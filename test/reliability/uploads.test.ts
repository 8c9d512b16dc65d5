/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument -- supertest types response bodies as any; the assertions check their shape. */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeParseWorkers } from '../../ingest/parse/index.ts';
import { openTestApp, type TestApp } from '../../services/api/test-app.ts';
import { bearer, expectIndexesAgree, upload, uploadAndWait } from './support.ts';

// Uploads (kind 1) and re-uploads and duplicates (kind 3), through the REST API. The engine-level
// cases (same bytes twice, new version under the same name) are in services/docent.test.ts.

const LIMIT = 20_000;

async function onePagePdf(text: string): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  pdf.addPage([400, 200]).drawText(text, { x: 20, y: 150, size: 11, font });
  return pdf.save();
}

function blobFiles(test: TestApp): string[] {
  try {
    return readdirSync(path.join(test.docent.config.dataDir, 'blobs'), { recursive: true }).map(String);
  } catch {
    return [];
  }
}

async function documentOf(test: TestApp, id: string) {
  const response = await request(test.app).get(`/v1/documents/${id}`).set(bearer(test.keys.reader));
  expect(response.status).toBe(200);
  return response.body as { status: string; source: string; mediaType: string; errorCode: string | null };
}

async function searchSources(test: TestApp, query: string, collection: string, mode = 'hybrid') {
  const response = await request(test.app)
    .post('/v1/search')
    .set(bearer(test.keys.reader))
    .send({ query, collection, topK: 20, mode });
  expect(response.status).toBe(200);
  return response.body.results as Array<{ documentId: string; chunkId: number; text: string }>;
}

describe('uploads', () => {
  let test: TestApp;

  beforeAll(async () => {
    test = await openTestApp({ env: { DOCENT_MAX_UPLOAD_BYTES: String(LIMIT) } });
  });

  afterAll(async () => {
    await test.close();
    await closeParseWorkers();
  });

  it('rejects whitespace-only files of every kind', async () => {
    for (const [name, content] of [
      ['spaces.txt', '     '],
      ['lines.md', '\r\n\r\n\n\t\n'],
      ['nbsp.txt', '\u00a0 \u3000 \u00a0'],
      ['bom.txt', '\ufeff  \n'],
    ] as const) {
      const response = await upload(test, [[name, content]], { collection: 'blank' });
      expect(response.status, name).toBe(422);
      expect(response.body.error.code, name).toBe('EMPTY_DOCUMENT');
    }
    expect(test.docent.store.getCollection('blank')).toBeUndefined();
  });

  it('accepts a file at the size limit and rejects one byte more', async () => {
    const atLimit = `Tail words here. ${'a'.repeat(LIMIT)}`.slice(0, LIMIT);
    expect(Buffer.byteLength(atLimit)).toBe(LIMIT);
    const blobsBefore = blobFiles(test).length;
    const over = await upload(test, [['over.txt', `${atLimit}x`]], { collection: 'sized' });
    expect(over.status).toBe(413);
    expect(over.headers['content-type']).toMatch(/application\/json/);
    expect(over.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(over.body.error.message).toContain(String(LIMIT));
    expect(test.docent.store.getCollection('sized')).toBeUndefined();
    expect(blobFiles(test)).toHaveLength(blobsBefore);

    const exact = await upload(test, [['exact.txt', atLimit]], { collection: 'sized' });
    expect(exact.status).toBe(202);
  });

  it('detects content whose extension lies', async () => {
    const pdf = await onePagePdf('A portable document that claims to be text.');
    const [html, fakeText, image] = await uploadAndWait(
      test,
      [
        ['table.csv', '<!DOCTYPE html><html><body><p>Actually a web page about otters.</p></body></html>'],
        ['notes.txt', pdf],
        [
          'photo.txt',
          Uint8Array.from([
            0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1,
          ]),
        ],
      ],
      { collection: 'lies' },
    );
    expect((await documentOf(test, html!.documentId)).mediaType).toBe('text/html');
    expect((await documentOf(test, fakeText!.documentId)).mediaType).toBe('application/pdf');
    const failed = await documentOf(test, image!.documentId);
    expect(failed.status).toBe('failed');
    expect(failed.errorCode).toBe('UNSUPPORTED_MEDIA_TYPE');
    const hits = await searchSources(test, 'otters', 'lies', 'sparse');
    expect(hits[0]?.documentId).toBe(html!.documentId);
    expect(hits[0]?.text).not.toContain('<p>');
  });

  it('reduces hostile file names to a safe source name', async () => {
    const cases: Array<[string, (source: string) => void]> = [
      ['../../../etc/passwd.txt', (source) => expect(source).toBe('passwd.txt')],
      ['..\\..\\windows\\win.ini.txt', (source) => expect(source).toBe('win.ini.txt')],
      ['dir/sub/inner.txt', (source) => expect(source).toBe('inner.txt')],
      [`${'n'.repeat(296)}.txt`, (source) => expect(source.length).toBeLessThanOrEqual(255)],
    ];
    for (const [index, [name, check]] of cases.entries()) {
      const response = await upload(test, [[name, `File name case ${index} about herons.`]], {
        collection: 'names',
      });
      expect(response.status, JSON.stringify(name)).toBe(202);
      const document = await documentOf(test, response.body.documents[0].documentId);
      check(document.source);
      expect(document.source).not.toMatch(/[/\\]/);
      expect([...document.source].some((character) => character.charCodeAt(0) < 0x20)).toBe(false);
      if (response.body.documents[0].jobId !== null) await test.waitForJob(response.body.documents[0].jobId);
    }
    // The multipart parser drops a part named only `..` and rejects control characters in a part
    // header: a 400 with the reason, and nothing stored. sanitizeSource removes them from names
    // that reach the engine another way (see services/docent.test.ts).
    const stored = test.docent.store.listDocuments({ collection: 'names' }).length;
    for (const name of ['..', 'nul\u0000.txt', 'bell\u0007escape\u001b.txt']) {
      const response = await upload(test, [[name, `A file named ${JSON.stringify(name)}.`]], {
        collection: 'names',
      });
      expect(response.status, JSON.stringify(name)).toBe(400);
      expect(response.body.error.code).toBe('INVALID_ARGUMENT');
    }
    expect(test.docent.store.listDocuments({ collection: 'names' })).toHaveLength(stored);

    const dataDir = test.docent.config.dataDir;
    const entries = readdirSync(dataDir, { recursive: true }).map(String);
    expect(entries.some((entry) => entry.includes('passwd') || entry.includes('win.ini'))).toBe(false);
    expect(readdirSync(path.dirname(dataDir)).some((entry) => entry === 'passwd.txt')).toBe(false);
  });
});

describe('re-uploads and duplicates', () => {
  let test: TestApp;

  beforeAll(async () => {
    test = await openTestApp({ env: { DOCENT_WORKER_CONCURRENCY: '2' } });
  });

  afterAll(async () => {
    await test.close();
    await closeParseWorkers();
  });

  it('keeps one copy for concurrent uploads of one file', async () => {
    const content = 'Kingfishers dive for small fish in clear streams.\n\nThey nest in river banks.';
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        upload(test, [[index % 2 === 0 ? 'birds.txt' : `birds-copy-${index}.txt`, content]], {
          collection: 'race',
        }),
      ),
    );
    const ids = new Set(responses.map((response) => response.body.documents[0].documentId as string));
    expect(responses.map((response) => response.status)).toEqual(Array(8).fill(202));
    expect(ids.size).toBe(1);
    const jobs = responses.flatMap((response) =>
      response.body.documents[0].jobId === null ? [] : [response],
    );
    expect(jobs).toHaveLength(1);
    await test.waitForJob(jobs[0]!.body.documents[0].jobId);

    expect(test.docent.store.listDocuments({ collection: 'race' })).toHaveLength(1);
    for (const mode of ['sparse', 'dense', 'hybrid']) {
      const hits = await searchSources(test, 'kingfishers river banks', 'race', mode);
      const chunkIds = hits.map((hit) => hit.chunkId);
      expect(new Set(chunkIds).size, mode).toBe(chunkIds.length);
      expect(new Set(hits.map((hit) => hit.text)).size, mode).toBe(hits.length);
    }
    expectIndexesAgree(test.docent, 'race');
  });

  it('serves only the newest version of a re-uploaded name', async () => {
    const versions = [1, 2, 3].map(
      (version) => `Release notes version ${version}.\n\nThe widget colour is shade${version}.`,
    );
    for (const content of versions)
      await uploadAndWait(test, [['notes.md', content]], { collection: 'versions' });

    const documents = test.docent.store.listDocuments({ collection: 'versions' });
    expect(documents).toHaveLength(1);
    for (const mode of ['sparse', 'dense', 'hybrid']) {
      const hits = await searchSources(test, 'widget colour release notes version', 'versions', mode);
      expect(
        hits.every((hit) => hit.documentId === documents[0]!.id),
        mode,
      ).toBe(true);
      expect(
        hits.some((hit) => hit.text.includes('shade3')),
        mode,
      ).toBe(true);
      expect(
        hits.some((hit) => /shade[12]/.test(hit.text)),
        mode,
      ).toBe(false);
    }
    expectIndexesAgree(test.docent, 'versions');
  });

  it('keeps one document for concurrent versions of one name', async () => {
    const responses = await Promise.all(
      [1, 2, 3, 4].map((version) =>
        upload(test, [['plan.txt', `Plan draft ${version}: the meeting moves to room ${version}0.`]], {
          collection: 'drafts',
        }),
      ),
    );
    for (const response of responses) {
      expect(response.status).toBe(202);
      await test.waitForJob(response.body.documents[0].jobId);
    }
    const indexed = test.docent.store.listDocuments({ collection: 'drafts', status: 'indexed' });
    expect(indexed).toHaveLength(1);
    const hits = await searchSources(test, 'plan draft meeting room', 'drafts');
    expect(new Set(hits.map((hit) => hit.documentId))).toEqual(new Set([indexed[0]!.id]));
    expectIndexesAgree(test.docent, 'drafts');
  });
});
