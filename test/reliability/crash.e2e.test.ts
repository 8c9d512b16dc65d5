/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return -- API bodies are untyped JSON; the assertions check their shape. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { seededRandom } from './parse-fuzz.ts';
import { ServerProcess } from './server-process.ts';
import { expectIndexesAgreeOnDisk, freePort, waitFor } from './support.ts';

// Crashes (kind 11): `docent serve` is killed with SIGKILL at seeded random points of ingest,
// delete and reindex, then started again on the same data. After each restart every accepted
// upload must end indexed or failed with a reason, and SQLite, FTS5 and HNSW must agree.

const SEED = Number(process.env.DOCENT_CRASH_SEED ?? 7_331);
const random = seededRandom(SEED);
const COLLECTION = 'crash';
const folders: string[] = [];

afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** A unique, searchable word per document, e.g. `marker0007q`. */
const marker = (index: number): string => `marker${String(index).padStart(4, '0')}q`;

function documentText(index: number): string {
  return Array.from(
    { length: 6 },
    (_, paragraph) =>
      `Paragraph ${paragraph} of report ${index} mentions ${marker(index)} and several ordinary words about harbours, tides and ships.`,
  ).join('\n\n');
}

async function uploadBatch(server: ServerProcess, indexes: number[]): Promise<string[]> {
  const form = new FormData();
  form.set('collection', COLLECTION);
  for (const index of indexes) form.append('files', new Blob([documentText(index)]), `report-${index}.txt`);
  const response = await server.call('POST', '/documents', form);
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  return response.body.documents.map((document: { documentId: string }) => document.documentId);
}

async function listDocuments(server: ServerProcess) {
  const response = await server.call('GET', `/documents?collection=${COLLECTION}&limit=1000`);
  expect(response.status).toBe(200);
  return response.body.documents as Array<{
    id: string;
    source: string;
    status: string;
    errorCode: string | null;
    errorMessage: string | null;
  }>;
}

/** Waits until no document of the collection is queued or processing. */
async function settle(server: ServerProcess) {
  return waitFor(
    async () => {
      const documents = await listDocuments(server);
      return documents.every((document) => document.status !== 'queued' && document.status !== 'processing')
        ? documents
        : undefined;
    },
    60_000,
    'every document indexed or failed',
  );
}

