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
  const queries = Array.from({ length: options.queries }, () => ({
    vector: nextVector(),
    text: `${word()} ${word()} ${word()}`,
  }));

  const found: DenseHitIds[] = [];
  for (const query of queries) {
    embedder.next = query.vector;
    const started = performance.now();
    const { timings } = await docent.search(query.text, { collection: 'default', topK: 10, mode: 'hybrid' });
    hybrid.push(performance.now() - started - timings.embedMs);
    dense.push(timings.denseMs);
    sparse.push(timings.sparseMs);
    found.push(
      docent
        .denseIndex(collection)
        .search(query.vector, 10, docent.store)
        .map((hit) => hit.chunkId),
    );
  }
  // Peak memory is read before the exact search, which streams every stored vector once.
  const peakRssMb = process.resourceUsage().maxRSS / 1024;

  const exact = exactTopK(
    docent.store.iterateEmbeddings(collection.id, embedder.id),
    queries.map((query) => query.vector),
    10,
  );
  found.forEach((ids, index) => {
    const truth = exact[index] ?? new Set<number>();
    recallSum += ids.filter((id) => truth.has(id)).length / 10;
  });

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

type DenseHitIds = number[];

/**
 * Returns, for each query, the ids of its k nearest stored vectors by dot product (the vectors
 * are unit length, so this is cosine order), in one pass over the store without holding the
 * vectors in memory.
 */
function exactTopK(
  stored: Iterable<{ chunkId: number; vector: Float32Array }>,
  queries: readonly Float32Array[],
  k: number,
): Array<Set<number>> {
  const best = queries.map(() => [] as Array<{ id: number; dot: number }>);
  for (const { chunkId, vector } of stored) {
    queries.forEach((query, index) => {
      let dot = 0;
      for (let dimension = 0; dimension < vector.length; dimension += 1) {
        dot += (vector[dimension] ?? 0) * (query[dimension] ?? 0);
      }
      const list = best[index];
      if (list === undefined) return;
      if (list.length < k || dot > (list[list.length - 1]?.dot ?? -Infinity)) {
        list.push({ id: chunkId, dot });
        list.sort((left, right) => right.dot - left.dot);
        if (list.length > k) list.pop();
      }
    });
  }
  return best.map((list) => new Set(list.map((entry) => entry.id)));
}
