import os from 'node:os';
import { parseArgs } from 'node:util';
import { runGenerationBench } from './generation.ts';
import { runIngestBench } from './ingest.ts';
import { runMixedLoad } from './load-mixed.ts';
import { runScaleBench } from './scale.ts';

/**
 * `npm run bench [-- --only ingest,scale,generation,load] [--chunks N]`: runs the benchmarks and prints
 * Markdown tables with the machine they ran on, ready for docs/benchmarks.md.
 */
const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    chunks: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '200' },
    distribution: { type: 'string', default: 'clustered' },
  },
});
const sections = new Set(
  (values.only ?? 'ingest,scale,generation,load').split(',').map((section) => section.trim()),
);
const format = (value: number, digits = 1): string => value.toFixed(digits);

console.log(
  `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${format(os.totalmem() / 1024 ** 3, 0)} GiB, Node.js ${process.version}, ${os.platform()} ${os.release()}`,
);
console.log(`Command: npm run bench -- ${process.argv.slice(2).join(' ')}\n`);

if (sections.has('ingest')) {
  const report = await runIngestBench({ queries: Number(values.queries) });
  console.log(`## Ingest and query (${report.file}, embedder ${report.embedder}, ${report.chunks} chunks)\n`);
  console.log('| measure | value |\n| --- | --- |');
  console.log(
    `| pipeline throughput (parse, chunk, embed, index) | ${format(report.pipelineChunksPerSecond)} chunks/s |`,
  );
  console.log(`| raw embedder throughput, same chunks | ${format(report.rawChunksPerSecond)} chunks/s |`);
  console.log(`| pipeline / raw | ${format(report.ratio, 2)} |`);
  const stages = report.stageSeconds;
  console.log(
    `| pipeline stages (s) | parse ${format(stages.parse, 1)}, chunk ${format(stages.chunk, 1)}, embed ${format(stages.embed, 1)}, index ${format(stages.index, 1)} |\n`,
  );
  console.log(`Hybrid query latency over ${report.queries} queries (ms):\n`);
  console.log('| stage | p50 | p95 |\n| --- | --- | --- |');
  for (const [stage, { p50, p95 }] of Object.entries(report.latency))
    console.log(`| ${stage} | ${format(p50, 2)} | ${format(p95, 2)} |`);
  console.log();
}

if (sections.has('scale')) {
  const distribution = values.distribution === 'uniform' ? 'uniform' : 'clustered';
  const report = await runScaleBench({
    chunkCount: Number(values.chunks),
    dimension: 512,
    queries: 100,
    distribution,
  });
  console.log(
    `## Scale: ${report.chunks} synthetic chunks, ${report.dimension} dimensions, ${report.distribution} vectors, efSearch ${report.efSearch}\n`,
  );
  console.log('| measure | value |\n| --- | --- |');
  console.log(`| load time (SQLite, FTS5, HNSW) | ${format(report.loadSeconds)} s |`);
  console.log(
    `| hybrid latency without query embedding, p50 / p95 | ${format(report.hybridP50Ms, 2)} / ${format(report.hybridP95Ms, 2)} ms |`,
  );
  console.log(
    `| dense p50 / sparse p50 | ${format(report.denseP50Ms, 2)} / ${format(report.sparseP50Ms, 2)} ms |`,
  );
  console.log(`| HNSW recall@10 against brute force | ${format(report.recallAt10, 3)} |`);
  console.log(`| peak RSS | ${format(report.peakRssMb, 0)} MB |\n`);
}

if (sections.has('generation')) {
  console.log('## Generation (tiny ONNX fixtures built by the tests, not a real model)\n');
  await runGenerationBench();
  console.log();
}

if (sections.has('load')) {
  const report = await runMixedLoad({ durationMs: 60_000, clients: 50, runs: 2 });
  console.log(
    `## Mixed load: ${report.clients} clients, ${report.durationMs / 1000} s per run, embedder ${report.embedder}\n`,
  );
  console.log(
    '| run | requests | errors | requests/s | search p50 / p95 (ms) | ask p50 / p95 (ms) | upload p50 / p95 (ms) | server RSS (MB) |',
  );
  console.log('| --- | ---: | ---: | ---: | --- | --- | --- | ---: |');
  report.runs.forEach((run, index) => {
    const { search, ask, upload } = run.byKind;
    console.log(
      `| ${index + 1} | ${run.requests} | ${run.errors} | ${format(run.requestsPerSecond)} | ${format(search.p50Ms, 0)} / ${format(search.p95Ms, 0)} | ${format(ask.p50Ms, 0)} / ${format(ask.p95Ms, 0)} | ${format(upload.p50Ms, 0)} / ${format(upload.p95Ms, 0)} | ${format(run.serverRssMb, 0)} |`,
    );
  });
  console.log(`\nRSS after the last run / after the first: ${format(report.rssGrowth, 2)}\n`);
}
