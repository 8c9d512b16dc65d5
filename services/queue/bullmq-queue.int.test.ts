import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { DocentError } from '../../core/errors.ts';
import { silentLogger } from '../../core/logger.ts';
import { BullmqJobQueue, RESULT_BLOB_KEY } from './bullmq-queue.ts';
import { ingestPayload, registerJobQueueConformance, sleep, waitForState } from './conformance.ts';
import type { TestQueueSettings } from './conformance.ts';

const REDIS_URL = 'redis://127.0.0.1:6379';

async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

const redisUp = await redisAnswers(REDIS_URL);
const redisServerInstalled = spawnSync('redis-server', ['--version']).status === 0;
const runPrefix = `docent-test-${randomUUID().slice(0, 8)}`;

function openQueue(
  redisUrl: string,
  prefix: string,
  settings: TestQueueSettings,
  addTimeoutMs?: number,
): BullmqJobQueue {
  return new BullmqJobQueue({
    redisUrl,
    prefix,
    logger: silentLogger,
    blobTtlSeconds: 600,
    blobMaxBytes: 64 * 1024 * 1024,
    ...(addTimeoutMs === undefined ? {} : { addTimeoutMs }),
    ...settings,
  });
}

async function deleteKeys(pattern: string): Promise<void> {
  const client = new Redis(REDIS_URL);
  try {
    const keys = await client.keys(pattern);
    if (keys.length > 0) await client.del(...keys);
  } finally {
    client.disconnect();
  }
}

/** Resolves once `queue.add` succeeds again, for tests that restart Redis. */
async function addWhenBack(queue: BullmqJobQueue, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return (await queue.add('ingest', ingestPayload('after-outage'))).id;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('No TCP port was assigned.');
  return address.port;
}

async function startRedisServer(port: number): Promise<ChildProcess> {
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const deadline = Date.now() + 5000;
  while (!(await redisAnswers(`redis://127.0.0.1:${port}`))) {
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start within 5 s`);
    await sleep(50);
  }
  return server;
}

async function stopRedisServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null) return;
  server.kill('SIGKILL');
  await once(server, 'exit');
}

describe.skipIf(!redisUp)('BullmqJobQueue conformance (Redis on 127.0.0.1:6379)', () => {
  afterAll(() => deleteKeys(`${runPrefix}*`));

  registerJobQueueConformance(() => {
    const prefix = `${runPrefix}-${randomUUID().slice(0, 8)}`;
    return Promise.resolve({
      open: (settings) => Promise.resolve(openQueue(REDIS_URL, prefix, settings)),
      destroy: () => deleteKeys(`${prefix}:*`),
    });
  });
});

describe.skipIf(!redisUp)('BullmqJobQueue on Redis (127.0.0.1:6379)', () => {
  const settings: TestQueueSettings = { attempts: 3, backoffMs: 20, shutdownTimeoutMs: 2000 };

  it('keeps large results in the blob store', async () => {
    const prefix = `${runPrefix}-${randomUUID().slice(0, 8)}`;
    const queue = openQueue(REDIS_URL, prefix, settings);
    try {
      const text = 'x'.repeat(200_000);
      queue.process(['ingest'], () => Promise.resolve({ text }), { concurrency: 1 });
      const { id } = await queue.add('ingest', ingestPayload('doc-1'));
      await waitForState(queue, id, 'completed');

      const [listed] = await queue.list({ state: 'completed' });
      expect(listed?.result).toEqual({ [RESULT_BLOB_KEY]: expect.stringMatching(/^sha256:/) as unknown });
      expect((await queue.get(id))?.result).toEqual({ text });

      // An expired result leaves the job readable, with the stub in place of the result.
      await deleteKeys(`${prefix}:blob:*`);
      expect((await queue.get(id))?.result).toEqual(listed?.result);
    } finally {
      await queue.close();
      await deleteKeys(`${prefix}:*`);
    }
  });
});

describe('BullmqJobQueue without Redis', () => {
  const settings: TestQueueSettings = { attempts: 3, backoffMs: 20, shutdownTimeoutMs: 500 };

  it('rejects add with QUEUE_UNAVAILABLE quickly', async () => {
    const port = await freePort();
    const queue = openQueue(`redis://127.0.0.1:${port}`, runPrefix, settings, 1000);
    try {
      const startedAt = Date.now();
      const error = await queue.add('ingest', ingestPayload('doc-1')).catch((caught: unknown) => caught);
      const elapsedMs = Date.now() - startedAt;

      expect(error).toBeInstanceOf(DocentError);
      expect((error as DocentError).code).toBe('QUEUE_UNAVAILABLE');
      expect((error as DocentError).message).toContain(`127.0.0.1:${port}`);
      // The API answers 503 from this error, so it must come within seconds, not hang.
      expect(elapsedMs).toBeLessThan(5000);
      await expect(queue.counts()).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
    } finally {
      await queue.close();
    }
  });

  it.skipIf(!redisServerInstalled)('resumes jobs when Redis comes back', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    let server = await startRedisServer(port);
    const queue = openQueue(url, runPrefix, settings, 1000);
    try {
      queue.process(['ingest'], () => Promise.resolve('processed'), { concurrency: 1 });
      const before = await addWhenBack(queue, 5000);
      await waitForState(queue, before, 'completed');

      await stopRedisServer(server);
      await sleep(100);
      await expect(queue.add('ingest', ingestPayload('during-outage'))).rejects.toMatchObject({
        code: 'QUEUE_UNAVAILABLE',
      });

      server = await startRedisServer(port);
      const after = await addWhenBack(queue, 10_000);
      const done = await waitForState(queue, after, 'completed', 15_000);
      expect(done.result).toBe('processed');
    } finally {
      await queue.close();
      await stopRedisServer(server);
    }
  });
});

if (!redisUp) {
  describe('BullmqJobQueue conformance (skipped: no Redis on 127.0.0.1:6379)', () => {
    it.skip('needs redis-server --port 6379', () => {});
  });
}
