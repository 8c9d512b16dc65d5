import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/logger.ts';
import { ingestPayload, registerJobQueueConformance, sleep, waitForState } from './conformance.ts';
import type { TestQueueSettings } from './conformance.ts';
import { EmbeddedJobQueue } from './embedded-queue.ts';
import type { JobQueue } from './job-queue.ts';

function openDatabase(file: string): Database {
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  return db;
}

function openQueue(db: Database, settings: TestQueueSettings): EmbeddedJobQueue {
  return new EmbeddedJobQueue({ db, logger: silentLogger, pollIntervalMs: 50, ...settings });
}

describe('EmbeddedJobQueue conformance', () => {
  registerJobQueueConformance(async () => {
    const directory = await mkdtemp(path.join(tmpdir(), 'docent-queue-'));
    const file = path.join(directory, 'docent.db');
    const databases: Database[] = [];
    return {
      open: (settings) => {
        const db = openDatabase(file);
        databases.push(db);
        return Promise.resolve(openQueue(db, settings));
      },
      destroy: async () => {
        for (const db of databases) db.close();
        await rm(directory, { recursive: true, force: true });
      },
    };
  });
});

describe('EmbeddedJobQueue after a crash', () => {
  const settings: TestQueueSettings = { attempts: 2, backoffMs: 10, shutdownTimeoutMs: 1000 };
  let directory: string;
  let databases: Database[];
  let queues: JobQueue[];

  const open = (): EmbeddedJobQueue => {
    const db = openDatabase(path.join(directory, 'docent.db'));
    databases.push(db);
    const queue = openQueue(db, settings);
    queues.push(queue);
    return queue;
  };

  beforeEach(async () => {
    directory = await mkdtemp(path.join(tmpdir(), 'docent-queue-crash-'));
    databases = [];
    queues = [];
  });

  afterEach(async () => {
    await Promise.all(queues.map((queue) => queue.close({ timeoutMs: 50 })));
    for (const db of databases) db.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('requeues an interrupted job with the attempt counted', async () => {
    // The first queue is never closed and its handler never returns, as if the process died.
    const crashed = open();
    crashed.process(['ingest'], () => new Promise(() => undefined), { concurrency: 1 });
    const { id } = await crashed.add('ingest', ingestPayload('doc-1'));
    await waitForState(crashed, id, 'active');

    const restarted = open();
    const attempts: number[] = [];
    restarted.process(
      ['ingest'],
      (job) => {
        attempts.push(job.attempt);
        return Promise.resolve('recovered');
      },
      { concurrency: 1 },
    );
    const done = await waitForState(restarted, id, 'completed');

    expect(attempts).toEqual([2]);
    expect(done.attemptsMade).toBe(2);
    expect(done.result).toBe('recovered');
  });

  it('fails a job interrupted on its last attempt', async () => {
    for (let crash = 1; crash <= 2; crash++) {
      const crashed = open();
      crashed.process(['ingest'], () => new Promise(() => undefined), { concurrency: 1 });
      if (crash === 1) await crashed.add('ingest', ingestPayload('doc-1'), { jobId: 'poison' });
      await waitForState(crashed, 'poison', 'active');
    }

    const restarted = open();
    restarted.process(['ingest'], () => Promise.resolve(null), { concurrency: 1 });
    const failed = await waitForState(restarted, 'poison', 'failed');

    expect(failed.attemptsMade).toBe(2);
    expect(failed.failedReason).toMatch(/process stopped/);
  });

  it('ignores a result that arrives after a restart', async () => {
    let finishLate = (): void => undefined;
    const crashed = open();
    crashed.process(
      ['ingest'],
      () =>
        new Promise((resolve) => {
          finishLate = () => resolve('stale');
        }),
      { concurrency: 1 },
    );
    const { id } = await crashed.add('ingest', ingestPayload('doc-1'));
    await waitForState(crashed, id, 'active');

    const restarted = open();
    restarted.process(['ingest'], () => new Promise((resolve) => setTimeout(() => resolve('fresh'), 100)), {
      concurrency: 1,
    });
    await waitForState(restarted, id, 'active');
    finishLate();
    await sleep(20);
    const done = await waitForState(restarted, id, 'completed');

    expect(done.result).toBe('fresh');
  });

  it('keeps its table when the database reopens', async () => {
    const first = open();
    await first.add('delete', { documentId: 'doc-1' }, { jobId: 'delete-doc-1' });

    const second = open();

    expect(await second.get('delete-doc-1')).toMatchObject({ type: 'delete', state: 'waiting' });
  });
});
