import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import hnswlib from 'hnswlib-node';
import type { Logger } from '../core/logger.ts';
import type { CollectionRecord, Store } from './store.ts';

export interface HnswParameters {
  readonly m: number;
  readonly efConstruction: number;
  readonly efSearch: number;
}

export interface DenseHit {
  readonly chunkId: number;
  /** Cosine similarity in [-1, 1]. */
  readonly score: number;
}

/** Below this many allowed chunks, a filtered search compares vectors exactly instead of asking HNSW. */
const EXACT_SEARCH_LIMIT = 5000;
/**
 * Collections up to this many chunks keep their vectors in memory (2 KiB each at 512 dimensions)
 * and are searched exactly. HNSW's greedy search can miss a chunk unlike all others, e.g. one
 * short note beside a 1,473-chunk manual was not in its top 100 at efSearch 100.
 */
const IN_MEMORY_LIMIT = 5000;
const INITIAL_CAPACITY = 1024;

interface Sidecar {
  readonly denseVersion: number;
  readonly embedderId: string;
  readonly dimension: number;
  readonly m: number;
  readonly efConstruction: number;
}

/**
 * The HNSW dense index of one collection (hnswlib-node, cosine space). HNSW labels are chunk
 * ids. The file is a cache of the vectors stored in SQLite: a sidecar records the collection's
 * `dense_version` it reflects, and an index whose version differs is rebuilt from the store.
 */
export class DenseIndex {
  private index: hnswlib.HierarchicalNSW;
  /** The collection's `dense_version` that this in-memory index reflects. */
  version = 0;
  private liveCount = 0;
  private dirty = false;
  /** Every live vector by chunk id while the collection is small; undefined once it grew past IN_MEMORY_LIMIT. */
  private vectors: Map<number, Float32Array> | undefined = new Map();

  private constructor(
    readonly collectionId: number,
    readonly embedderId: string,
    readonly dimension: number,
    private readonly file: string,
    private readonly parameters: HnswParameters,
  ) {
    this.index = new hnswlib.HierarchicalNSW('cosine', dimension);
  }

  /** Loads the collection's index file, or rebuilds it from stored vectors when missing or stale. */
  static open(
    store: Store,
    collection: CollectionRecord,
    directory: string,
    parameters: HnswParameters,
    logger: Logger,
    embedderId: string = collection.embedderId,
    dimension: number = collection.dimension,
  ): DenseIndex {
    mkdirSync(directory, { recursive: true });
    const file = path.join(directory, `collection-${collection.id}-${slug(embedderId)}.hnsw`);
    const dense = new DenseIndex(collection.id, embedderId, dimension, file, parameters);

    const sidecar = readSidecar(`${file}.json`);
    const fresh =
      sidecar !== undefined &&
      existsSync(file) &&
      sidecar.denseVersion === collection.denseVersion &&
      sidecar.embedderId === embedderId &&
      sidecar.dimension === dimension;
    if (fresh) {
      try {
        dense.index.readIndexSync(file, true);
        dense.index.setEf(parameters.efSearch);
        dense.liveCount = store.countChunks(collection.id);
        dense.version = collection.denseVersion;
        dense.loadVectors(store);
        return dense;
      } catch (error) {
        logger.warn(
          { err: error, file },
          'Dense index file is unreadable; rebuilding it from stored vectors',
        );
      }
    } else if (sidecar === undefined && !existsSync(file) && store.countChunks(collection.id) === 0) {
      logger.debug({ collection: collection.name, file }, 'Creating the dense index of a new collection');
    } else {
      logger.info(
        {
          collection: collection.name,
          file,
          fileVersion: sidecar?.denseVersion,
          storeVersion: collection.denseVersion,
        },
        'Dense index file is missing or stale; rebuilding it from stored vectors',
      );
    }
    dense.rebuild(store);
    dense.version = collection.denseVersion;
    dense.save();
    return dense;
  }

  /** Replaces the in-memory index with one built from the store's vectors for this embedder. */
  rebuild(store: Store): void {
    const count = store.countChunks(this.collectionId);
    this.index = new hnswlib.HierarchicalNSW('cosine', this.dimension);
    this.index.initIndex({
      maxElements: Math.max(INITIAL_CAPACITY, count),
      m: this.parameters.m,
      efConstruction: this.parameters.efConstruction,
      allowReplaceDeleted: true,
    });
    this.index.setEf(this.parameters.efSearch);
    this.liveCount = 0;
    this.vectors = count <= IN_MEMORY_LIMIT ? new Map() : undefined;
    for (const { chunkId, vector } of store.iterateEmbeddings(this.collectionId, this.embedderId)) {
      this.addOne(chunkId, vector);
    }
    this.dirty = true;
  }

  get size(): number {
    return this.liveCount;
  }

  add(entries: ReadonlyArray<{ chunkId: number; vector: Float32Array }>): void {
    for (const entry of entries) this.addOne(entry.chunkId, entry.vector);
    if (entries.length > 0) this.dirty = true;
  }

