/* eslint-disable @typescript-eslint/no-unsafe-member-access -- supertest types response bodies as any; callers check their shape. */
import request from 'supertest';
import { expect } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { silentLogger } from '../../core/logger.ts';
import { createEmbedder } from '../../ingest/embed/index.ts';
import { Docent } from '../../services/docent.ts';
import type { TestApp } from '../../services/api/test-app.ts';

export { freePort } from './server-process.ts';

import { bearer } from '../../services/api/test-app.ts';

export { bearer, parseSse, type SseEvent } from '../../services/api/test-app.ts';

/** Posts files as multipart/form-data to `/v1/documents` with the writer key. */
export function upload(
  test: TestApp,
  files: Array<[string, string | Uint8Array]>,
  fields: Record<string, string> = {},
  key = test.keys.writer,
): request.Test {
  let call = request(test.app).post('/v1/documents').set(bearer(key));
  for (const [name, value] of Object.entries(fields)) call = call.field(name, value);
  for (const [filename, content] of files) {
    call = call.attach('files', typeof content === 'string' ? Buffer.from(content) : Buffer.from(content), {
      filename,
    });
  }
  return call;
}

/** Uploads files and waits until every accepted file's job has finished. */
export async function uploadAndWait(
  test: TestApp,
  files: Array<[string, string | Uint8Array]>,
  fields: Record<string, string> = {},
): Promise<Array<{ documentId: string; jobId: string | null; duplicate: boolean }>> {
  const response = await upload(test, files, fields);
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  const documents = response.body.documents as Array<{
    documentId: string;
    jobId: string | null;
    duplicate: boolean;
  }>;
  for (const document of documents) if (document.jobId !== null) await test.waitForJob(document.jobId);
  return documents;
}

/** Reads a streamed answer as text, for `parseSse`. */
export function streamedBody(call: request.Test): request.Test {
  return call.buffer(true).parse((response, callback) => {
    let text = '';
    response.on('data', (chunk: Buffer) => (text += chunk.toString()));
    response.on('end', () => callback(null, text));
  });
}

/** Row counts of SQLite chunks, FTS5 rows, stored embeddings and HNSW entries of a collection. */
export function indexCounts(
  docent: Docent,
  collection = 'default',
): { chunks: number; fts: number; embeddings: number; dense: number } {
  const record = docent.store.requireCollection(collection);
  const count = (sql: string): number =>
    (docent.store.db.prepare(sql).get(record.id) as { count: number }).count;
  return {
    chunks: docent.store.countChunks(record.id),
    fts: count(
      `SELECT count(*) AS count FROM chunks_fts f JOIN chunks c ON c.id = f.rowid
       JOIN documents d ON d.id = c.document_id WHERE d.collection_id = ?`,
    ),
    embeddings: count(
      `SELECT count(*) AS count FROM embeddings e JOIN chunks c ON c.id = e.chunk_id
       JOIN documents d ON d.id = c.document_id WHERE d.collection_id = ?`,
    ),
    dense: docent.denseIndex(record).size,
  };
}

/** Asserts that SQLite, FTS5 and HNSW hold the same chunks of a collection. */
export function expectIndexesAgree(docent: Docent, collection = 'default'): void {
  const counts = indexCounts(docent, collection);
  expect(counts.fts, `FTS5 rows of ${collection}`).toBe(counts.chunks);
  expect(counts.embeddings, `stored embeddings of ${collection}`).toBe(counts.chunks);
  expect(counts.dense, `HNSW entries of ${collection}`).toBe(counts.chunks);
}

/**
 * Opens a stopped server's data folder in this process, as a restart would, and asserts that
 * SQLite, FTS5 and HNSW hold the same chunks of a collection.
 */
export async function expectIndexesAgreeOnDisk(
  dataDir: string,
  embedder: string,
  collection: string,
): Promise<void> {
  const config = loadConfig({ DOCENT_DATA_DIR: dataDir, DOCENT_EMBEDDER: embedder });
  const docent = await Docent.open({
    config,
    logger: silentLogger,
    createEmbedder: (spec) => createEmbedder(spec, { modelsDir: config.modelsDir, batchSize: 32 }),
  });
  try {
    expectIndexesAgree(docent, collection);
  } finally {
    await docent.close();
  }
}

/** Polls `check` every 25 ms until it returns a value, or fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
