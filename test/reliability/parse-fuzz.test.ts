import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { closeParseWorkers } from '../../ingest/parse/index.ts';
import { directorySeeds, generatedSeeds, runParseFuzz } from './parse-fuzz.ts';

// Fuzzing of parseDocument with mutated PDF, DOCX, HTML and CSV files. DOCENT_FUZZ_BUDGET_MS sets
// the budget (default 60 s, for CI; `npm run bench` runs longer) and DOCENT_FUZZ_SEED the seed.

const DOCS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/docs');
const BUDGET_MS = Number(process.env.DOCENT_FUZZ_BUDGET_MS ?? 60_000);
const SEED = Number(process.env.DOCENT_FUZZ_SEED ?? 20_261_204);

afterAll(async () => {
  await closeParseWorkers();
});

describe('parseDocument fuzzing', () => {
  it(
    'ends every mutated file in a result or a document error',
    async () => {
      const seeds = await generatedSeeds();
      // Real documents add variety when ../shared/data is present; the generated seeds alone still run.
      if (existsSync(DOCS)) seeds.push(...directorySeeds(DOCS, 100 * 1024));

      const report = await runParseFuzz({
        budgetMs: BUDGET_MS,
        seed: SEED,
        seeds,
        limits: {
          timeoutMs: 10_000,
          maxMemoryMb: 256,
          maxPages: 200,
          maxUnzippedMb: 32,
          ocrLanguages: 'eng',
        },
      });
      console.warn(
        `fuzz: seed ${SEED}, ${seeds.length} seed files, ${report.files} mutated files in ${BUDGET_MS} ms, ` +
          `${report.parsed} parsed, errors ${JSON.stringify(report.codes)}, slowest ${report.slowestMs} ms: ${report.slowest}`,
      );

      for (const hit of report.limitHits) console.warn(`fuzz limit: ${hit}`);
      expect(report.failures, JSON.stringify(report.failures.slice(0, 5), null, 2)).toEqual([]);
      expect(report.files).toBeGreaterThan(200);
      expect(report.parsed).toBeGreaterThan(0);
    },
    BUDGET_MS + 60_000,
  );
});
