/* eslint-disable @typescript-eslint/no-unsafe-member-access -- supertest types response bodies as any; the assertions check their shape. */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { DocentError } from '../../core/errors.ts';
import { openTestApp, type TestApp } from '../../services/api/test-app.ts';
import { prepareInProcess, type PrepareFunction } from '../../services/worker.ts';
import { bearer, expectIndexesAgree, upload, waitFor } from './support.ts';

// Re-uploads under concurrent ingest: two versions of one file are uploaded one after
// the other and prepared at the same time, and the test decides which prepared result reaches
// the index owner first. The version uploaded last must win in both orders, on both queues.

const REDIS_URL = 'redis://127.0.0.1:6379';
const COLLECTION = 'ferries';
const SOURCE = 'timetable.txt';
const OLDER = 'Ferry timetable, amber edition. The amber ferry leaves pier four at nine.';
const NEWER = 'Ferry timetable, cobalt edition. The cobalt ferry leaves pier six at ten.';

interface Uploaded {
  readonly documentId: string;
  readonly jobId: string;
}

interface PrepareRule {
  /** Word that marks the version this rule applies to. */
  readonly word: string;
  /** Preparation of this version waits until this returns true. */
  readonly holdUntil?: () => boolean;
  /** The first preparation of this version fails for good, as a parse failure would. */
  readonly failFirst?: boolean;
}

/** Prepares documents in this process, holding or failing the versions that the rules name. */
function scriptedPrepare(test: () => TestApp, rules: readonly PrepareRule[]): PrepareFunction {
  const failed = new Set<string>();
  return async (input) => {
    const text = new TextDecoder().decode(input.bytes);
    const rule = rules.find((candidate) => text.includes(candidate.word));
    if (rule?.failFirst === true && !failed.has(rule.word)) {
      failed.add(rule.word);
      throw new DocentError('PARSE_FAILED', `The ${rule.word} version failed on purpose`);
    }
    const holdUntil = rule?.holdUntil;
    if (holdUntil !== undefined)
      await waitFor(() => (holdUntil() ? true : undefined), 20_000, `release of the ${rule?.word} version`);

    const { docent } = test();
    const prepare = prepareInProcess(docent.config, (payload) =>
      Promise.resolve(docent.embedderFor(docent.store.requireCollection(payload.collection))),
    );
    return prepare(input);
  };
}

function indexedWith(test: TestApp | undefined, word: string): boolean {
  return (
    test?.docent.store
      .listDocuments({ collection: COLLECTION, status: 'indexed' })
      .some((document) => test.docent.store.getDocumentText(document.id)?.includes(word) === true) === true
  );
}

async function uploadVersion(test: TestApp, text: string): Promise<Uploaded> {
  const response = await upload(test, [[SOURCE, text]], { collection: COLLECTION });
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  return response.body.documents[0] as Uploaded;
}

/**
 * Asserts that only the version marked by `currentWord` is stored and found, that the replaced
 * one was removed, and that the indexes agree.
 */
async function expectOnlyVersion(
  test: TestApp,
  current: Uploaded,
  currentWord: string,
  replaced: Uploaded,
  replacedWord: string,
): Promise<void> {
  const replacedResponse = await request(test.app)
    .get(`/v1/documents/${replaced.documentId}`)
    .set(bearer(test.keys.reader));
  expect(replacedResponse.status, `the ${replacedWord} version was removed`).toBe(404);
  const currentResponse = await request(test.app)
    .get(`/v1/documents/${current.documentId}`)
    .set(bearer(test.keys.reader));
  expect(currentResponse.body.status).toBe('indexed');
  expect(currentResponse.body.errorMessage).toBeNull();
  expect(test.docent.store.listDocuments({ collection: COLLECTION }).map((document) => document.id)).toEqual([
    current.documentId,
  ]);

  for (const mode of ['sparse', 'dense']) {
    const response = await request(test.app)
      .post('/v1/search')
      .set(bearer(test.keys.reader))
      .send({
        query: `ferry timetable ${currentWord} ${replacedWord} pier`,
        collection: COLLECTION,
        mode,
        topK: 10,
      });
    expect(response.status).toBe(200);
    const hits = response.body.results as Array<{ documentId: string; text: string }>;
    expect(hits.length, mode).toBeGreaterThan(0);
    expect(new Set(hits.map((hit) => hit.documentId)), mode).toEqual(new Set([current.documentId]));
    expect(
      hits.some((hit) => hit.text.includes(currentWord)),
      mode,
    ).toBe(true);
    expect(
      hits.some((hit) => hit.text.includes(replacedWord)),
      mode,
    ).toBe(false);
  }
  expectIndexesAgree(test.docent, COLLECTION);
}

