import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { throttledErrorLog } from './redis-connection.ts';

function collectingLogger(): {
  lines: Array<{ msg: string; err: { message: string }; suppressed: number }>;
  logger: pino.Logger;
} {
  const lines: Array<{ msg: string; err: { message: string }; suppressed: number }> = [];
  const logger = pino(
    { level: 'error' },
    { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) },
  );
  return { lines, logger };
}

describe('throttledErrorLog', () => {
  it('logs a repeated error once', () => {
    const { lines, logger } = collectingLogger();
    const log = throttledErrorLog(logger, 'Redis connection failed');

    for (let attempt = 0; attempt < 5; attempt += 1) log(new Error('connect ECONNREFUSED 127.0.0.1:6379'));

    expect(lines).toHaveLength(1);
    expect(lines[0]?.msg).toBe('Redis connection failed');
  });

  it('still logs other errors between repeats', () => {
    const { lines, logger } = collectingLogger();
    const log = throttledErrorLog(logger, 'BullMQ worker failed');

    log(new Error('connect ECONNREFUSED 127.0.0.1:6379'));
    log(new Error('Missing lock for job 7. moveToFinished'));
    log(new Error('connect ECONNREFUSED 127.0.0.1:6379'));

    expect(lines.map((line) => line.err.message)).toEqual([
      'connect ECONNREFUSED 127.0.0.1:6379',
      'Missing lock for job 7. moveToFinished',
    ]);
  });
});
