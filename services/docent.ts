import path from 'node:path';
import type { Config } from '../core/config.ts';
import { DocentError, toDocentError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { DenseIndex } from '../index/dense-index.ts';
import { Store, type CollectionRecord, type DocumentRecord, type PreparedDocument } from '../index/store.ts';
import { CachedEmbedder } from '../ingest/embed/cached-embedder.ts';
import { QueryBatchingEmbedder } from '../ingest/embed/query-batching-embedder.ts';
import type { Embedder } from '../ingest/embed/embedder.ts';
import { assertNotBlank } from '../ingest/parse/blank.ts';
import type { ParsedDocument } from '../ingest/parse/types.ts';
import {
  embedInSteps,
  embeddingText,
  prepareDocument,
  sha256Hex,
  type IngestProgress,
} from '../ingest/pipeline.ts';
import {
  HybridRetriever,
  type SearchOptions,
  type SearchResult,
  type SearchTimings,
} from '../retrieval/hybrid-retriever.ts';
import type {
  Answer,
  ConversationTurn,
  GenerationEvent,
  Generator,
  SourceChunk,
} from '../generation/types.ts';

export const DEFAULT_COLLECTION = 'default';
const SAVE_IDLE_MS = 2000;
const SAVE_MAX_DELAY_MS = 60_000;

export interface IngestRequest {
  readonly bytes: Uint8Array;
  /** File name as uploaded; documents with the same source name in a collection are versions of one file. */
  readonly source: string;
  readonly collection?: string;
  readonly metadata?: Record<string, unknown>;
  readonly declaredType?: string;
  /** A parse of these bytes already under way (see `startParse`), so ingest can overlap files. */
  readonly parsed?: Promise<ParsedDocument>;
}

export interface IngestOutcome {
  readonly document: DocumentRecord;
  /** True when the same bytes were already in the collection. */
  readonly duplicate: boolean;
}

export interface AcceptOutcome extends IngestOutcome {
  /** True when the bytes were a failed document, now queued again as the newest version of its source. */
  readonly retry: boolean;
}

export interface AskOptions extends Omit<SearchOptions, 'topK'> {
  readonly topK?: number;
  readonly history?: readonly ConversationTurn[];
  readonly maxNewTokens?: number;
  readonly signal?: AbortSignal;
}

export interface DocentDependencies {
  readonly config: Config;
  readonly logger: Logger;
  /** Creates the embedder named by a spec such as `use-lite`; called once per spec. */
  readonly createEmbedder: (spec: string) => Promise<Embedder>;
  /** The answer generator; the extractive answerer when no generative model is configured. */
  readonly generator?: Generator | undefined;
}

/**
 * The Docent engine in one process: the store, dense indexes, embedders, retriever and
 * answerer. The process that opens it owns the SQLite database and the HNSW files.
 */
export class Docent {
  readonly store: Store;
  readonly retriever: HybridRetriever;
  private readonly denseIndexes = new Map<string, DenseIndex>();
  private readonly embedders = new Map<string, Embedder>();
  private saveTimer: NodeJS.Timeout | undefined;
  private firstUnsavedAt: number | undefined;
  private generatorInstance: Generator | undefined;

  private readonly defaultEmbedder: Embedder;

  private constructor(
    readonly config: Config,
    readonly logger: Logger,
    embedder: Embedder,
    private readonly createEmbedder: (spec: string) => Promise<Embedder>,
    generator: Generator | undefined,
  ) {
    this.store = Store.open(config.dataDir);
    this.defaultEmbedder = this.withCache(embedder);
    this.embedders.set(embedder.id, this.defaultEmbedder);
    this.generatorInstance = generator;
    this.retriever = new HybridRetriever({
      store: this.store,
      denseIndex: (collection) => this.denseIndex(collection),
      embedder: (collection) => this.embedderFor(collection),
      defaults: config.fusion,
    });
  }

  static async open(dependencies: DocentDependencies): Promise<Docent> {
    const embedder = await dependencies.createEmbedder(dependencies.config.embedder.spec);
    const docent = new Docent(
      dependencies.config,
      dependencies.logger,
      embedder,
      dependencies.createEmbedder,
      dependencies.generator,
    );
    for (const collection of docent.store.listCollections()) await docent.loadEmbedder(collection.embedderId);
    return docent;
  }

  get embedder(): Embedder {
    return this.defaultEmbedder;
  }

  get generator(): Generator | undefined {
    return this.generatorInstance;
  }

  set generator(generator: Generator | undefined) {
    this.generatorInstance = generator;
  }

  // Ingest

  /**
   * Registers an upload. Identical bytes already in the collection return the existing
   * document with `duplicate: true`, which becomes the newest version of its source name again.
   * Empty input is rejected before anything is stored.
   */
  accept(request: IngestRequest): AcceptOutcome {
    // The parser's own check, so that Unicode whitespace (no-break spaces, a lone byte order
    // mark) is rejected here too instead of being stored and failing later.
    assertNotBlank(request.bytes, sanitizeSource(request.source));
    const collection = this.ensureCollection(request.collection ?? DEFAULT_COLLECTION);
    const { document, duplicate } = this.store.createDocument({
      collectionId: collection.id,
      source: sanitizeSource(request.source),
      sha256: sha256Hex(request.bytes),
      sizeBytes: request.bytes.byteLength,
      metadata: request.metadata ?? {},
    });
    if (!duplicate) return { document, duplicate, retry: false };

    // Bytes uploaded again count as the last upload of their source name: a failed document is
    // queued again, and versions uploaded after the first copy no longer replace it.
    if (document.status === 'failed' || document.status === 'needs_ocr') {
      this.store.requeueAsNewestVersion(document.id);
      return { document: this.store.requireDocument(document.id), duplicate, retry: true };
    }
    const newer = this.store.newerVersionIds(document.id);
    if (newer.length === 0) return { document, duplicate, retry: false };
    if (document.status === 'indexed') {
      // The indexed copy is what a write of these bytes would give now. Newer versions have no
      // chunks yet (their write would have removed this copy), and their jobs find nothing to write.
      for (const id of newer) this.deleteDocument(id);
    } else {
      this.store.promoteToNewestVersion(document.id);
    }
    return { document: this.store.requireDocument(document.id), duplicate, retry: false };
  }

  /** Parses, chunks and embeds an accepted document with its collection's embedder. */
  async prepare(
    documentId: string,
    request: Pick<IngestRequest, 'bytes' | 'source' | 'declaredType' | 'parsed'>,
    onProgress?: (progress: IngestProgress) => void,
    signal?: AbortSignal,
  ): Promise<PreparedDocument> {
    const document = this.store.requireDocument(documentId);
    const collection = this.store.requireCollection(document.collection);
    this.store.markProcessing(documentId);
    return prepareDocument(
      {
        bytes: request.bytes,
        filename: request.source,
        ...(request.declaredType === undefined ? {} : { declaredType: request.declaredType }),
      },
      {
        embedder: this.embedderFor(collection),
        chunking: this.config.chunking,
        parseLimits: this.config.parsing,
        ...(onProgress === undefined ? {} : { onProgress }),
        ...(signal === undefined ? {} : { signal }),
        ...(request.parsed === undefined ? {} : { parsed: request.parsed }),
      },
    );
  }

  /** Writes a prepared document to SQLite, FTS5 and HNSW. Only the index owner calls this. */
  apply(documentId: string, prepared: PreparedDocument): DocumentRecord {
    const document = this.store.requireDocument(documentId);
    const collection = this.store.requireCollection(document.collection);
    // Open (or rebuild) the dense index before the write, so a rebuild cannot already contain the new chunks.
    const dense = this.denseIndex(collection);
    const { chunkIds, removedChunkIds } = this.store.applyPrepared(documentId, prepared);
    this.advanceVersion(dense, collection.id);

    dense.remove(removedChunkIds);
    dense.add(
      chunkIds.map((chunkId, index) => ({
        chunkId,
        vector: prepared.embeddings[index] ?? new Float32Array(),
      })),
    );
    this.scheduleSave();
    return this.store.requireDocument(documentId);
  }

  /** Records why a document could not be ingested. */
  fail(documentId: string, error: unknown): DocumentRecord {
    const failure = toDocentError(error, 'PARSE_FAILED');
    this.store.markFailed(documentId, failure.code, failure.message);
    return this.store.requireDocument(documentId);
  }

  /**
   * Accepts, prepares and applies one file in this process. A file that fails to parse ends
   * in a failed state with its reason; the error is returned in the document, not thrown.
   */
  async ingest(
    request: IngestRequest,
    onProgress?: (progress: IngestProgress) => void,
  ): Promise<IngestOutcome> {
    const accepted = this.accept(request);
    if (accepted.duplicate && accepted.document.status === 'indexed') return accepted;

    const documentId = accepted.document.id;
    try {
      const prepared = await this.prepare(documentId, request, onProgress);
      return { document: this.apply(documentId, prepared), duplicate: false };
    } catch (error) {
      const document = this.fail(documentId, error);
      this.logger.warn({ documentId, source: request.source, err: error }, 'Document failed to ingest');
      return { document, duplicate: false };
    }
  }

  /** Deletes a document from SQLite, FTS5 and HNSW. */
  deleteDocument(documentId: string): DocumentRecord {
    const existing = this.store.requireDocument(documentId);
    const collection = this.store.getCollectionById(existing.collectionId);
    const dense = collection === undefined ? undefined : this.denseIndex(collection);
    const { document, removedChunkIds } = this.store.deleteDocument(documentId);
    if (dense !== undefined) {
      this.advanceVersion(dense, dense.collectionId);
      dense.remove(removedChunkIds);
      this.scheduleSave();
    }
    return document;
  }

  /**
   * Records that this process's write moved the collection's dense version one step. When the
   * store moved further, another process (for example `docent ingest` beside a running server)
   * wrote too, so the index keeps its old version and is reloaded at the next search.
   */
  private advanceVersion(dense: DenseIndex, collectionId: number): void {
    const current = this.store.getCollectionById(collectionId)?.denseVersion;
    if (current === dense.version + 1) dense.version = current;
  }

  deleteCollection(name: string): void {
    const collection = this.store.requireCollection(name);
    this.store.deleteCollection(name);
    const key = this.denseKey(collection);
    this.denseIndexes.get(key)?.deleteFiles();
    this.denseIndexes.delete(key);
  }

  /**
   * Marks documents left `queued` or `processing` by a stopped process as failed, so that none
   * stays in between states. Callers with a persistent queue resume such documents instead.
   */
  failInterrupted(): number {
    let count = 0;
    for (const status of ['queued', 'processing'] as const) {
      for (const document of this.store.listDocuments({ status, limit: 100_000 })) {
        this.store.markFailed(
          document.id,
          'INTERRUPTED',
          'Ingest was interrupted before it finished: ingest the file again',
        );
        count += 1;
      }
    }
    return count;
  }

  // Reindex

  /**
   * Re-embeds a collection's chunks with an embedder (the configured one by default) into a new
   * dense index beside the live one, then switches the collection to it in one step. Queries keep
   * using the old index until the switch, and a failure before it changes nothing.
   */
  async reindex(
    collectionName: string,
    embedderSpec?: string,
    onProgress?: (progress: IngestProgress) => void,
  ): Promise<CollectionRecord> {
    const collection = this.store.requireCollection(collectionName);
    const embedder =
      embedderSpec === undefined ? this.defaultEmbedder : await this.loadEmbedder(embedderSpec);
    // Chunks written while embedding are picked up by the next pass. The last pass finds none
    // and the switch follows in the same synchronous step, so no chunk misses the new index.
    for (;;) {
      const missing = this.store.chunksWithoutEmbedding(collection.id, embedder.id);
      if (missing.length === 0) break;
      const vectors = await embedInSteps(
        embedder,
        missing.map((chunk) => embeddingText(chunk, chunk.title)),
        onProgress === undefined ? {} : { onProgress },
      );
      const entries = missing.map((chunk, index) => ({
        chunkId: chunk.id,
        vector: vectors[index] ?? new Float32Array(),
      }));
      this.store.putEmbeddings(embedder.id, embedder.dimension, entries);
    }

    const oldKey = this.denseKey(collection);
    this.store.db.transaction(() => {
      this.store.switchEmbedder(collection.id, embedder.id, embedder.dimension);
      this.store.dropOtherEmbeddings(collection.id, embedder.id);
    })();
    const switched = this.store.requireCollection(collectionName);
    // Opened after the switch, so it is built once from the new vectors, in this synchronous step.
    const target = DenseIndex.open(
      this.store,
      switched,
      this.denseDirectory(),
      this.config.hnsw,
      this.logger,
    );
    const old = this.denseIndexes.get(oldKey);
    this.denseIndexes.delete(oldKey);
    this.denseIndexes.set(this.denseKey(switched), target);
    if (old !== undefined && oldKey !== this.denseKey(switched)) old.deleteFiles();
    return switched;
  }

  // Search and answer

  search(
    query: string,
    options: SearchOptions,
  ): Promise<{ results: SearchResult[]; timings: SearchTimings }> {
    return this.retriever.search(query, options);
  }

  /** Retrieves sources for a question and streams the generator's answer events. */
  async *askStream(
    question: string,
    options: AskOptions,
  ): AsyncGenerator<GenerationEvent | { type: 'sources'; sources: SourceChunk[] }> {
    const generator = this.generatorInstance;
    if (generator === undefined) throw new DocentError('INTERNAL', 'No answer generator is configured');
    const { results } = await this.search(question, { ...options, topK: options.topK ?? 5 });
    const sources = toSourceChunks(results);
    yield { type: 'sources', sources };
    yield* generator.stream({
      question,
      sources,
      ...(options.history === undefined ? {} : { history: options.history }),
      ...(options.maxNewTokens === undefined ? {} : { maxNewTokens: options.maxNewTokens }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  async ask(question: string, options: AskOptions): Promise<{ answer: Answer; sources: SourceChunk[] }> {
    let sources: SourceChunk[] = [];
    for await (const event of this.askStream(question, options)) {
      if (event.type === 'sources') sources = event.sources;
      if (event.type === 'done') return { answer: event.answer, sources };
    }
    throw new DocentError('INTERNAL', 'The generator ended without an answer');
  }

  // Indexes and lifecycle

  ensureCollection(name: string): CollectionRecord {
    return (
      this.store.getCollection(name) ??
      this.store.ensureCollection(name, this.defaultEmbedder.id, this.defaultEmbedder.dimension)
    );
  }

  /**
   * Returns the collection's dense index, loading it on first use. An index whose version is
   * behind the store's was changed by another process, so it is reloaded (from its file when
   * that process saved it, else rebuilt from SQLite).
   */
  denseIndex(collection: CollectionRecord): DenseIndex {
    const key = this.denseKey(collection);
    let dense = this.denseIndexes.get(key);
    if (dense !== undefined && dense.version !== collection.denseVersion) {
      this.logger.info(
        { collection: collection.name, indexVersion: dense.version, storeVersion: collection.denseVersion },
        'Another process changed the collection; reloading its dense index',
      );
      dense = undefined;
    }
    if (dense === undefined) {
      dense = DenseIndex.open(this.store, collection, this.denseDirectory(), this.config.hnsw, this.logger);
      this.denseIndexes.set(key, dense);
    }
    return dense;
  }

  embedderFor(collection: CollectionRecord): Embedder {
    const embedder = this.embedders.get(collection.embedderId);
    if (embedder === undefined) {
      throw new DocentError(
        'MODEL_NOT_FOUND',
        `Collection "${collection.name}" was indexed with embedder ${collection.embedderId}, which is not loaded. Set DOCENT_EMBEDDER=${collection.embedderId} or reindex the collection.`,
      );
    }
    return embedder;
  }

  private async loadEmbedder(spec: string): Promise<Embedder> {
    const known = this.embedders.get(spec);
    if (known !== undefined) return known;
    try {
      const embedder = this.withCache(await this.createEmbedder(spec));
      this.embedders.set(embedder.id, embedder);
      return embedder;
    } catch (error) {
      this.logger.warn(
        { err: error, embedder: spec },
        'Embedder of an existing collection could not be loaded',
      );
      throw error;
    }
  }

  /**
   * Wraps an embedder with the SQLite embedding cache, keyed by embedder id and text hash, so
   * unchanged chunks of a new document version are not embedded again. The wrapper also batches
   * concurrent query embeddings.
   */
  private withCache(embedder: Embedder): Embedder {
    const store = this.store;
    return new CachedEmbedder(new QueryBatchingEmbedder(embedder), {
      get: (embedderId, hashes) => store.getCachedEmbeddings(embedderId, hashes),
      put: (embedderId, entries) => store.putCachedEmbeddings(embedderId, entries),
    });
  }

  /** Saves every dense index with unsaved changes. */
  flush(): void {
    if (this.saveTimer !== undefined) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    this.firstUnsavedAt = undefined;
    for (const dense of this.denseIndexes.values()) {
      if (!dense.needsSave) continue;
      dense.save();
    }
  }

  /**
   * Saves dense indexes once writes pause for SAVE_IDLE_MS, or at the latest SAVE_MAX_DELAY_MS
   * after the first unsaved write. An index lost to a crash before saving is rebuilt from
   * SQLite at the next start, so saving late costs start-up time, never data.
   */
  private scheduleSave(): void {
    const now = Date.now();
    this.firstUnsavedAt ??= now;
    if (this.saveTimer !== undefined) clearTimeout(this.saveTimer);
    const delay = Math.max(0, Math.min(SAVE_IDLE_MS, this.firstUnsavedAt + SAVE_MAX_DELAY_MS - now));
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      try {
        this.flush();
      } catch (error) {
        this.logger.error(
          { err: error },
          'Saving the dense index failed; it will be rebuilt from SQLite at the next start',
        );
      }
    }, delay);
    this.saveTimer.unref();
  }

  async close(): Promise<void> {
    this.flush();
    for (const embedder of this.embedders.values()) await embedder.close();
    await this.generatorInstance?.close();
    this.store.close();
  }

  private denseDirectory(): string {
    return path.join(this.config.dataDir, 'dense');
  }

  private denseKey(collection: CollectionRecord): string {
    return `${collection.id}:${collection.embedderId}`;
  }
}

/** Numbers search results as answer sources, 1-based in rank order. */
export function toSourceChunks(results: readonly SearchResult[]): SourceChunk[] {
  return results.map((result, index) => ({
    n: index + 1,
    chunkId: result.chunkId,
    documentId: result.documentId,
    source: result.source,
    page: result.page,
    start: result.start,
    end: result.end,
    text: result.text,
    headingPath: result.headingPath,
    score: result.score,
  }));
}

/**
 * Reduces an uploaded file name to its last path component without control characters, at
 * most 255 characters, so that names with separators or `..` cannot name other files.
 */
export function sanitizeSource(name: string): string {
  const base =
    name
      .split(/[\\/]/)
      .filter((part) => part !== '')
      .at(-1) ?? '';
  // eslint-disable-next-line no-control-regex
  const cleaned = base.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  const safe = cleaned === '' || cleaned === '.' || cleaned === '..' ? 'unnamed' : cleaned;
  return safe.length > 255 ? safe.slice(0, 255) : safe;
}
