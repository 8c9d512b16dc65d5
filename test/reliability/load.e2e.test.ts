import { describe, expect, it } from 'vitest';
import { runMixedLoad } from '../../bench/load-mixed.ts';

// Load (checks): 50 concurrent clients mix search, ask (extractive) and uploads against a real
// `docent serve` on loopback. CI runs two short runs; `npm run bench` calls runMixedLoad with
// 60 s runs. DOCENT_LOAD_MS sets the length of each run here.

const RUN_MS = Number(process.env.DOCENT_LOAD_MS ?? 5000);

describe('mixed load', () => {
  it(
    'answers every request and does not grow',
    async () => {
      const report = await runMixedLoad({ durationMs: RUN_MS, clients: 50, runs: 2 });
      console.warn(`load: ${JSON.stringify(report)}`);

      expect(report.errorSamples).toEqual([]);
      for (const run of report.runs) {
        expect(run.errors).toBe(0);
        expect(run.byKind.search.requests).toBeGreaterThan(0);
        expect(run.byKind.ask.requests).toBeGreaterThan(0);
        expect(run.byKind.upload.requests).toBeGreaterThan(0);
      }
      // Uploads add documents, so some growth is expected; a leak per request would show as much more.
      expect(report.rssGrowth).toBeLessThan(1.3);
    },
    RUN_MS * 2 + 120_000,
  );
});
