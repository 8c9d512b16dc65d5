import type { KvCache } from './kv-cache.ts';

export interface PrefixMatch {
  /** Cache covering exactly the first `length` tokens of the looked-up sequence. */
  readonly cache: KvCache;
  readonly length: number;
}

interface Entry {
  readonly tokens: readonly number[];
  readonly cache: KvCache;
}

/**
 * Cross-request store of KV caches keyed by the token sequence they cover, so a prompt that starts
 * like an earlier one (the system prompt, earlier turns of a conversation) skips that part of the
 * prefill. Bounded by the bytes of the stored tensors and evicts the least recently used entry.
 * Lookup scans all entries, which is cheap for the few dozen entries a bound of a few hundred MiB holds.
 */
export class PrefixCache {
  private readonly maxBytes: number;
  /** Insertion order is recency order: the last entry is the most recently used. */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  get byteLength(): number {
    return this.bytes;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Finds the stored cache sharing the longest prefix with `tokens` and cuts it to at most
   * `maxLength` tokens. Returns undefined when no entry shares a token.
   */
  lookup(tokens: readonly number[], maxLength: number): PrefixMatch | undefined {
    let best: { key: string; entry: Entry; length: number } | undefined;
    for (const [key, entry] of this.entries) {
      const length = Math.min(commonPrefixLength(entry.tokens, tokens), maxLength, entry.cache.length);
      if (length > 0 && (best === undefined || length > best.length)) best = { key, entry, length };
    }
    if (best === undefined) return undefined;

    this.entries.delete(best.key);
    this.entries.set(best.key, best.entry);
    return { cache: best.entry.cache.truncate(best.length), length: best.length };
  }

  /**
   * Stores the cache of `tokens` (cache.length of them). Drops entries that are prefixes of the new
   * one, since the new entry serves every lookup they would, then evicts until within the bound.
   */
  store(tokens: readonly number[], cache: KvCache): void {
    const covered = tokens.slice(0, cache.length);
    if (this.maxBytes <= 0 || covered.length === 0) return;
    // A cache longer than its tokens (drafts kept past an end-of-sequence token) is cut to them.
    const kept = cache.length > covered.length ? cache.truncate(covered.length) : cache;
    if (kept.byteLength > this.maxBytes) return;
    for (const [key, entry] of this.entries) {
      if (
        entry.tokens.length <= covered.length &&
        commonPrefixLength(entry.tokens, covered) === entry.tokens.length
      ) {
        this.remove(key);
      }
    }
    const key = covered.join(',');
    this.remove(key);
    this.entries.set(key, { tokens: covered, cache: kept });
    this.bytes += kept.byteLength;

    for (const [oldest] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.remove(oldest);
    }
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.bytes -= entry.cache.byteLength;
  }
}

export function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const limit = Math.min(a.length, b.length);
  let i = 0;
  while (i < limit && a[i] === b[i]) i++;
  return i;
}
