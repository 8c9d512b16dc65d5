/** Keys not seen for this long are dropped, so that the map does not grow without bound. */
const IDLE_EVICTION_MS = 10 * 60_000;

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * A token bucket per key: each key may burst up to `perMinute` requests and regains one
 * request every 60 / perMinute seconds. `perMinute` 0 allows everything.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string): { allowed: boolean; remaining: number; retryAfterSeconds: number } {
    if (this.perMinute === 0) return { allowed: true, remaining: 0, retryAfterSeconds: 0 };
    const now = this.now();
    this.sweep(now);

    const perMs = this.perMinute / 60_000;
    const bucket = this.buckets.get(key) ?? { tokens: this.perMinute, updatedAt: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.updatedAt) * perMs);
    bucket.updatedAt = now;
    this.buckets.set(key, bucket);

    if (bucket.tokens < 1) {
      return {
        allowed: false,
        remaining: 0,
        retryAfterSeconds: Math.ceil((1 - bucket.tokens) / perMs / 1000),
      };
    }
    bucket.tokens -= 1;
    return { allowed: true, remaining: Math.floor(bucket.tokens), retryAfterSeconds: 0 };
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < IDLE_EVICTION_MS) return;
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) {
      if (now - bucket.updatedAt > IDLE_EVICTION_MS) this.buckets.delete(key);
    }
  }
}
