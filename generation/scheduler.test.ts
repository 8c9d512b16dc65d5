import { describe, expect, it } from 'vitest';
import { Scheduler } from './scheduler.ts';

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('Scheduler', () => {
  it('grants the model in arrival order', async () => {
    const scheduler = new Scheduler({ maxQueue: 10, timeoutMs: 10_000 });
    const order: number[] = [];
    const first = await scheduler.acquire();
    const waiting = [1, 2, 3].map(async (id) => {
      const lease = await scheduler.acquire();
      order.push(id);
      await tick();
      lease.release();
    });
    expect(scheduler.queued).toBe(3);
    first.release();
    await Promise.all(waiting);
    expect(order).toEqual([1, 2, 3]);
    expect(scheduler.active).toBe(0);
  });

  it('rejects with BUSY when the queue is full', async () => {
    const scheduler = new Scheduler({ maxQueue: 1, timeoutMs: 10_000 });
    const first = await scheduler.acquire();
    const second = scheduler.acquire();
    await expect(scheduler.acquire()).rejects.toMatchObject({ code: 'BUSY' });
    first.release();
    (await second).release();
  });

  it('removes a waiting request whose client aborts', async () => {
    const scheduler = new Scheduler({ maxQueue: 5, timeoutMs: 10_000 });
    const first = await scheduler.acquire();
    const controller = new AbortController();
    const waiting = scheduler.acquire(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(scheduler.queued).toBe(0);
    first.release();
    const next = await scheduler.acquire();
    next.release();
  });

  it('times out while waiting and aborts a running lease', async () => {
    const scheduler = new Scheduler({ maxQueue: 5, timeoutMs: 50 });
    const first = await scheduler.acquire();
    await expect(scheduler.acquire()).rejects.toMatchObject({ code: 'TIMEOUT' });
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(first.signal.aborted).toBe(true);
    expect(first.signal.reason).toMatchObject({ code: 'TIMEOUT' });
    first.release();
  });

  it('rejects an already aborted signal without queueing', async () => {
    const scheduler = new Scheduler({ maxQueue: 5, timeoutMs: 1000 });
    await expect(scheduler.acquire(AbortSignal.abort())).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(scheduler.active).toBe(0);
  });
});