async function found(server: ServerProcess, index: number, mode: 'dense' | 'sparse'): Promise<boolean> {
  const response = await server.call('POST', '/search', {
    query: `${marker(index)}`,
    collection: COLLECTION,
    mode,
    topK: 10,
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.results.some((result: { source: string }) => result.source === `report-${index}.txt`);
}

/**
 * Checks the invariants after a restart: accepted uploads are indexed or failed with a reason,
 * each indexed document is found by sparse and dense search, deleted ones by neither.
 */
async function expectConsistent(
  server: ServerProcess,
  accepted: ReadonlySet<string>,
  deleted: ReadonlySet<number>,
): Promise<Set<number>> {
  const documents = await settle(server);
  const byId = new Map(documents.map((document) => [document.id, document]));
  const indexed = new Set<number>();
  for (const id of accepted) {
    const document = byId.get(id);
    if (document === undefined) continue; // deleted on purpose
    if (document.status === 'indexed') indexed.add(Number(/report-(\d+)/.exec(document.source)?.[1]));
    else {
      expect(document.status, document.source).toBe('failed');
      expect(document.errorMessage, document.source).toBeTruthy();
    }
  }
  for (const index of indexed) {
    expect(await found(server, index, 'sparse'), `sparse finds report-${index}`).toBe(true);
    expect(await found(server, index, 'dense'), `dense finds report-${index}`).toBe(true);
  }
  for (const index of deleted) {
    expect(await found(server, index, 'sparse'), `sparse hides deleted report-${index}`).toBe(false);
    expect(await found(server, index, 'dense'), `dense hides deleted report-${index}`).toBe(false);
  }
  return indexed;
}

const killDelay = (minMs: number, maxMs: number): number => Math.round(minMs + random() * (maxMs - minMs));

describe('kill -9 of the server', () => {
  it('loses no accepted upload and keeps the indexes in agreement', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'docent-crash-'));
    folders.push(dataDir);
    const env = { DOCENT_DATA_DIR: dataDir, DOCENT_EMBEDDER: 'hash:256', DOCENT_QUEUE_BACKOFF_MS: '100' };
    const server = new ServerProcess(await freePort(), env);
    const accepted = new Set<string>();
    const deleted = new Set<number>();
    const log: string[] = [];
    let next = 0;

    try {
      await server.start();

      // Ingest: upload batches and kill while the jobs run.
      for (let round = 0; round < 3; round += 1) {
        const batch = Array.from({ length: 8 }, () => next++);
        for (const id of await uploadBatch(server, batch)) accepted.add(id);
        const delay = killDelay(0, 1500);
        log.push(`ingest round ${round}: kill after ${delay} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
        await server.kill();
        await server.start();
        await expectConsistent(server, accepted, deleted);
      }

      // Delete: send deletes and kill while they run; a delete answered 202 must take effect.
      const documents = await listDocuments(server);
      const victims = documents.filter((document) => document.status === 'indexed').slice(0, 6);
      const deletions = victims.map(async (document) => {
        // The kill can cut a request before its response. Such a delete is not counted, and catching
        // the error here keeps it from being an unhandled rejection while the server restarts.
        let status: number;
        try {
          status = (await server.call('DELETE', `/documents/${document.id}`)).status;
        } catch (error) {
          log.push(`delete of ${document.id} cut by the kill: ${String(error)}`);
          return;
        }
        if (status === 202) deleted.add(Number(/report-(\d+)/.exec(document.source)?.[1]));
      });
      const deleteDelay = killDelay(0, 200);
      log.push(`delete: kill after ${deleteDelay} ms`);
      await new Promise((resolve) => setTimeout(resolve, deleteDelay));
      await server.kill();
      await Promise.allSettled(deletions);
      await server.start();
      await waitFor(
        async () => {
          const ids = new Set((await listDocuments(server)).map((document) => document.source));
          return [...deleted].every((index) => !ids.has(`report-${index}.txt`)) ? true : undefined;
        },
        30_000,
        'accepted deletes applied after the restart',
      );
      await expectConsistent(server, accepted, deleted);

      // Reindex: switch to another dimension and kill during the re-embedding or the swap.
      for (const [round, embedder] of ['hash:384', 'hash:128'].entries()) {
        const started = await server.call('POST', '/admin/reindex', { collection: COLLECTION, embedder });
        expect(started.status).toBe(202);
        const delay = killDelay(0, 300);
        log.push(`reindex round ${round} to ${embedder}: kill after ${delay} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
        await server.kill();
        await server.start();
        // The interrupted reindex job runs again after the restart and completes.
        const job = await waitFor(
          async () => {
            const response = await server.call('GET', `/jobs/${started.body.jobId}`);
            return response.body.state === 'completed' || response.body.state === 'failed'
              ? response.body
              : undefined;
          },
          30_000,
          'reindex job finished',
        );
        expect(job.state, JSON.stringify(job)).toBe('completed');
        await expectConsistent(server, accepted, deleted);
      }
      const collections = await server.call('GET', '/collections');
      const collection = collections.body.collections.find(
        (entry: { name: string }) => entry.name === COLLECTION,
      );
      expect(collection.embedderId).toBe('hash:128');

      expect(await server.stop()).toBe(0);
      await expectIndexesAgreeOnDisk(dataDir, 'hash:128', COLLECTION);
    } catch (error) {
      throw new Error(
        `${(error as Error).message}\nseed ${SEED}; ${log.join('; ')}\n${server.output().slice(-4000)}`,
        {
          cause: error,
        },
      );
    } finally {
      await server.kill();
    }
  }, 240_000);
});
