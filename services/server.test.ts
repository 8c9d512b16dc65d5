import { readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { silentLogger } from '../core/logger.ts';
import { HashEmbedder } from '../ingest/embed/hash-embedder.ts';
import { openTestDocent } from '../test/support/test-docent.ts';
import { Ingestion } from './api/ingestion.ts';
import { KeyStore } from './auth/key-store.ts';
import { FileBlobStore } from './queue/blob-store.ts';
import { EmbeddedJobQueue } from './queue/embedded-queue.ts';
import { createBlobStore, createJobQueue } from './queue/index.ts';
import type {
  AddOptions,
  JobCounts,
  JobEventListener,
  JobInfo,
  JobPayloads,
  JobQueue,
  JobType,
  ListOptions,
} from './queue/job-queue.ts';
import { assembleServer, startServer } from './server.ts';
import { APPLY_INGEST_RESULT } from './worker.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  deploy?: { replicas?: number };
  depends_on?: Record<string, { condition: string }>;
}

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, ComposeService>;
    volumes: Record<string, unknown>;
  };
  const { redis, api, worker } = compose.services;

  it('defines redis, the api and two workers', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'redis', 'worker']);
    expect(redis?.image).toMatch(/^redis:/);
    expect(api?.command).toEqual(['serve', '--no-ingest']);
    expect(worker?.command).toEqual(['worker']);
    expect(worker?.deploy?.replicas).toBe(2);
    expect(api?.depends_on?.redis?.condition).toBe('service_healthy');
    expect(worker?.depends_on?.redis?.condition).toBe('service_healthy');
  });

  it('points every Docent service at the same Redis and queue', () => {
    for (const service of [api, worker]) {
      expect(service?.environment?.REDIS_URL).toBe('redis://redis:6379');
      expect(service?.environment?.DOCENT_QUEUE_PREFIX).toBe('docent');
      expect(service?.environment?.DOCENT_EMBEDDER).toBe(api?.environment?.DOCENT_EMBEDDER);
    }
  });

  it('gives only the api the data volume', () => {
    expect(api?.volumes).toContain('docent-data:/data');
    expect(api?.environment?.DOCENT_DATA_DIR).toBe('/data');
    expect(worker?.volumes?.some((volume) => volume.startsWith('docent-data'))).toBe(false);
    expect(Object.keys(compose.volumes)).toContain('docent-data');
  });

  it('publishes the api on loopback only', () => {
    expect(api?.ports).toEqual(['127.0.0.1:8080:8080']);
    expect(api?.environment?.DOCENT_PORT).toBe('8080');
  });

  it('uses only settings the config schema accepts', () => {
    for (const service of [api, worker]) {
      expect(() => loadConfig(service?.environment ?? {})).not.toThrow();
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');

  it('runs the docent command on Node 20', () => {
    expect(dockerfile).toMatch(/^FROM node:20/m);
    expect(dockerfile).toContain('ENTRYPOINT ["node", "bin/docent.js"]');
    expect(dockerfile).toContain('CMD ["serve"]');
    expect(dockerfile).toMatch(/^USER node$/m);
  });
});

describe('startServer', () => {
  it('resumes a queued ingest after a restart', async () => {
    // The hash embedder's spec can be loaded again inside the prepare thread, unlike test embedders.
    const engine = await openTestDocent({ embedders: [new HashEmbedder({ dimension: 64, batchSize: 32 })] });
    const config = loadConfig({
      DOCENT_DATA_DIR: engine.dataDir,
      DOCENT_EMBEDDER: 'hash:64',
      DOCENT_PORT: '0',
    });

    // The first process queues the upload but runs no worker, as if it stopped right after.
    const queue = createJobQueue(config, { db: engine.docent.store.db, logger: silentLogger });
    const blobs = createBlobStore(config, { logger: silentLogger });
    const ingestion = new Ingestion(engine.docent, queue, blobs);
    const bytes = new TextEncoder().encode('Tide tables list high and low water for each harbour.');
    const submission = await ingestion.submit({ bytes, source: 'tides.txt' }, 'default', {});
    const broken = await ingestion.submit(
      { bytes: new TextEncoder().encode('%PDF-1.7\nnot a real PDF'), source: 'broken.pdf' },
      'default',
      {},
    );
    await queue.close();
    expect(submission.document.status).toBe('queued');

    const docent = await engine.reopen();
    const keys = KeyStore.open(config.dataDir);
    const key = keys.create({ role: 'reader' }).key;
    keys.close();
    const server = await startServer({ config, logger: silentLogger, docent });
    try {
      const ready = await fetch(`${server.url}/v1/readyz`);
      expect(ready.status).toBe(200);

      let status = '';
      const deadline = Date.now() + 15_000;
      while (status !== 'indexed' && Date.now() < deadline) {
        const response = await fetch(`${server.url}/v1/documents/${submission.document.id}`, {
          headers: { Authorization: `Bearer ${key}` },
        });
        status = ((await response.json()) as { status: string }).status;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(status).toBe('indexed');

      // A parse error raised in the prepare thread keeps its code, so the job fails once.
      let job = { state: '', attemptsMade: 0, failedCode: '' };
      while (job.state !== 'failed' && Date.now() < deadline) {
        const response = await fetch(`${server.url}/v1/jobs/${broken.jobId ?? ''}`, {
          headers: { Authorization: `Bearer ${key}` },
        });
        job = (await response.json()) as typeof job;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(job.state).toBe('failed');
      expect(job.attemptsMade).toBe(1);
      expect(job.failedCode).toMatch(/PARSE|UNSUPPORTED/);
    } finally {
      await server.close();
    }

    // Closing saved the dense index and released the uploaded bytes.
    expect(readdirSync(path.join(config.dataDir, 'dense')).length).toBeGreaterThan(0);
    const blobFiles = readdirSync(path.join(config.dataDir, 'blobs'), { recursive: true }).filter((entry) =>
      /^[0-9a-f]{64}$/.test(path.basename(String(entry))),
    );
    expect(blobFiles).toEqual([]);
    rmSync(config.dataDir, { recursive: true, force: true });
  });
});

/** A queue that stores jobs but runs none, so that a test decides which events its subscriber receives. */
class EventTapQueue implements JobQueue {
  listener: JobEventListener | undefined;

  constructor(private readonly inner: JobQueue) {}

  add<T extends JobType>(type: T, payload: JobPayloads[T], options?: AddOptions): Promise<JobInfo> {
    return this.inner.add(type, payload, options);
  }

  get(id: string): Promise<JobInfo | null> {
    return this.inner.get(id);
  }

  list(options?: ListOptions): Promise<JobInfo[]> {
    return this.inner.list(options);
  }

  counts(): Promise<JobCounts> {
    return this.inner.counts();
  }

  process(): void {}

  subscribe(listener: JobEventListener): Promise<() => void> {
    this.listener = listener;
    return Promise.resolve(() => {
      this.listener = undefined;
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('assembleServer', () => {
  it('fails the document of a failed apply job', async () => {
    const engine = await openTestDocent();
    const { docent } = engine;
    const config = loadConfig({ DOCENT_DATA_DIR: engine.dataDir, DOCENT_EMBEDDER: docent.embedder.id });
    const queue = new EventTapQueue(
      new EmbeddedJobQueue({
        db: docent.store.db,
        attempts: 3,
        backoffMs: 10,
        shutdownTimeoutMs: 1000,
        logger: silentLogger,
      }),
    );
    const keys = KeyStore.open(engine.dataDir);
    const blobs = new FileBlobStore(path.join(engine.dataDir, 'blobs'));
    const { stopEvents } = await assembleServer(
      { config, logger: silentLogger, docent, queue, blobs, keys },
      { ingestConcurrency: 0 },
    );

    try {
      const bytes = new TextEncoder().encode('The keeper logged a storm from the north-east.');
      const { document } = docent.accept({ bytes, source: 'storm.txt' });
      docent.store.markProcessing(document.id);
      const job = await queue.add(
        'apply',
        { kind: APPLY_INGEST_RESULT, documentId: document.id, resultRef: `sha256:${'0'.repeat(64)}` },
        { jobId: `apply-${document.id}` },
      );
      // BullMQ fails a job that stalled too often without running its handler.
      queue.listener?.({
        kind: 'failed',
        jobId: job.id,
        reason: 'job stalled more than allowable limit',
        code: 'INTERNAL',
      });

      let failed = docent.store.requireDocument(document.id);
      const deadline = Date.now() + 5000;
      while (failed.status === 'processing' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        failed = docent.store.requireDocument(document.id);
      }
      expect(failed.status).toBe('failed');
      expect(failed.errorCode).toBe('INTERNAL');
      expect(failed.errorMessage).toMatch(/stalled more than allowable limit/);
    } finally {
      await queue.close();
      stopEvents();
      keys.close();
      await engine.dispose();
    }
  });
});
