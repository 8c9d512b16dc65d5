import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig, type Config } from '../core/config.ts';
import { silentLogger } from '../core/logger.ts';
import { createConfiguredEmbedder } from '../ingest/embed/index.ts';
import { chunkDocument } from '../ingest/chunk/chunker.ts';
import type { Embedder } from '../ingest/embed/embedder.ts';
import { parseDocument } from '../ingest/parse/index.ts';
import { embeddingText, type IngestProgress } from '../ingest/pipeline.ts';
import { Docent } from '../services/docent.ts';
import { percentile, seededRandom } from './stats.ts';

export interface IngestReport {
  readonly file: string;
  readonly embedder: string;
  readonly chunks: number;
  readonly pipelineChunksPerSecond: number;
  readonly rawChunksPerSecond: number;
  /** Pipeline throughput as a share of raw embedder throughput on the same chunks (mean of a run before and after). */
  readonly ratio: number;
  /** Seconds of the pipeline run spent in each stage; `index` is the write to SQLite, FTS5 and HNSW. */
  readonly stageSeconds: Record<'parse' | 'chunk' | 'embed' | 'index', number>;
  readonly queries: number;
  readonly latency: Record<'total' | 'embed' | 'dense' | 'sparse' | 'fuse', { p50: number; p95: number }>;
}

/** The Debian Reference PDF when the shared data folder exists, else a generated text of similar shape. */
export function benchDocument(): { name: string; bytes: Uint8Array } {
  const pdf = path.resolve('../shared/data/docs/debian/debian-reference/en/debian-reference.en.pdf');
  if (existsSync(pdf)) return { name: path.basename(pdf), bytes: readFileSync(pdf) };
  const random = seededRandom(7);
  const words = [
    'package',
    'system',
    'apt',
    'kernel',
    'network',
    'file',
    'user',
    'install',
    'upgrade',
    'configure',
    'service',
  ];
  const paragraphs = Array.from({ length: 2000 }, () =>
    Array.from({ length: 60 }, () => words[Math.floor(random() * words.length)] ?? 'apt').join(' '),
  );
  return { name: 'generated.txt', bytes: new TextEncoder().encode(paragraphs.join('.\n\n')) };
}

/** Parses and chunks the bench document once, returning the texts the pipeline embeds. */
async function chunkTextsOf(
  document: { name: string; bytes: Uint8Array },
  config: Config,
): Promise<string[]> {
  const parsed = await parseDocument({ bytes: document.bytes, filename: document.name }, config.parsing);
  return chunkDocument(parsed, config.chunking).map((chunk) => embeddingText(chunk, parsed.title));
}

async function timeEmbedding(
  embedder: Embedder,
  texts: readonly string[],
  batchSize: number,
): Promise<number> {
  const started = performance.now();
  for (let start = 0; start < texts.length; start += batchSize) {
    await embedder.embed(texts.slice(start, start + batchSize), 'document');
  }
  return (performance.now() - started) / 1000;
}

/**
 * Measures ingest throughput (parse, chunk, embed and index) against the raw throughput of the
 * same embedder on the same chunk texts, then query latency by stage over the ingested document.
 */
export async function runIngestBench(options: { queries: number }): Promise<IngestReport> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'docent-ingest-bench-'));
  const config = loadConfig({ ...process.env, DOCENT_DATA_DIR: dataDir, DOCENT_LOG_LEVEL: 'silent' });
  const docent = await Docent.open({
    config,
    logger: silentLogger,
    createEmbedder: (spec) => createConfiguredEmbedder(spec, config),
  });

  try {
    const document = benchDocument();
    // Warm the embedder and the parser worker, so neither run pays a one-time start-up cost.
    await docent.embedder.embed(['warm up'], 'document');
    await docent.ingest({
      bytes: new TextEncoder().encode('warm up text'),
      source: 'warm-up.txt',
      collection: 'warm-up',
    });

    // Raw embedder throughput is measured before and after the pipeline run on the same chunk
    // texts, and averaged, so that a change in machine load during the run affects both sides.
    const raw = await createConfiguredEmbedder(config.embedder.spec, config);
    await raw.embed(['warm up'], 'document');
    const chunkTexts = await chunkTextsOf(document, config);
    const rawBefore = await timeEmbedding(raw, chunkTexts, config.embedder.batchSize);

    const pipelineStarted = performance.now();
    const stageStarts = new Map<IngestProgress['stage'], number>();
    let embedEnded = pipelineStarted;
    const { document: record } = await docent.ingest(
      { bytes: document.bytes, source: document.name },
      (progress) => {
        if (!stageStarts.has(progress.stage)) stageStarts.set(progress.stage, performance.now());
        if (progress.stage === 'embed') embedEnded = performance.now();
      },
    );
    const pipelineEnded = performance.now();
    const pipelineSeconds = (pipelineEnded - pipelineStarted) / 1000;
    const at = (stage: IngestProgress['stage']): number => stageStarts.get(stage) ?? pipelineStarted;
    const stageSeconds = {
      parse: (at('chunk') - at('parse')) / 1000,
      chunk: (at('embed') - at('chunk')) / 1000,
      embed: (embedEnded - at('embed')) / 1000,
      index: (pipelineEnded - embedEnded) / 1000,
    };
    if (record.status !== 'indexed')
      throw new Error(`Bench document failed: ${record.errorMessage ?? record.status}`);

    const rawAfter = await timeEmbedding(raw, chunkTexts, config.embedder.batchSize);
    const rawSeconds = (rawBefore + rawAfter) / 2;
    const chunks = docent.store.getChunks(record.id);

    const random = seededRandom(11);
    const samples: Record<'total' | 'embed' | 'dense' | 'sparse' | 'fuse', number[]> = {
      total: [],
      embed: [],
      dense: [],
      sparse: [],
      fuse: [],
    };
    for (let index = 0; index < options.queries; index += 1) {
      const chunk = chunks[Math.floor(random() * chunks.length)];
      const query = (chunk?.text ?? 'apt upgrade').split(/\s+/).slice(0, 8).join(' ');
      const started = performance.now();
      const { timings } = await docent.search(query, { collection: 'default', topK: 10, mode: 'hybrid' });
      samples.total.push(performance.now() - started);
      samples.embed.push(timings.embedMs);
      samples.dense.push(timings.denseMs);
      samples.sparse.push(timings.sparseMs);
      samples.fuse.push(timings.fuseMs);
    }
    const latency = Object.fromEntries(
      Object.entries(samples).map(([stage, values]) => [
        stage,
        { p50: percentile(values, 50), p95: percentile(values, 95) },
      ]),
    ) as IngestReport['latency'];

    return {
      file: document.name,
      embedder: docent.embedder.id,
      chunks: chunks.length,
      pipelineChunksPerSecond: chunks.length / pipelineSeconds,
      rawChunksPerSecond: chunks.length / rawSeconds,
      ratio: rawSeconds / pipelineSeconds,
      stageSeconds,
      queries: options.queries,
      latency,
    };
  } finally {
    await docent.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
