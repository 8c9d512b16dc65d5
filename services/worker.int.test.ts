import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startDocentServer,
  startDocentWorker,
  type DocentProcess,
  type DocentServerProcess,
} from '../test/e2e/docent-process.ts';

const REDIS_URL = 'redis://127.0.0.1:6379';
const TEXT = `# Lighthouses

The Fresnel lens lets a lighthouse beam reach sailors forty kilometres away.
Keepers trimmed the wick every four hours through the night.
`;

interface DocumentBody {
  status: string;
  chunkCount: number;
  errorMessage: string | null;
}

describe('server with a BullMQ worker process', () => {
  const prefix = `docent-int-${randomUUID().slice(0, 8)}`;
  const serverDir = mkdtempSync(path.join(tmpdir(), 'docent-server-'));
  const workerDir = mkdtempSync(path.join(tmpdir(), 'docent-worker-'));
  const env = {
    REDIS_URL,
    DOCENT_QUEUE_PREFIX: prefix,
    DOCENT_EMBEDDER: 'hash:256',
    DOCENT_QUEUE_BACKOFF_MS: '100',
  };
  let server: DocentServerProcess;
  let worker: DocentProcess;

  beforeAll(async () => {
    // --no-ingest leaves every ingest job to the worker, so an indexed document proves the hand-over.
    server = await startDocentServer({ ...env, DOCENT_DATA_DIR: serverDir }, ['--no-ingest']);
    worker = startDocentWorker({ ...env, DOCENT_DATA_DIR: workerDir });
  });

  afterAll(async () => {
    await worker?.stop();
    await server?.stop();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    rmSync(serverDir, { recursive: true, force: true });
    rmSync(workerDir, { recursive: true, force: true });
  });

  const call = (route: string, init: RequestInit = {}) =>
    fetch(`${server.url}/v1${route}`, {
      ...init,
      headers: { Authorization: `Bearer ${server.key}`, ...(init.headers ?? {}) },
    });

  it('ingests an upload through the worker', async () => {
    const form = new FormData();
    form.append('collection', 'harbour');
    form.append('files', new Blob([TEXT], { type: 'text/markdown' }), 'lighthouses.md');
    const uploaded = await call('/documents', { method: 'POST', body: form });
    expect(uploaded.status).toBe(202);
    const { documents } = (await uploaded.json()) as {
      documents: Array<{ documentId: string; jobId: string }>;
    };
    const [first] = documents;
    if (first === undefined) throw new Error('no document in the upload response');

    let document: DocumentBody | undefined;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      document = (await (await call(`/documents/${first.documentId}`)).json()) as DocumentBody;
      if (document.status === 'indexed' || document.status === 'failed') break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(document?.errorMessage ?? null).toBeNull();
    expect(document?.status).toBe('indexed');
    expect(document?.chunkCount).toBeGreaterThan(0);

    const job = (await (await call(`/jobs/${first.jobId}`)).json()) as { state: string; type: string };
    expect(job.type).toBe('ingest');
    expect(job.state).toBe('completed');
    expect(worker.output()).toContain('Worker started');

    const search = await call('/search', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ query: 'Fresnel lens', collection: 'harbour', mode: 'sparse' }),
    });
    const { results } = (await search.json()) as { results: Array<{ text: string }> };
    expect(results[0]?.text).toContain('Fresnel');
  });

  it('stops both processes cleanly on SIGTERM', async () => {
    expect(await worker.stop()).toBe(0);
    expect(await server.stop()).toBe(0);
    expect(server.output()).toContain('Server stopped');
    expect(worker.output()).toContain('Worker stopped');
  });
});
