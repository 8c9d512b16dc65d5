/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment -- API bodies are untyped JSON; the assertions check their shape. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ServerProcess } from './server-process.ts';
import { freePort, waitFor } from './support.ts';

// Redis going away and coming back (kind 11). The test starts its own redis-server on a free
// 127.0.0.1 port, with an append-only file so that queued jobs survive its restart, and never
// touches a Redis that it did not start.

interface DocumentBody {
  readonly id: string;
  readonly source: string;
  readonly status: string;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
}

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;
const folders: string[] = [];

afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

async function startRedis(port: number, directory: string): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      directory,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
    ],
    { stdio: 'ignore' },
  );
  await waitFor(
    () =>
      spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'ping'])
        .stdout?.toString()
        .includes('PONG')
        ? true
        : undefined,
    10_000,
    `redis-server on port ${port} answering`,
  );
  return child;
}

async function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

function form(files: Array<[string, string]>): FormData {
  const body = new FormData();
  body.set('collection', 'outage');
  for (const [name, text] of files) body.append('files', new Blob([text]), name);
  return body;
}

const note = (index: number): [string, string] => [
  `note-${index}.txt`,
  `Note ${index} records that the lighthouse keeper ${index === 0 ? 'polished the lens' : `logged storm number ${index}`}.`,
];

describe.skipIf(!hasRedis)('Redis outage (needs redis-server on PATH)', () => {
  it('keeps search up, answers 503 for jobs and resumes them', async () => {
    const redisDir = mkdtempSync(path.join(tmpdir(), 'docent-redis-'));
    const dataDir = mkdtempSync(path.join(tmpdir(), 'docent-outage-'));
    folders.push(redisDir, dataDir);
    const redisPort = await freePort();
    let redis = await startRedis(redisPort, redisDir);
    const server = new ServerProcess(await freePort(), {
      DOCENT_DATA_DIR: dataDir,
      DOCENT_EMBEDDER: 'hash:128',
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      DOCENT_QUEUE_PREFIX: `outage${process.pid}`,
      DOCENT_QUEUE_BACKOFF_MS: '200',
      // A short lock lets a job orphaned by the outage run again within seconds instead of minutes.
      DOCENT_QUEUE_LOCK_MS: '4000',
    });

    try {
      await server.start();
      const first = await server.call('POST', '/documents', form([note(0)]));
      expect(first.status).toBe(202);
      await waitFor(
        async () =>
          (await server.call('GET', `/documents/${first.body.documents[0].documentId}`)).body.status ===
          'indexed'
            ? true
            : undefined,
        30_000,
        'first note indexed',
      );

      // Jobs queued just before Redis goes away must run once it is back.
      const queued = await server.call('POST', '/documents', form([1, 2, 3, 4].map(note)));
      expect(queued.status).toBe(202);
      await killProcess(redis);

      for (let attempt = 0; attempt < 5; attempt += 1) {
        const search = await server.call('POST', '/search', {
          query: 'lighthouse lens',
          collection: 'outage',
        });
        expect(search.status).toBe(200);
        expect(search.body.results[0].source).toBe('note-0.txt');
      }
      const ask = await server.call('POST', '/ask', {
        question: 'What did the keeper polish?',
        collection: 'outage',
      });
      expect(ask.status).toBe(200);

      const started = Date.now();
      const rejected = await server.call('POST', '/documents', form([note(5)]));
      const rejectMs = Date.now() - started;
      expect(rejected.status, JSON.stringify(rejected.body)).toBe(503);
      expect(rejected.body.error.code).toBe('QUEUE_UNAVAILABLE');
      const reindex = await server.call('POST', '/admin/reindex', { collection: 'outage' });
      expect(reindex.status).toBe(503);
      const health = await server.call('GET', '/healthz');
      expect(health.status).toBe(200);

      redis = await startRedis(redisPort, redisDir);
      const accepted = await waitFor(
        async () => {
          const response = await server.call('POST', '/documents', form([note(5)]));
          return response.status === 202 ? response : undefined;
        },
        30_000,
        'uploads accepted again after Redis is back',
      );
      // Every accepted upload ends indexed or failed with a reason. A job that BullMQ moved to
      // active just as Redis went away never reached its worker. It runs again once its lock
      // (DOCENT_QUEUE_LOCK_MS) has expired and a stalled-job check has found it, which takes up
      // to about three lock periods after Redis is back.
      const ids = [...queued.body.documents, ...accepted.body.documents].map(
        (document: { documentId: string }) => document.documentId,
      );
      const outcomes = await waitFor(
        async () => {
          const documents = await Promise.all(
            ids.map(async (id) => (await server.call('GET', `/documents/${id}`)).body as DocumentBody),
          );
          return documents.every((document) => document.status === 'indexed' || document.status === 'failed')
            ? documents
            : undefined;
        },
        90_000,
        'every accepted upload indexed or failed after Redis is back',
      );
      for (const document of outcomes) {
        if (document.status === 'failed') {
          expect(document.errorCode, JSON.stringify(document)).toMatch(/^[A-Z_]+$/);
          expect(document.errorMessage, JSON.stringify(document)).toMatch(/\S/);
        }
      }
      const afterOutcome = outcomes.at(-1);
      expect(afterOutcome?.status, JSON.stringify(afterOutcome)).toBe('indexed');
      const storms = await server.call('POST', '/search', {
        query: 'keeper logged storm number',
        collection: 'outage',
        mode: 'sparse',
        topK: 10,
      });
      const found = (storms.body.results as Array<{ source: string }>).map((result) => result.source);
      for (const document of outcomes) {
        if (document.status === 'indexed') expect(found).toContain(document.source);
      }

      // The rejection came from the add timeout (seconds), not from a hung request.
      expect(rejectMs).toBeLessThan(30_000);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${server.output().slice(-4000)}`, { cause: error });
    } finally {
      await server.stop(10_000);
      await killProcess(redis);
    }
  }, 300_000);
});