  remove(chunkIds: readonly number[]): void {
    for (const chunkId of chunkIds) {
      this.vectors?.delete(chunkId);
      try {
        this.index.markDelete(chunkId);
        this.liveCount -= 1;
        this.dirty = true;
      } catch {
        // The label is absent or already deleted, which leaves nothing to remove.
      }
    }
  }

  /**
   * Returns the `k` nearest chunks by cosine similarity. With `allowed`, only those chunk ids
   * are returned; small allowed sets are searched exactly with vectors from the store.
   */
  search(vector: Float32Array, k: number, store: Store, allowed?: ReadonlySet<number>): DenseHit[] {
    if (k <= 0 || this.liveCount <= 0) return [];
    if (this.vectors !== undefined) return exactNearest(vector, k, this.vectors, allowed);
    if (allowed !== undefined) {
      if (allowed.size === 0) return [];
      if (allowed.size <= EXACT_SEARCH_LIMIT) return this.searchExact(vector, k, store, allowed);
    }

    const neighbours = Math.min(k, this.index.getCurrentCount());
    const query = Array.from(vector);
    const result =
      allowed === undefined
        ? this.index.searchKnn(query, neighbours)
        : this.index.searchKnn(query, neighbours, (label) => allowed.has(label));
    return result.neighbors.map((chunkId, index) => ({ chunkId, score: 1 - (result.distances[index] ?? 1) }));
  }

  private searchExact(
    vector: Float32Array,
    k: number,
    store: Store,
    allowed: ReadonlySet<number>,
  ): DenseHit[] {
    const stored = new Map<number, Float32Array>();
    for (const chunkId of allowed) {
      const found = store.getEmbedding(chunkId, this.embedderId);
      if (found !== undefined) stored.set(chunkId, found);
    }
    return exactNearest(vector, k, stored);
  }

  /** Keeps the vectors of a small collection in memory after the index was read from its file. */
  private loadVectors(store: Store): void {
    if (this.liveCount > IN_MEMORY_LIMIT) {
      this.vectors = undefined;
      return;
    }
    this.vectors = new Map();
    for (const { chunkId, vector } of store.iterateEmbeddings(this.collectionId, this.embedderId))
      this.vectors.set(chunkId, vector);
  }

  /** Writes the index atomically (temporary file, then rename), then its sidecar with `version`. */
  save(): void {
    const temporary = `${this.file}.tmp`;
    this.index.writeIndexSync(temporary);
    renameSync(temporary, this.file);
    const sidecar: Sidecar = {
      denseVersion: this.version,
      embedderId: this.embedderId,
      dimension: this.dimension,
      m: this.parameters.m,
      efConstruction: this.parameters.efConstruction,
    };
    writeFileSync(`${this.file}.json.tmp`, JSON.stringify(sidecar));
    renameSync(`${this.file}.json.tmp`, `${this.file}.json`);
    this.dirty = false;
  }

  get needsSave(): boolean {
    return this.dirty;
  }

  /** Deletes the index file and its sidecar, e.g. after its collection was deleted or reindexed. */
  deleteFiles(): void {
    rmSync(this.file, { force: true });
    rmSync(`${this.file}.json`, { force: true });
  }

  private addOne(chunkId: number, vector: Float32Array): void {
    if (vector.length !== this.dimension) {
      throw new Error(
        `Vector of chunk ${chunkId} has ${vector.length} dimensions, expected ${this.dimension}`,
      );
    }
    const capacity = this.index.getMaxElements();
    if (this.index.getCurrentCount() >= capacity)
      this.index.resizeIndex(Math.max(INITIAL_CAPACITY, capacity * 2));
    this.index.addPoint(Array.from(vector), chunkId, true);
    this.liveCount += 1;
    this.vectors?.set(chunkId, vector);
    if (this.vectors !== undefined && this.vectors.size > IN_MEMORY_LIMIT) this.vectors = undefined;
  }
}

/** Compares the query with every vector (those in `allowed` only, when given), best first. */
function exactNearest(
  vector: Float32Array,
  k: number,
  vectors: ReadonlyMap<number, Float32Array>,
  allowed?: ReadonlySet<number>,
): DenseHit[] {
  const hits: DenseHit[] = [];
  for (const [chunkId, stored] of vectors) {
    if (allowed === undefined || allowed.has(chunkId)) hits.push({ chunkId, score: cosine(vector, stored) });
  }
  hits.sort((left, right) => right.score - left.score || left.chunkId - right.chunkId);
  return hits.slice(0, k);
}

function readSidecar(file: string): Sidecar | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Sidecar;
  } catch {
    return undefined;
  }
}

function slug(value: string): string {
  return value.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 80);
}

export function cosine(left: Float32Array, right: Float32Array): number {
  let dot = 0;
  let leftNorm = 0;
  let rightNorm = 0;
  for (let index = 0; index < left.length; index += 1) {
    const a = left[index] ?? 0;
    const b = right[index] ?? 0;
    dot += a * b;
    leftNorm += a * a;
    rightNorm += b * b;
  }
  const norm = Math.sqrt(leftNorm) * Math.sqrt(rightNorm);
  return norm === 0 ? 0 : dot / norm;
}
