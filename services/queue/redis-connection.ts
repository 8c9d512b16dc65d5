import { Redis } from 'ioredis';
import { DocentError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { settlesWithin } from './job-queue.ts';

/** Maximum pause between reconnection attempts, so that work resumes soon after Redis returns. */
const MAX_RECONNECT_DELAY_MS = 2000;
/** Connection errors are logged at most this often per connection, since ioredis repeats them on every retry. */
const ERROR_LOG_INTERVAL_MS = 30_000;
/** Distinct error messages throttled at once per listener. */
const MAX_THROTTLED_MESSAGES = 100;

export function reconnectingOptions(): { retryStrategy: (times: number) => number } {
  return { retryStrategy: (times) => Math.min(times * 200, MAX_RECONNECT_DELAY_MS) };
}

/**
 * Opens a connection for request-time commands (adding jobs, storing blobs). It has no offline
 * queue, so a command sent while Redis is away fails at once instead of waiting for a
 * reconnect and then running after the caller gave up.
 */
export function openCommandConnection(url: string, logger: Logger): Redis {
  const client = new Redis(url, {
    ...reconnectingOptions(),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
  });
  client.on('error', throttledErrorLog(logger, `Redis connection to ${describeRedisUrl(url)} failed`));
  return client;
}

const nextReady = new WeakMap<Redis, Promise<void>>();

/**
 * Resolves once `client` is ready, waiting at most `timeoutMs`; raises QUEUE_UNAVAILABLE after.
 * All callers waiting on one client share one listener, so an outage does not pile them up.
 */
export async function whenReady(client: Redis, timeoutMs: number, url: string): Promise<void> {
  if (client.status === 'ready') return;

  let ready = nextReady.get(client);
  if (ready === undefined) {
    ready = new Promise<void>((resolve) =>
      client.once('ready', () => {
        nextReady.delete(client);
        resolve();
      }),
    );
    nextReady.set(client, ready);
  }
  if (await settlesWithin(ready, timeoutMs)) return;
  throw new DocentError(
    'QUEUE_UNAVAILABLE',
    `Redis at ${describeRedisUrl(url)} is not reachable (connection ${client.status} for ${timeoutMs} ms); retry once it is back.`,
  );
}

/**
 * Returns an error listener that logs each distinct error message at most once per
 * ERROR_LOG_INTERVAL_MS. Throttling by message keeps a rare error, such as a job's lost lock,
 * visible while the same connection error repeats on every reconnection attempt.
 */
export function throttledErrorLog(logger: Logger, message: string): (error: Error) => void {
  const seen = new Map<string, { lastLoggedAt: number; suppressed: number }>();
  return (error) => {
    const now = Date.now();
    const entry = seen.get(error.message);
    if (entry !== undefined && now - entry.lastLoggedAt < ERROR_LOG_INTERVAL_MS) {
      entry.suppressed++;
      return;
    }
    logger.error({ err: error, suppressed: entry?.suppressed ?? 0 }, message);

    // Forget quiet messages, so that errors naming ever new job ids cannot grow the map.
    if (seen.size >= MAX_THROTTLED_MESSAGES) {
      for (const [key, value] of seen) {
        if (now - value.lastLoggedAt >= ERROR_LOG_INTERVAL_MS) seen.delete(key);
      }
    }
    if (seen.size < MAX_THROTTLED_MESSAGES) seen.set(error.message, { lastLoggedAt: now, suppressed: 0 });
  };
}

/** Returns the URL without credentials, for messages and logs. */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return 'the configured REDIS_URL';
  }
}
