import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyStore, roleAtLeast } from './key-store.ts';
import { RateLimiter } from './rate-limiter.ts';

describe('KeyStore', () => {
  const directories: string[] = [];
  const open = (): KeyStore => {
    const directory = mkdtempSync(path.join(tmpdir(), 'docent-keys-'));
    directories.push(directory);
    return KeyStore.open(directory);
  };

  afterEach(() => {
    for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
  });

  it('verifies a created key', () => {
    const store = open();
    const { key, record } = store.create({ role: 'writer', collections: ['a', 'b'], label: 'ci' });
    expect(key).toMatch(/^dk_[A-Za-z0-9_-]{43}$/);
    expect(store.verify(key)).toMatchObject({
      id: record.id,
      role: 'writer',
      collections: ['a', 'b'],
      label: 'ci',
    });
    expect(store.verify(`${key}x`)).toBeUndefined();
    expect(store.verify('not-a-key')).toBeUndefined();
    store.close();
  });

  it('stores only the hash', () => {
    const store = open();
    const { key } = store.create({ role: 'admin' });
    store.close();
    const directory = directories[0] ?? '';
    const bytes = ['auth.db', 'auth.db-wal']
      .map((file) => {
        try {
          return readFileSync(path.join(directory, file)).toString('latin1');
        } catch {
          return '';
        }
      })
      .join('');
    expect(bytes).not.toContain(key);
  });

  it('revokes a key and rejects unknown ids', () => {
    const store = open();
    const { key, record } = store.create({ role: 'reader' });
    store.revoke(record.id);
    expect(store.verify(key)).toBeUndefined();
    expect(() => store.revoke(record.id)).toThrow(/not found/);
    expect(store.count()).toBe(0);
    store.close();
  });

  it('orders roles reader < writer < admin', () => {
    expect(roleAtLeast('admin', 'writer')).toBe(true);
    expect(roleAtLeast('writer', 'writer')).toBe(true);
    expect(roleAtLeast('reader', 'writer')).toBe(false);
    expect(roleAtLeast('writer', 'admin')).toBe(false);
  });
});

describe('RateLimiter', () => {
  it('allows a burst, then refills over time', () => {
    let now = 0;
    const limiter = new RateLimiter(60, () => now);
    for (let index = 0; index < 60; index++) expect(limiter.take('k').allowed).toBe(true);
    const rejected = limiter.take('k');
    expect(rejected.allowed).toBe(false);
    expect(rejected.retryAfterSeconds).toBe(1);
    now += 1000;
    expect(limiter.take('k').allowed).toBe(true);
    expect(limiter.take('k').allowed).toBe(false);
  });

  it('keeps one budget per key', () => {
    const limiter = new RateLimiter(1, () => 0);
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(false);
    expect(limiter.take('b').allowed).toBe(true);
  });

  it('allows everything when the limit is 0', () => {
    const limiter = new RateLimiter(0);
    for (let index = 0; index < 1000; index++) expect(limiter.take('k').allowed).toBe(true);
  });
});
