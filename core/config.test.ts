import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('defaults the queue lock to 30 s', () => {
    expect(loadConfig({}).queue.lockMs).toBe(30_000);
  });

  it('reads DOCENT_QUEUE_LOCK_MS', () => {
    expect(loadConfig({ DOCENT_QUEUE_LOCK_MS: '2000' }).queue.lockMs).toBe(2000);
  });

  it.each([
    ['500', /DOCENT_QUEUE_LOCK_MS \("500"\): must be at least 1000 ms.*set 1000 or more/],
    ['7200000', /DOCENT_QUEUE_LOCK_MS \("7200000"\): must be at most 3600000 ms.*set 3600000 or less/],
    ['2.5', /DOCENT_QUEUE_LOCK_MS \("2.5"\): must be a whole number of milliseconds/],
    ['soon', /DOCENT_QUEUE_LOCK_MS \("soon"\): must be a whole number of milliseconds/],
  ])('rejects a queue lock of %s', (value, message) => {
    expect(() => loadConfig({ DOCENT_QUEUE_LOCK_MS: value })).toThrow(message);
  });
});
