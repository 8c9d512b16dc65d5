import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../core/config.ts';
import { silentLogger } from '../core/logger.ts';
import type { Embedder } from '../ingest/embed/embedder.ts';
import type { Chunk } from '../ingest/chunk/chunker.ts';
import { Docent } from '../services/docent.ts';
import { percentile, seededRandom } from './stats.ts';

export interface ScaleReport {
  readonly chunks: number;
  readonly dimension: number;
  readonly distribution: 'clustered' | 'uniform';
  readonly efSearch: number;
  readonly loadSeconds: number;
  readonly hybridP50Ms: number;
  readonly hybridP95Ms: number;
  readonly denseP50Ms: number;
  readonly sparseP50Ms: number;
  readonly recallAt10: number;
  readonly peakRssMb: number;
}

/** An embedder that returns preset query vectors, so query timings exclude real embedding work. */
class PresetEmbedder implements Embedder {
  readonly id = 'bench-random';
  next: Float32Array;

  constructor(readonly dimension: number) {
    this.next = new Float32Array(dimension);
  }

  embed(texts: readonly string[]): Promise<Float32Array[]> {
    return Promise.resolve(texts.map(() => this.next));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Returns a vector near one of `centres`: the centre plus Gaussian noise of half its length,
 * normalised. Real embeddings cluster by topic like this, whereas uniformly random 512-dimension
 * vectors have almost equidistant neighbours, which no approximate index ranks well.
 */
function vectorNearCentre(
  random: () => number,
  centres: readonly Float32Array[],
  dimension: number,
): Float32Array {
  const centre = centres[Math.floor(random() * centres.length)] ?? new Float32Array(dimension);
  const noise = randomUnitVector(random, dimension);
  const vector = centre.map((value, index) => value + 0.5 * (noise[index] ?? 0));
  let norm = 0;
  for (const value of vector) norm += value * value;
  norm = Math.sqrt(norm);
  return vector.map((value) => value / norm);
}

function randomUnitVector(random: () => number, dimension: number): Float32Array {
  const vector = new Float32Array(dimension);
  let norm = 0;
  for (let index = 0; index < dimension; index += 1) {
    // Box-Muller gives normally distributed components, so directions are uniform on the sphere.
    const value = Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
    vector[index] = value;
    norm += value * value;
  }
  norm = Math.sqrt(norm);
  for (let index = 0; index < dimension; index += 1) vector[index] = (vector[index] ?? 0) / norm;
  return vector;
}

/**
 * Loads `chunkCount` synthetic chunks (random unit vectors, text drawn from a Zipf-like
 * vocabulary) and measures hybrid query latency without the query embedding, HNSW recall@10
 * against brute force, and peak RSS.
 */
export async function runScaleBench(options: {
  chunkCount: number;
  dimension: number;
  queries: number;
  distribution: 'clustered' | 'uniform';
}): Promise<ScaleReport> {
  const random = seededRandom(42);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'docent-scale-'));
  const embedder = new PresetEmbedder(options.dimension);
  const config = loadConfig({
    DOCENT_DATA_DIR: dataDir,
    DOCENT_EMBEDDER: embedder.id,
    DOCENT_LOG_LEVEL: 'silent',
  });
  const docent = await Docent.open({
    config,
    logger: silentLogger,
    createEmbedder: () => Promise.resolve(embedder),
  });

  const centres = Array.from({ length: options.distribution === 'clustered' ? 2000 : 0 }, () =>
    randomUnitVector(random, options.dimension),
  );
  const nextVector = (): Float32Array =>
    options.distribution === 'clustered'
      ? vectorNearCentre(random, centres, options.dimension)
      : randomUnitVector(random, options.dimension);

  const vocabulary = Array.from({ length: 20_000 }, (_, index) => `w${index.toString(36)}`);
  const word = (): string => vocabulary[Math.floor(vocabulary.length * random() ** 3)] ?? 'w0';
  const vectors: Float32Array[] = [];

  const loadStarted = performance.now();
  const perDocument = 100;
  for (let documentIndex = 0; documentIndex * perDocument < options.chunkCount; documentIndex += 1) {
    const texts = Array.from(
      { length: Math.min(perDocument, options.chunkCount - documentIndex * perDocument) },
      () => Array.from({ length: 40 }, word).join(' '),
    );
    const text = texts.join('\n\n');
    const chunks: Chunk[] = [];
    let offset = 0;
    for (const [ordinal, chunkText] of texts.entries()) {
      chunks.push({
        ordinal,
        text: chunkText,
        start: offset,
        end: offset + chunkText.length,
        page: null,
        pageEnd: null,
        tokenCount: 40,
        headingPath: [],
        context: '',
      });
      offset += chunkText.length + 2;
    }
    const embeddings = chunks.map(nextVector);
    vectors.push(...embeddings);
    const { document } = docent.accept({
      bytes: new TextEncoder().encode(`${documentIndex}\n${text}`),
      source: `synthetic-${documentIndex}.txt`,
    });
    docent.apply(document.id, {
      mediaType: 'text/plain',
      title: undefined,
      text,
      pages: [],
      warnings: [],
      chunks,
      embedderId: embedder.id,
      dimension: options.dimension,
      embeddings,
    });
  }
  docent.flush();
  const loadSeconds = (performance.now() - loadStarted) / 1000;

  const hybrid: number[] = [];
  const dense: number[] = [];
  const sparse: number[] = [];
  let recallSum = 0;
  const collection = docent.store.requireCollection('default');
  const chunkIds = [...docent.store.iterateEmbeddings(collection.id, embedder.id)].map(
    (entry) => entry.chunkId,
  );

  for (let query = 0; query < options.queries; query += 1) {
    embedder.next = nextVector();
    const text = `${word()} ${word()} ${word()}`;
    const started = performance.now();
    const { timings } = await docent.search(text, { collection: 'default', topK: 10, mode: 'hybrid' });
    hybrid.push(performance.now() - started - timings.embedMs);
    dense.push(timings.denseMs);
    sparse.push(timings.sparseMs);

    const found = docent.denseIndex(collection).search(embedder.next, 10, docent.store);
    const exact = bruteForceTop(vectors, chunkIds, embedder.next, 10);
    recallSum += found.filter((hit) => exact.has(hit.chunkId)).length / 10;
  }

  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  await docent.close();
  rmSync(dataDir, { recursive: true, force: true });
  return {
    chunks: options.chunkCount,
    dimension: options.dimension,
    distribution: options.distribution,
    efSearch: config.hnsw.efSearch,
    loadSeconds,
    hybridP50Ms: percentile(hybrid, 50),
    hybridP95Ms: percentile(hybrid, 95),
    denseP50Ms: percentile(dense, 50),
    sparseP50Ms: percentile(sparse, 50),
    recallAt10: recallSum / options.queries,
    peakRssMb,
  };
}

function bruteForceTop(
  vectors: readonly Float32Array[],
  ids: readonly number[],
  query: Float32Array,
  k: number,
): Set<number> {
  const scored = vectors.map((vector, index) => {
    let dot = 0;
    for (let dimension = 0; dimension < vector.length; dimension += 1)
      dot += (vector[dimension] ?? 0) * (query[dimension] ?? 0);
    return { id: ids[index] ?? -1, dot };
  });
  scored.sort((left, right) => right.dot - left.dot);
  return new Set(scored.slice(0, k).map((entry) => entry.id));
}
