/* eslint-disable @typescript-eslint/no-unsafe-member-access -- API bodies are untyped JSON; the assertions check their shape. */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { startDocentWorker, type DocentProcess } from '../e2e/docent-process.ts';
import { ServerProcess } from './server-process.ts';
import { expectIndexesAgreeOnDisk, freePort, waitFor } from './support.ts';

// Crashes with Redis: a `docent worker` is killed with SIGKILL while it prepares a
// document. BullMQ hands the job to another worker once the dead worker's lock expires, and the
// document must end indexed once, with SQLite, FTS5 and HNSW in agreement.

const REDIS_URL = 'redis://127.0.0.1:6379';
const COLLECTION = 'tides';
const SOURCE = 'tide-tables.txt';
/** Short enough that the killed worker's job moves on within seconds, long enough for a loaded machine. */
const LOCK_MS = 3000;
/** Paragraphs of the upload: enough that preparing it keeps a worker busy for a few seconds. */
const PARAGRAPHS = 6000;

interface DocumentBody {
  readonly status: string;
  readonly chunkCount: number;
  readonly errorMessage: string | null;
}

const marker = (index: number): string => `tidemark${String(index).padStart(5, '0')}z`;

function tideTables(): string {
  return Array.from(
    { length: PARAGRAPHS },
    (_, index) =>
      `Table ${index} lists ${marker(index)} with high water, low water and the range at the harbour gauge.`,
  ).join('\n\n');
}

describe('kill -9 of a docent worker', () => {
  const prefix = `docent-kill-${randomUUID().slice(0, 8)}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'docent-worker-kill-'));
  const workerDir = mkdtempSync(path.join(tmpdir(), 'docent-worker-kill-worker-'));
  const env = {
    REDIS_URL,
    DOCENT_QUEUE_PREFIX: prefix,
    DOCENT_QUEUE_LOCK_MS: String(LOCK_MS),
    DOCENT_QUEUE_BACKOFF_MS: '100',
    DOCENT_EMBEDDER: 'hash:256',
  };
  const workers: DocentProcess[] = [];
  let server: ServerProcess | undefined;

  afterAll(async () => {
    for (const worker of workers) await worker.kill();
    await server?.kill();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(workerDir, { recursive: true, force: true });
  });

  it('hands the job to another worker', async () => {
    const started = Date.now();
    const steps: string[] = [];
    const step = (label: string): void => void steps.push(`${Date.now() - started} ms: ${label}`);
    const first = startDocentWorker({ ...env, DOCENT_DATA_DIR: workerDir });
    workers.push(first);
    // --no-ingest leaves every ingest job to the worker processes.
    const owner = new ServerProcess(await freePort(), { ...env, DOCENT_DATA_DIR: dataDir });
    server = owner;

    try {
      await owner.start(60_000, ['--no-ingest']);
      step('server started');
      const form = new FormData();
      form.set('collection', COLLECTION);
      form.append('files', new Blob([tideTables()]), SOURCE);
      const uploaded = await owner.call('POST', '/documents', form);
      expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(202);
      const { documentId, jobId } = uploaded.body.documents[0] as { documentId: string; jobId: string };

      // Kill the first worker as soon as it runs the job.
      await waitFor(
        async () => ((await owner.call('GET', `/jobs/${jobId}`)).body.state === 'active' ? true : undefined),
        60_000,
        'ingest job active on the first worker',
      );
      await first.kill();
      step('first worker killed');
      const afterKill = await owner.call('GET', `/jobs/${jobId}`);
      expect(afterKill.body.state, 'the job was still running when the worker died').toBe('active');
      expect(first.output()).not.toContain('Job failed');

      const second = startDocentWorker({ ...env, DOCENT_DATA_DIR: workerDir });
      workers.push(second);
      const document = await waitFor(
        async (): Promise<DocumentBody | undefined> => {
          const body = (await owner.call('GET', `/documents/${documentId}`)).body as DocumentBody;
          return body.status === 'indexed' || body.status === 'failed' ? body : undefined;
        },
        45_000,
        'document indexed or failed after the second worker started',
      );
      step(`document ${document.status}`);
      expect(document.errorMessage).toBeNull();
      expect(document.status).toBe('indexed');
      expect(document.chunkCount).toBeGreaterThan(0);
      const job = await owner.call('GET', `/jobs/${jobId}`);
      expect(job.body.state).toBe('completed');

      // One document of that name, and no chunk twice. Chunks overlap, so a marker near a chunk
      // boundary is in two neighbouring chunks, but never twice at the same offsets.
      const listed = (await owner.call('GET', `/documents?collection=${COLLECTION}`)).body as {
        documents: Array<{ id: string }>;
      };
      expect(listed.documents.map((entry) => entry.id)).toEqual([documentId]);
      for (const index of [0, Math.floor(PARAGRAPHS / 2), PARAGRAPHS - 1]) {
        for (const mode of ['sparse', 'dense']) {
          const search = await owner.call('POST', '/search', {
            query: `Table ${index} lists ${marker(index)}`,
            collection: COLLECTION,
            mode,
            topK: 10,
          });
          expect(search.status).toBe(200);
          const hits = (
            search.body.results as Array<{ documentId: string; text: string; start: number; end: number }>
          ).filter((hit) => hit.text.includes(marker(index)));
          expect(hits.length, `${mode} hits for ${marker(index)}`).toBeGreaterThan(0);
          expect(new Set(hits.map((hit) => hit.documentId))).toEqual(new Set([documentId]));
          const spans = new Set(hits.map((hit) => `${hit.start}-${hit.end}`));
          expect(spans.size, `distinct ${mode} hits for ${marker(index)}`).toBe(hits.length);
        }
      }

      expect(await second.stop()).toBe(0);
      expect(await owner.stop()).toBe(0);
      await expectIndexesAgreeOnDisk(dataDir, 'hash:256', COLLECTION);
    } catch (error) {
      const logs = workers.map((worker, index) => `worker ${index + 1}:\n${worker.output().slice(-2000)}`);
      throw new Error(
        `${(error as Error).message}\n${steps.join('; ')}\n${logs.join('\n')}\nserver:\n${owner.output().slice(-3000)}`,
        { cause: error },
      );
    }
  }, 120_000);
});
