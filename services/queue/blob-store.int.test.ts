import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/logger.ts';
import { RedisBlobStore } from './blob-store.ts';
import { registerBlobStoreConformance } from './conformance.ts';
import { openCommandConnection } from './redis-connection.ts';

const REDIS_URL = 'redis://127.0.0.1:6379';

async function redisAnswers(): Promise<boolean> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
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

const redisUp = await redisAnswers();

function openStore(prefix: string, maxBytes = 1024 * 1024): RedisBlobStore {
  return new RedisBlobStore({
    client: openCommandConnection(REDIS_URL, silentLogger),
    ownsClient: true,
    url: REDIS_URL,
    prefix,
    ttlSeconds: 120,
    maxBytes,
  });
}

async function deleteKeys(pattern: string): Promise<void> {
  const client = new Redis(REDIS_URL);
  const keys = await client.keys(pattern);
  if (keys.length > 0) await client.del(...keys);
  client.disconnect();
}

describe.skipIf(!redisUp)('RedisBlobStore (Redis on 127.0.0.1:6379)', () => {
  registerBlobStoreConformance(() => {
    const prefix = `docent-test-${randomUUID().slice(0, 8)}`;
    return Promise.resolve({ store: openStore(prefix), destroy: () => deleteKeys(`${prefix}:*`) });
  });

  it('sets the TTL on every blob', async () => {
    const prefix = `docent-test-${randomUUID().slice(0, 8)}`;
    const store = openStore(prefix);
    const client = new Redis(REDIS_URL);
    try {
      const ref = await store.put(new TextEncoder().encode('expiring'));

      const ttl = await client.ttl(`${prefix}:blob:${ref.slice('sha256:'.length)}`);

      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(120);
    } finally {
      client.disconnect();
      await store.close();
      await deleteKeys(`${prefix}:*`);
    }
  });

  it('rejects blobs above the size limit', async () => {
    const store = openStore(`docent-test-${randomUUID().slice(0, 8)}`, 10);
    try {
      await expect(store.put(new Uint8Array(11))).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    } finally {
      await store.close();
    }
  });
});

if (!redisUp) {
  describe('RedisBlobStore (skipped: no Redis on 127.0.0.1:6379)', () => {
    it.skip('needs redis-server --port 6379', () => {});
  });
}
