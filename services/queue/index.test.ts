import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { silentLogger } from '../../core/logger.ts';
import { FileBlobStore, RedisBlobStore } from './blob-store.ts';
import { BullmqJobQueue } from './bullmq-queue.ts';
import { EmbeddedJobQueue } from './embedded-queue.ts';
import { createBlobStore, createJobQueue } from './index.ts';

describe('queue factories', () => {
  let directory: string;

  beforeEach(async () => {
    directory = await mkdtemp(path.join(tmpdir(), 'docent-queue-factory-'));
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('choose the embedded queue and file blobs without REDIS_URL', async () => {
    const config = loadConfig({ DOCENT_DATA_DIR: directory, DOCENT_QUEUE_ATTEMPTS: '5' });
    const db = new BetterSqlite3(path.join(directory, 'docent.db'));
    try {
      const queue = createJobQueue(config, { db, logger: silentLogger });
      const blobs = createBlobStore(config, { logger: silentLogger });

      expect(queue).toBeInstanceOf(EmbeddedJobQueue);
      expect(blobs).toBeInstanceOf(FileBlobStore);
      expect((await queue.add('delete', { documentId: 'doc-1' })).maxAttempts).toBe(5);
      const ref = await blobs.put(new Uint8Array([1, 2, 3]));
      expect(await blobs.get(ref)).toEqual(new Uint8Array([1, 2, 3]));
      await queue.close();
    } finally {
      db.close();
    }
  });

  it('require the database in embedded mode', () => {
    const config = loadConfig({ DOCENT_DATA_DIR: directory });

    expect(() => createJobQueue(config, { logger: silentLogger })).toThrow(/needs the database handle/);
  });

  it('choose BullMQ and Redis blobs with REDIS_URL', async () => {
    // Nothing needs to listen here: construction does not wait for the connection.
    const config = loadConfig({ DOCENT_DATA_DIR: directory, REDIS_URL: 'redis://127.0.0.1:1' });

    const queue = createJobQueue(config, { logger: silentLogger });
    const blobs = createBlobStore(config, { logger: silentLogger });

    expect(queue).toBeInstanceOf(BullmqJobQueue);
    expect(blobs).toBeInstanceOf(RedisBlobStore);
    await queue.close({ timeoutMs: 0 });
    await blobs.close();
  });
});