describe.each([
  { queue: 'embedded queue', redis: false },
  { queue: 'BullMQ', redis: true },
])('concurrent versions on the $queue', ({ redis }) => {
  const prefix = `docent-versions-${randomUUID().slice(0, 8)}`;
  let test: TestApp | undefined;

  const open = async (rules: readonly PrepareRule[]): Promise<TestApp> => {
    test = await openTestApp({
      ...(redis ? { redis: { url: REDIS_URL, prefix } } : {}),
      // Both versions are prepared at once, so that one can wait for the other to be indexed.
      ingestConcurrency: 2,
      prepare: scriptedPrepare(() => {
        if (test === undefined) throw new Error('the test app is not open');
        return test;
      }, rules),
    });
    return test;
  };

  afterEach(async () => {
    await test?.close();
    test = undefined;
    if (!redis) return;
    const client = new Redis(REDIS_URL);
    const keys = await client.keys(`${prefix}:*`);
    if (keys.length > 0) await client.del(...keys);
    client.disconnect();
  });

  it('drops an older version finishing last', async () => {
    const app = await open([{ word: 'amber', holdUntil: () => indexedWith(test, 'cobalt') }]);
    const older = await uploadVersion(app, OLDER);
    const newer = await uploadVersion(app, NEWER);

    await app.waitForJob(`apply-${newer.jobId}`, 20_000);
    const olderApply = await app.waitForJob(`apply-${older.jobId}`, 20_000);

    // The older result reached the owner after the newer one had replaced it.
    expect(olderApply.state).toBe('completed');
    expect(olderApply.result).toEqual({ documentId: older.documentId, skipped: 'document deleted' });
    await expectOnlyVersion(app, newer, 'cobalt', older, 'amber');
  });

  it('keeps a newer version finishing last', async () => {
    const app = await open([{ word: 'cobalt', holdUntil: () => indexedWith(test, 'amber') }]);
    const older = await uploadVersion(app, OLDER);
    const newer = await uploadVersion(app, NEWER);

    const olderApply = await app.waitForJob(`apply-${older.jobId}`, 20_000);
    const newerApply = await app.waitForJob(`apply-${newer.jobId}`, 20_000);

    expect(olderApply.state).toBe('completed');
    expect(newerApply.state).toBe('completed');
    expect(newerApply.result).toMatchObject({ documentId: newer.documentId });
    await expectOnlyVersion(app, newer, 'cobalt', older, 'amber');
  });

  it('prefers a failed version uploaded again', async () => {
    const app = await open([
      { word: 'amber', failFirst: true },
      { word: 'cobalt', holdUntil: () => indexedWith(test, 'amber') },
    ]);
    const failed = await uploadVersion(app, OLDER);
    const failedIngest = await app.waitForJob(failed.jobId, 20_000);
    expect(failedIngest.state).toBe('failed');
    await waitFor(
      () => (app.docent.store.getDocument(failed.documentId)?.status === 'failed' ? true : undefined),
      20_000,
      'the amber version failed',
    );

    // The amber bytes come again after the cobalt version, so they are the newest upload.
    const newer = await uploadVersion(app, NEWER);
    const again = await uploadVersion(app, OLDER);
    expect(again.documentId).toBe(failed.documentId);
    await app.waitForJob(`apply-${again.jobId}`, 20_000);
    const newerApply = await app.waitForJob(`apply-${newer.jobId}`, 20_000);

    expect(newerApply.result).toEqual({ documentId: newer.documentId, skipped: 'document deleted' });
    await expectOnlyVersion(app, again, 'amber', newer, 'cobalt');
  });

  it('prefers indexed bytes uploaded again', async () => {
    let uploadedAgain = false;
    const app = await open([{ word: 'cobalt', holdUntil: () => uploadedAgain }]);
    const indexed = await uploadVersion(app, OLDER);
    await app.waitForJob(`apply-${indexed.jobId}`, 20_000);

    // The amber bytes come again while the cobalt version is being prepared.
    const newer = await uploadVersion(app, NEWER);
    const again = await upload(app, [[SOURCE, OLDER]], { collection: COLLECTION });
    uploadedAgain = true;
    expect(again.body.documents[0]).toMatchObject({ documentId: indexed.documentId, duplicate: true });

    const newerApply = await app.waitForJob(`apply-${newer.jobId}`, 20_000);
    expect(newerApply.result).toEqual({ documentId: newer.documentId, skipped: 'document deleted' });
    await expectOnlyVersion(app, indexed, 'amber', newer, 'cobalt');
  });
});
