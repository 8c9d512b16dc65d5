import type { RequestHandler } from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobQueue } from '../queue/job-queue.ts';
import { JOB_STATES } from '../queue/job-queue.ts';

/** Prometheus metrics of one server, in a registry of its own so that several apps can run in one process. */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly requestDuration: Histogram<'method' | 'route' | 'status'>;
  readonly chunksIndexed: Counter;
  readonly generationTokensPerSecond: Histogram;
  readonly generatedTokens: Counter;

  constructor(queue: JobQueue) {
    collectDefaultMetrics({ register: this.registry, prefix: 'docent_' });
    this.requestDuration = new Histogram({
      name: 'docent_http_request_duration_seconds',
      help: 'HTTP request latency by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    this.chunksIndexed = new Counter({
      name: 'docent_chunks_indexed_total',
      help: 'Chunks written to the indexes',
      registers: [this.registry],
    });
    this.generationTokensPerSecond = new Histogram({
      name: 'docent_generation_tokens_per_second',
      help: 'Decode speed of each answer, in generated tokens per second',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
      registers: [this.registry],
    });
    this.generatedTokens = new Counter({
      name: 'docent_generated_tokens_total',
      help: 'Tokens generated in answers',
      registers: [this.registry],
    });
    new Gauge({
      name: 'docent_queue_depth',
      help: 'Jobs waiting or delayed in the job queue',
      registers: [this.registry],
      async collect() {
        const counts = await queue.counts();
        this.set(counts.waiting + counts.delayed);
      },
    });
    new Gauge({
      name: 'docent_jobs',
      help: 'Jobs in the queue by state',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const counts = await queue.counts();
        for (const state of JOB_STATES) this.set({ state }, counts[state]);
      },
    });
  }

  /** Times every request; the label is the route pattern (`/v1/documents/:id`), not the raw path. */
  middleware(): RequestHandler {
    return (request, response, next) => {
      const stop = this.requestDuration.startTimer();
      response.on('finish', () => {
        const pattern = (request.route as { path?: string } | undefined)?.path;
        const route = pattern === undefined ? 'unmatched' : `${request.baseUrl}${pattern}`;
        stop({ method: request.method, route, status: String(response.statusCode) });
      });
      next();
    };
  }

  recordGeneration(usage: { generatedTokens: number; tokensPerSecond: number }): void {
    this.generatedTokens.inc(usage.generatedTokens);
    if (usage.generatedTokens > 0 && Number.isFinite(usage.tokensPerSecond)) {
      this.generationTokensPerSecond.observe(usage.tokensPerSecond);
    }
  }
}
