import { performance } from 'node:perf_hooks';
import { DocentError } from '../core/errors.ts';
import type { DenseIndex } from '../index/dense-index.ts';
import { toMatchExpression } from '../index/fts-text.ts';
import type { CollectionRecord, MetadataFilter, Store } from '../index/store.ts';
import type { Embedder } from '../ingest/embed/embedder.ts';
import {
  reciprocalRankFusion,
  singleList,
  weightedFusion,
  type FusedHit,
  type Normalization,
  type RankedHit,
} from './fusion.ts';

export type SearchMode = 'hybrid' | 'dense' | 'sparse';
export type FusionMethod = 'rrf' | 'weighted';

export interface SearchOptions {
  readonly collection: string;
  readonly topK: number;
  readonly mode?: SearchMode;
  readonly fusion?: FusionMethod;
  /** Weight of the dense side in weighted fusion, in [0, 1]. */
  readonly alpha?: number;
  readonly normalization?: Normalization;
  readonly rrfK?: number;
  /** Document metadata filters; an empty object means no filter. */
  readonly filters?: MetadataFilter;
  /** Restricts results to these documents; intersected with `filters`. */
  readonly documentIds?: readonly string[];
}

export interface SearchResult {
  readonly rank: number;
  readonly chunkId: number;
  readonly documentId: string;
  readonly source: string;
  readonly title: string | null;
  readonly page: number | null;
  readonly pageEnd: number | null;
  readonly start: number;
  readonly end: number;
  readonly text: string;
  readonly headingPath: readonly string[];
  readonly metadata: Record<string, unknown>;
  /** Fused score for hybrid search; the retriever's own score for dense or sparse search. */
  readonly score: number;
  readonly denseRank: number | null;
  readonly sparseRank: number | null;
  readonly denseScore: number | null;
  readonly sparseScore: number | null;
}

/** Milliseconds spent in each stage of one search. */
export interface SearchTimings {
  readonly embedMs: number;
  readonly denseMs: number;
  readonly sparseMs: number;
  readonly fuseMs: number;
}

export interface RetrieverDefaults {
  readonly method: FusionMethod;
  readonly rrfK: number;
  readonly alpha: number;
  readonly normalization: Normalization;
  /** Candidates taken from each retriever, as a multiple of topK. */
  readonly candidateMultiplier: number;
}

export interface RetrieverDependencies {
  readonly store: Store;
  readonly denseIndex: (collection: CollectionRecord) => DenseIndex;
  readonly embedder: (collection: CollectionRecord) => Embedder;
  readonly defaults: RetrieverDefaults;
}

const MAX_TOP_K = 1000;

/**
 * Hybrid retrieval over one collection: HNSW dense search and FTS5 BM25 sparse search, fused
 * by chunk id with reciprocal rank fusion or normalised weighted fusion.
 */
export class HybridRetriever {
  constructor(private readonly dependencies: RetrieverDependencies) {}

  async search(
    query: string,
    options: SearchOptions,
  ): Promise<{ results: SearchResult[]; timings: SearchTimings }> {
    validate(query, options);
    const { store, defaults } = this.dependencies;
    const collection = store.requireCollection(options.collection);
    const mode = options.mode ?? 'hybrid';
    const candidates = mode === 'hybrid' ? options.topK * defaults.candidateMultiplier : options.topK;
    const allowed = store.filterChunkIds(collection.id, options.filters, options.documentIds);

    let embedMs = 0;
    let denseMs = 0;
    let dense: RankedHit[] = [];
    if (mode !== 'sparse' && allowed?.size !== 0) {
      const started = performance.now();
      const [vector] = await this.dependencies.embedder(collection).embed([query], 'query');
      embedMs = performance.now() - started;
      if (vector === undefined)
        throw new DocentError('INTERNAL', 'The embedder returned no vector for the query');

      const denseStarted = performance.now();
      dense = this.dependencies.denseIndex(collection).search(vector, candidates, store, allowed);
      denseMs = performance.now() - denseStarted;
    }

    let sparseMs = 0;
    let sparse: RankedHit[] = [];
    const match = toMatchExpression(query);
    if (mode !== 'dense' && match !== undefined && allowed?.size !== 0) {
      const started = performance.now();
      sparse = store.searchSparse(collection.id, match, candidates, options.filters, options.documentIds);
      sparseMs = performance.now() - started;
    }

    const fuseStarted = performance.now();
    const fused = this.fuse(mode, dense, sparse, options).slice(0, options.topK);
    const fuseMs = performance.now() - fuseStarted;

    return { results: this.hydrate(fused), timings: { embedMs, denseMs, sparseMs, fuseMs } };
  }

  private fuse(
    mode: SearchMode,
    dense: RankedHit[],
    sparse: RankedHit[],
    options: SearchOptions,
  ): FusedHit[] {
    const { defaults } = this.dependencies;
    if (mode === 'dense') return singleList(dense, 'dense');
    if (mode === 'sparse') return singleList(sparse, 'sparse');
    const method = options.fusion ?? defaults.method;
    if (method === 'rrf') return reciprocalRankFusion(dense, sparse, options.rrfK ?? defaults.rrfK);
    return weightedFusion(
      dense,
      sparse,
      options.alpha ?? defaults.alpha,
      options.normalization ?? defaults.normalization,
    );
  }

  /** Loads chunk text and document fields; chunks deleted since the search are dropped. */
  private hydrate(hits: readonly FusedHit[]): SearchResult[] {
    const chunks = new Map(
      this.dependencies.store
        .getChunksWithDocuments(hits.map((hit) => hit.chunkId))
        .map((chunk) => [chunk.id, chunk]),
    );
    const results: SearchResult[] = [];
    for (const hit of hits) {
      const chunk = chunks.get(hit.chunkId);
      if (chunk === undefined) continue;
      results.push({
        rank: results.length + 1,
        chunkId: chunk.id,
        documentId: chunk.documentId,
        source: chunk.source,
        title: chunk.title,
        page: chunk.page,
        pageEnd: chunk.pageEnd,
        start: chunk.start,
        end: chunk.end,
        text: chunk.text,
        headingPath: chunk.headingPath,
        metadata: chunk.metadata,
        score: hit.score,
        denseRank: hit.denseRank,
        sparseRank: hit.sparseRank,
        denseScore: hit.denseScore,
        sparseScore: hit.sparseScore,
      });
    }
    return results;
  }
}

function validate(query: string, options: SearchOptions): void {
  if (query.trim() === '')
    throw new DocentError(
      'INVALID_ARGUMENT',
      'The query is empty: give a question or keywords to search for',
    );
  if (!Number.isInteger(options.topK) || options.topK < 1 || options.topK > MAX_TOP_K) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      `topK (${options.topK}) must be an integer from 1 to ${MAX_TOP_K}`,
    );
  }
  if (options.alpha !== undefined && !(options.alpha >= 0 && options.alpha <= 1)) {
    throw new DocentError('INVALID_ARGUMENT', `alpha (${options.alpha}) must be between 0 and 1`);
  }
  if (options.rrfK !== undefined && !(Number.isFinite(options.rrfK) && options.rrfK > 0)) {
    throw new DocentError('INVALID_ARGUMENT', `rrfK (${options.rrfK}) must be a positive number`);
  }
}
