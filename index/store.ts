import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import { DocentError } from '../core/errors.ts';
import type { PageSpan } from '../ingest/parse/types.ts';
import type { Chunk } from '../ingest/chunk/chunker.ts';
import { toIndexText } from './fts-text.ts';
import { migrate } from './migrations.ts';

export type DocumentStatus = 'queued' | 'processing' | 'indexed' | 'failed' | 'needs_ocr';

export interface CollectionRecord {
  readonly id: number;
  readonly name: string;
  readonly embedderId: string;
  readonly dimension: number;
  /** Incremented in the same transaction as every change to the collection's chunks. */
  readonly denseVersion: number;
  readonly createdAt: string;
}

export interface DocumentRecord {
  readonly id: string;
  readonly collectionId: number;
  readonly collection: string;
  readonly source: string;
  readonly mediaType: string | null;
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly status: DocumentStatus;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  readonly metadata: Record<string, unknown>;
  readonly title: string | null;
  readonly pageCount: number;
  readonly chunkCount: number;
  readonly warnings: readonly string[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface ChunkRecord {
  readonly id: number;
  readonly documentId: string;
  readonly ordinal: number;
  readonly text: string;
  readonly page: number | null;
  readonly pageEnd: number | null;
  readonly start: number;
  readonly end: number;
  readonly tokenCount: number;
  readonly headingPath: readonly string[];
  readonly context: string;
}

/** A chunk together with the fields of its document that search results and citations need. */
export interface ChunkWithDocument extends ChunkRecord {
  readonly source: string;
  readonly title: string | null;
  readonly collection: string;
  readonly metadata: Record<string, unknown>;
}

/** The parse and chunk results of one document, ready to be written by the index owner. */
export interface PreparedDocument {
  readonly mediaType: string;
  readonly title: string | undefined;
  readonly text: string;
  readonly pages: readonly PageSpan[];
  readonly warnings: readonly string[];
  readonly chunks: readonly Chunk[];
  readonly embedderId: string;
  readonly dimension: number;
  /** One vector per chunk, in chunk order. */
  readonly embeddings: readonly Float32Array[];
}

export interface NewDocument {
  readonly collectionId: number;
  readonly source: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly metadata: Record<string, unknown>;
}

/** Document metadata equality filters; an array value matches any of its elements. */
export type MetadataFilter = Readonly<
  Record<string, string | number | boolean | readonly (string | number | boolean)[]>
>;

export interface DocumentQuery {
  readonly collection?: string;
  readonly status?: DocumentStatus;
  readonly limit?: number;
  readonly offset?: number;
}

interface DocumentRow {
  id: string;
  collection_id: number;
  collection: string;
  source: string;
  media_type: string | null;
  sha256: string;
  size_bytes: number;
  status: DocumentStatus;
  error_code: string | null;
  error_message: string | null;
  metadata: string;
  title: string | null;
  page_count: number;
  chunk_count: number;
  warnings: string;
  created_at: string;
  updated_at: string;
}

interface ChunkRow {
  id: number;
  document_id: string;
  ordinal: number;
  text: string;
  page: number | null;
  page_end: number | null;
  start_offset: number;
  end_offset: number;
  token_count: number;
  heading_path: string;
  context: string;
}

interface ChunkWithDocumentRow extends ChunkRow {
  source: string;
  title: string | null;
  collection: string;
  metadata: string;
}

const METADATA_KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const DOCUMENT_COLUMNS = `d.id, d.collection_id, c.name AS collection, d.source, d.media_type, d.sha256, d.size_bytes,
  d.status, d.error_code, d.error_message, d.metadata, d.title, d.page_count, d.chunk_count, d.warnings,
  d.created_at, d.updated_at`;
const CHUNK_COLUMNS = `ch.id, ch.document_id, ch.ordinal, ch.text, ch.page, ch.page_end, ch.start_offset, ch.end_offset,
  ch.token_count, ch.heading_path, ch.context`;

/**
 * The SQLite store: collections, documents, chunks, embeddings and the FTS5 sparse index,
 * all in one database so that one transaction changes them together. WAL mode; statements
 * are prepared once.
 */
/**
 * BM25 weights of the FTS5 columns title, heading and body. A document's title and a chunk's
 * heading path usually repeat words of the body and of each other (a first heading is often the
 * title), so each counts half a body occurrence. On SciFact, weights of 0.5, 0.5 and 1 gave
 * nDCG@10 0.694 against 0.686 for 2, 1.5 and 1, on both halves of the queries.
 */
const BM25_WEIGHTS = '0.5, 0.5, 1.0';

export class Store {
  readonly db: Database;
  private readonly statements: ReturnType<typeof prepareStatements>;
  private readonly cachedStatements = new Map<string, Statement>();

  private constructor(db: Database) {
    this.db = db;
    this.statements = prepareStatements(db);
  }

  /** Opens (creating if needed) `docent.db` in `dataDir` and applies pending migrations. */
  static open(dataDir: string): Store {
    mkdirSync(dataDir, { recursive: true });
    return Store.openFile(path.join(dataDir, 'docent.db'));
  }

  static openFile(file: string): Store {
    const db = new BetterSqlite3(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
    return new Store(db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Prepares a statement once per distinct SQL text; filtered queries vary only in a few shapes. */
  private prepareCached(sql: string): Statement {
    let statement = this.cachedStatements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.cachedStatements.set(sql, statement);
    }
    return statement;
  }

  // Collections

  /** Returns the named collection, creating it for `embedderId` when it does not exist. */
  ensureCollection(name: string, embedderId: string, dimension: number): CollectionRecord {
    validateCollectionName(name);
    this.statements.insertCollection.run(name, embedderId, dimension);
    const collection = this.getCollection(name);
    if (collection === undefined) throw new DocentError('INTERNAL', `Collection ${name} was not created`);
    return collection;
  }

  getCollection(name: string): CollectionRecord | undefined {
    const row = this.statements.collectionByName.get(name) as CollectionRowShape | undefined;
    return row === undefined ? undefined : toCollection(row);
  }

  getCollectionById(id: number): CollectionRecord | undefined {
    const row = this.statements.collectionById.get(id) as CollectionRowShape | undefined;
    return row === undefined ? undefined : toCollection(row);
  }

  /** Returns the named collection or raises NOT_FOUND listing the existing ones. */
  requireCollection(name: string): CollectionRecord {
    const collection = this.getCollection(name);
    if (collection !== undefined) return collection;
    const names = this.listCollections().map((existing) => existing.name);
    throw new DocentError(
      'NOT_FOUND',
      `Collection "${name}" not found. Existing collections: ${names.length > 0 ? names.join(', ') : 'none (ingest a document first)'}`,
    );
  }

  listCollections(): Array<CollectionRecord & { documentCount: number; chunkCount: number }> {
    const rows = this.statements.listCollections.all() as Array<
      CollectionRowShape & { document_count: number; chunk_count: number }
    >;
    return rows.map((row) => ({
      ...toCollection(row),
      documentCount: row.document_count,
      chunkCount: row.chunk_count,
    }));
  }

  /** Deletes a collection with its documents and chunks; returns the removed chunk ids. */
  deleteCollection(name: string): number[] {
    const collection = this.requireCollection(name);
    return this.db.transaction(() => {
      const chunkIds = (this.statements.chunkIdsOfCollection.all(collection.id) as Array<{ id: number }>).map(
        (row) => row.id,
      );
      for (const id of chunkIds) this.statements.deleteFts.run(id);
      this.statements.deleteCollection.run(collection.id);
      return chunkIds;
    })();
  }

  /** Points a collection at another embedder, for a reindex swap; bumps its dense version. */
  switchEmbedder(collectionId: number, embedderId: string, dimension: number): void {
    this.statements.switchEmbedder.run(embedderId, dimension, collectionId);
  }

  // Documents

  /**
   * Registers an upload in `queued` state, as the newest version of its source name. When the
   * same bytes are already in the collection, returns that document instead and `duplicate: true`.
   * The unique (collection, sha256) index serialises concurrent identical uploads.
   */
  createDocument(input: NewDocument): { document: DocumentRecord; duplicate: boolean } {
    return this.db
      .transaction(() => {
        const existing = this.statements.documentBySha.get(input.collectionId, input.sha256) as
          { id: string } | undefined;
        if (existing !== undefined) return { document: this.requireDocument(existing.id), duplicate: true };

        const id = randomUUID();
        this.statements.insertDocument.run({
          id,
          collectionId: input.collectionId,
          source: input.source,
          sha256: input.sha256,
          sizeBytes: input.sizeBytes,
          metadata: JSON.stringify(input.metadata),
        });
        return { document: this.requireDocument(id), duplicate: false };
      })
      .immediate();
  }

  getDocument(id: string): DocumentRecord | undefined {
    const row = this.statements.documentById.get(id) as DocumentRow | undefined;
    return row === undefined ? undefined : toDocument(row);
  }

  requireDocument(id: string): DocumentRecord {
    const document = this.getDocument(id);
    if (document === undefined) {
      throw new DocentError(
        'NOT_FOUND',
        `Document ${JSON.stringify(id)} not found. List documents with \`docent list\`.`,
      );
    }
    return document;
  }

  /** Returns the documents of a collection with this source name, newest first. */
  findDocumentsBySource(collectionId: number, source: string): DocumentRecord[] {
    return (this.statements.documentsBySource.all(collectionId, source) as DocumentRow[]).map(toDocument);
  }

  listDocuments(query: DocumentQuery = {}): DocumentRecord[] {
    const conditions: string[] = [];
    const parameters: Array<string | number> = [];
    if (query.collection !== undefined) {
      conditions.push('c.name = ?');
      parameters.push(query.collection);
    }
    if (query.status !== undefined) {
      conditions.push('d.status = ?');
      parameters.push(query.status);
    }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const rows = this.prepareCached(
      `SELECT ${DOCUMENT_COLUMNS} FROM documents d JOIN collections c ON c.id = d.collection_id ${where}
         ORDER BY d.created_at DESC, d.id LIMIT ? OFFSET ?`,
    ).all(...parameters, query.limit ?? 1000, query.offset ?? 0) as DocumentRow[];
    return rows.map(toDocument);
  }

  getDocumentText(id: string): string | undefined {
    const row = this.statements.documentText.get(id) as { text: string | null } | undefined;
    return row?.text ?? undefined;
  }

  getDocumentPages(id: string): PageSpan[] {
    const row = this.statements.documentPages.get(id) as { pages: string } | undefined;
    return row === undefined ? [] : (JSON.parse(row.pages) as PageSpan[]);
  }

  markProcessing(id: string): void {
    this.statements.setStatus.run('processing', null, null, id);
  }

  /**
   * Queues a failed document again as the newest version of its source name, because its bytes
   * were just uploaded again and must win over versions uploaded before them.
   */
  requeueAsNewestVersion(id: string): void {
    this.db.transaction(() => {
      this.statements.promoteToNewestVersion.run(id);
      this.statements.setStatus.run('queued', null, null, id);
    })();
  }

  /** Moves a queued or processing document to the newest version of its source name, keeping its status. */
  promoteToNewestVersion(id: string): void {
    this.statements.promoteToNewestVersion.run(id);
  }

  /** Returns the ids of the versions of the document's source name uploaded after it. */
  newerVersionIds(id: string): string[] {
    return (this.statements.newerVersions.all(id) as Array<{ id: string }>).map((row) => row.id);
  }

  /** Records a failed parse or ingest on the document; a `NEEDS_OCR` failure gets its own status. */
  markFailed(id: string, code: string, message: string): void {
    this.statements.setStatus.run(code === 'NEEDS_OCR' ? 'needs_ocr' : 'failed', code, message, id);
  }

  /**
   * Writes a prepared document in one transaction: chunks, FTS5 rows and embeddings, the
   * document's text and status, and the removal of every version with the same source name
   * that was uploaded before it. Returns the new chunk ids (in chunk order) and the chunk ids
   * removed with older versions.
   */
  applyPrepared(
    documentId: string,
    prepared: PreparedDocument,
  ): { chunkIds: number[]; removedChunkIds: number[] } {
    if (prepared.embeddings.length !== prepared.chunks.length) {
      throw new DocentError(
        'INTERNAL',
        `Document ${documentId} has ${prepared.chunks.length} chunks but ${prepared.embeddings.length} embeddings`,
      );
    }

    return this.db
      .transaction(() => {
        const document = this.requireDocument(documentId);
        const collection = this.getCollectionById(document.collectionId);
        if (collection === undefined)
          throw new DocentError('NOT_FOUND', `Collection of document ${documentId} not found`);
        if (collection.embedderId !== prepared.embedderId) {
          throw new DocentError(
            'CONFLICT',
            `Document ${documentId} was embedded with ${prepared.embedderId}, but collection "${collection.name}" uses ${collection.embedderId}. Ingest it again.`,
          );
        }

        const removedChunkIds = this.removeChunks(documentId);
        const title = prepared.title ?? document.source;
        const chunkIds: number[] = [];
        prepared.chunks.forEach((chunk, index) => {
          const result = this.statements.insertChunk.run(
            documentId,
            chunk.ordinal,
            chunk.text,
            chunk.page,
            chunk.pageEnd,
            chunk.start,
            chunk.end,
            chunk.tokenCount,
            JSON.stringify(chunk.headingPath),
            chunk.context,
          );
          const chunkId = Number(result.lastInsertRowid);
          chunkIds.push(chunkId);
          this.statements.insertFts.run(
            chunkId,
            toIndexText(title),
            toIndexText(chunk.context),
            toIndexText(chunk.text),
          );
          const vector = prepared.embeddings[index];
          if (vector === undefined || vector.length !== prepared.dimension) {
            throw new DocentError(
              'INTERNAL',
              `Embedding ${index} of document ${documentId} does not have ${prepared.dimension} dimensions`,
            );
          }
          this.statements.insertEmbedding.run(
            chunkId,
            prepared.embedderId,
            prepared.dimension,
            vectorToBlob(vector),
          );
        });

        // Only versions uploaded earlier are replaced. A later upload that is still being prepared
        // replaces this one when its own result is written.
        for (const older of this.statements.olderVersions.all(documentId) as Array<{ id: string }>) {
          removedChunkIds.push(...this.deleteDocumentRows(older.id));
        }

        this.statements.completeDocument.run(
          prepared.mediaType,
          prepared.title ?? null,
          prepared.text,
          JSON.stringify(prepared.pages),
          prepared.pages.length,
          prepared.chunks.length,
          JSON.stringify(prepared.warnings),
          documentId,
        );
        this.statements.bumpDenseVersion.run(document.collectionId);
        return { chunkIds, removedChunkIds };
      })
      .immediate();
  }

  /** Deletes a document with its chunks from every table; returns the removed chunk ids. */
  deleteDocument(id: string): { document: DocumentRecord; removedChunkIds: number[] } {
    return this.db
      .transaction(() => {
        const document = this.requireDocument(id);
        const removedChunkIds = this.deleteDocumentRows(id);
        this.statements.bumpDenseVersion.run(document.collectionId);
        return { document, removedChunkIds };
      })
      .immediate();
  }

  private deleteDocumentRows(id: string): number[] {
    const removed = this.removeChunks(id);
    this.statements.deleteDocument.run(id);
    return removed;
  }

  private removeChunks(documentId: string): number[] {
    const ids = (this.statements.chunkIdsOfDocument.all(documentId) as Array<{ id: number }>).map(
      (row) => row.id,
    );
    for (const id of ids) this.statements.deleteFts.run(id);
    this.statements.deleteChunks.run(documentId);
    return ids;
  }

  // Chunks

  getChunks(documentId: string, limit = 10_000, offset = 0): ChunkRecord[] {
    return (this.statements.chunksOfDocument.all(documentId, limit, offset) as ChunkRow[]).map(toChunk);
  }

  /** Returns chunks by id with their documents' fields, in the order of `ids`, skipping missing ones. */
  getChunksWithDocuments(ids: readonly number[]): ChunkWithDocument[] {
    if (ids.length === 0) return [];
    const rows = this.prepareCached(
      `SELECT ${CHUNK_COLUMNS}, d.source, d.title, d.metadata, c.name AS collection
         FROM chunks ch JOIN documents d ON d.id = ch.document_id JOIN collections c ON c.id = d.collection_id
         WHERE ch.id IN (SELECT value FROM json_each(?)) AND d.status = 'indexed'`,
    ).all(JSON.stringify(ids)) as ChunkWithDocumentRow[];
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.flatMap((id) => {
      const row = byId.get(id);
      if (row === undefined) return [];
      return [
        {
          ...toChunk(row),
          source: row.source,
          title: row.title,
          collection: row.collection,
          metadata: JSON.parse(row.metadata) as Record<string, unknown>,
        },
      ];
    });
  }

  countChunks(collectionId: number): number {
    return (this.statements.countChunks.get(collectionId) as { count: number }).count;
  }

  /**
   * Returns the ids of indexed chunks in a collection whose documents match the filter, or
   * undefined when there is no filter. An empty filter is no filter.
   */
  filterChunkIds(
    collectionId: number,
    filter: MetadataFilter | undefined,
    documentIds?: readonly string[],
  ): Set<number> | undefined {
    const entries = Object.entries(filter ?? {});
    if (entries.length === 0 && documentIds === undefined) return undefined;

    const { sql, parameters } = metadataFilterSql(entries, documentIds);
    const rows = this.prepareCached(
      `SELECT ch.id FROM chunks ch JOIN documents d ON d.id = ch.document_id
         WHERE d.collection_id = ? AND d.status = 'indexed' ${sql}`,
    ).all(collectionId, ...parameters) as Array<{ id: number }>;
    return new Set(rows.map((row) => row.id));
  }

  // Sparse index

  /**
   * Runs a BM25 query on the FTS5 index within one collection, best first. `match` must come
   * from `toMatchExpression`. Scores are FTS5 bm25 values negated, so higher is better.
   */
  searchSparse(
    collectionId: number,
    match: string,
    limit: number,
    filter?: MetadataFilter,
    documentIds?: readonly string[],
  ): Array<{ chunkId: number; score: number }> {
    const { sql, parameters } = metadataFilterSql(Object.entries(filter ?? {}), documentIds);
    const rows = this.prepareCached(
      `SELECT f.rowid AS chunkId, -bm25(chunks_fts, ${BM25_WEIGHTS}) AS score
         FROM chunks_fts f JOIN chunks ch ON ch.id = f.rowid JOIN documents d ON d.id = ch.document_id
         WHERE chunks_fts MATCH ? AND d.collection_id = ? AND d.status = 'indexed' ${sql}
         ORDER BY bm25(chunks_fts, ${BM25_WEIGHTS}), f.rowid LIMIT ?`,
    ).all(match, collectionId, ...parameters, limit) as Array<{ chunkId: number; score: number }>;
    return rows;
  }

  // Embeddings

  /**
   * Returns up to `limit` indexed chunks of a collection that have no vector from this embedder,
   * with the text embedded for them, for a reindex to embed in passes.
   */
  chunksWithoutEmbedding(
    collectionId: number,
    embedderId: string,
    limit = 5000,
  ): Array<{ id: number; text: string; context: string; title: string | null }> {
    return this.statements.chunksWithoutEmbedding.all(collectionId, embedderId, limit) as Array<{
      id: number;
      text: string;
      context: string;
      title: string | null;
    }>;
  }

  /** Iterates the stored vectors of a collection's indexed chunks for one embedder. */
  *iterateEmbeddings(
    collectionId: number,
    embedderId: string,
  ): Generator<{ chunkId: number; vector: Float32Array }> {
    const rows = this.statements.embeddingsOfCollection.iterate(
      collectionId,
      embedderId,
    ) as IterableIterator<{
      chunk_id: number;
      vector: Buffer;
    }>;
    for (const row of rows) yield { chunkId: row.chunk_id, vector: blobToVector(row.vector) };
  }

  getEmbedding(chunkId: number, embedderId: string): Float32Array | undefined {
    const row = this.statements.embeddingOfChunk.get(chunkId, embedderId) as { vector: Buffer } | undefined;
    return row === undefined ? undefined : blobToVector(row.vector);
  }

  /** Stores vectors for existing chunks under another embedder, for a reindex. */
  putEmbeddings(
    embedderId: string,
    dimension: number,
    entries: ReadonlyArray<{ chunkId: number; vector: Float32Array }>,
  ): void {
    this.db.transaction(() => {
      for (const entry of entries) {
        this.statements.upsertEmbedding.run(entry.chunkId, embedderId, dimension, vectorToBlob(entry.vector));
      }
    })();
  }

  /** Removes vectors of embedders other than `keepEmbedderId` for one collection, after a reindex swap. */
  dropOtherEmbeddings(collectionId: number, keepEmbedderId: string): void {
    this.statements.dropOtherEmbeddings.run(keepEmbedderId, collectionId);
  }

  getCachedEmbeddings(embedderId: string, hashes: readonly string[]): Map<string, Float32Array> {
    const found = new Map<string, Float32Array>();
    if (hashes.length === 0) return found;
    const rows = this.prepareCached(
      `SELECT text_hash, vector FROM embedding_cache WHERE embedder_id = ? AND text_hash IN (SELECT value FROM json_each(?))`,
    ).all(embedderId, JSON.stringify(hashes)) as Array<{ text_hash: string; vector: Buffer }>;
    for (const row of rows) found.set(row.text_hash, blobToVector(row.vector));
    return found;
  }

  putCachedEmbeddings(embedderId: string, entries: ReadonlyMap<string, Float32Array>): void {
    this.db.transaction(() => {
      for (const [hash, vector] of entries)
        this.statements.insertCache.run(embedderId, hash, vectorToBlob(vector));
    })();
  }
}

type CollectionRowShape = {
  id: number;
  name: string;
  embedder_id: string;
  dimension: number;
  dense_version: number;
  created_at: string;
};

function prepareStatements(db: Database) {
  const statement = (sql: string): Statement => db.prepare(sql);
  return {
    insertCollection: statement(
      `INSERT INTO collections (name, embedder_id, dimension) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING`,
    ),
    collectionByName: statement(`SELECT * FROM collections WHERE name = ?`),
    collectionById: statement(`SELECT * FROM collections WHERE id = ?`),
    listCollections: statement(
      `SELECT c.*, (SELECT count(*) FROM documents d WHERE d.collection_id = c.id) AS document_count,
         (SELECT count(*) FROM chunks ch JOIN documents d ON d.id = ch.document_id WHERE d.collection_id = c.id) AS chunk_count
       FROM collections c ORDER BY c.name`,
    ),
    deleteCollection: statement(`DELETE FROM collections WHERE id = ?`),
    switchEmbedder: statement(
      `UPDATE collections SET embedder_id = ?, dimension = ?, dense_version = dense_version + 1 WHERE id = ?`,
    ),
    bumpDenseVersion: statement(`UPDATE collections SET dense_version = dense_version + 1 WHERE id = ?`),
    documentBySha: statement(`SELECT id FROM documents WHERE collection_id = ? AND sha256 = ?`),
    documentById: statement(
      `SELECT ${DOCUMENT_COLUMNS} FROM documents d JOIN collections c ON c.id = d.collection_id WHERE d.id = ?`,
    ),
    documentsBySource: statement(
      `SELECT ${DOCUMENT_COLUMNS} FROM documents d JOIN collections c ON c.id = d.collection_id
       WHERE d.collection_id = ? AND d.source = ? ORDER BY d.source_version DESC`,
    ),
    documentText: statement(`SELECT text FROM documents WHERE id = ?`),
    documentPages: statement(`SELECT pages FROM documents WHERE id = ?`),
    insertDocument: statement(
      `INSERT INTO documents (id, collection_id, source, sha256, size_bytes, status, metadata, source_version)
       VALUES (@id, @collectionId, @source, @sha256, @sizeBytes, 'queued', @metadata,
         (SELECT COALESCE(MAX(source_version), 0) + 1 FROM documents WHERE collection_id = @collectionId AND source = @source))`,
    ),
    promoteToNewestVersion: statement(
      `UPDATE documents SET
         source_version = (SELECT MAX(other.source_version) + 1 FROM documents other
           WHERE other.collection_id = documents.collection_id AND other.source = documents.source),
         updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?`,
    ),
    newerVersions: statement(
      `SELECT newer.id FROM documents newer JOIN documents d ON d.id = ?
       WHERE newer.collection_id = d.collection_id AND newer.source = d.source AND newer.source_version > d.source_version`,
    ),
    olderVersions: statement(
      `SELECT older.id FROM documents older JOIN documents d ON d.id = ?
       WHERE older.collection_id = d.collection_id AND older.source = d.source AND older.source_version < d.source_version`,
    ),
    setStatus: statement(
      `UPDATE documents SET status = ?, error_code = ?, error_message = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?`,
    ),
    completeDocument: statement(
      `UPDATE documents SET status = 'indexed', error_code = NULL, error_message = NULL, media_type = ?, title = ?, text = ?,
         pages = ?, page_count = ?, chunk_count = ?, warnings = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
       WHERE id = ?`,
    ),
    deleteDocument: statement(`DELETE FROM documents WHERE id = ?`),
    insertChunk: statement(
      `INSERT INTO chunks (document_id, ordinal, text, page, page_end, start_offset, end_offset, token_count, heading_path, context)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    chunkIdsOfDocument: statement(`SELECT id FROM chunks WHERE document_id = ?`),
    chunkIdsOfCollection: statement(
      `SELECT ch.id FROM chunks ch JOIN documents d ON d.id = ch.document_id WHERE d.collection_id = ?`,
    ),
    deleteChunks: statement(`DELETE FROM chunks WHERE document_id = ?`),
    chunksOfDocument: statement(
      `SELECT ${CHUNK_COLUMNS} FROM chunks ch WHERE ch.document_id = ? ORDER BY ch.ordinal LIMIT ? OFFSET ?`,
    ),
    countChunks: statement(
      `SELECT count(*) AS count FROM chunks ch JOIN documents d ON d.id = ch.document_id WHERE d.collection_id = ? AND d.status = 'indexed'`,
    ),
    insertFts: statement(`INSERT INTO chunks_fts (rowid, title, heading, body) VALUES (?, ?, ?, ?)`),
    deleteFts: statement(`DELETE FROM chunks_fts WHERE rowid = ?`),
    insertEmbedding: statement(
      `INSERT INTO embeddings (chunk_id, embedder_id, dimension, vector) VALUES (?, ?, ?, ?)`,
    ),
    upsertEmbedding: statement(
      `INSERT INTO embeddings (chunk_id, embedder_id, dimension, vector) VALUES (?, ?, ?, ?)
       ON CONFLICT (chunk_id, embedder_id) DO UPDATE SET dimension = excluded.dimension, vector = excluded.vector`,
    ),
    embeddingsOfCollection: statement(
      `SELECT e.chunk_id, e.vector FROM embeddings e JOIN chunks ch ON ch.id = e.chunk_id JOIN documents d ON d.id = ch.document_id
       WHERE d.collection_id = ? AND e.embedder_id = ? AND d.status = 'indexed' ORDER BY e.chunk_id`,
    ),
    chunksWithoutEmbedding: statement(
      `SELECT ch.id, ch.text, ch.context, d.title FROM chunks ch JOIN documents d ON d.id = ch.document_id
       WHERE d.collection_id = ? AND d.status = 'indexed'
         AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.chunk_id = ch.id AND e.embedder_id = ?)
       ORDER BY ch.id LIMIT ?`,
    ),
    embeddingOfChunk: statement(`SELECT vector FROM embeddings WHERE chunk_id = ? AND embedder_id = ?`),
    dropOtherEmbeddings: statement(
      `DELETE FROM embeddings WHERE embedder_id != ? AND chunk_id IN
         (SELECT ch.id FROM chunks ch JOIN documents d ON d.id = ch.document_id WHERE d.collection_id = ?)`,
    ),
    insertCache: statement(
      `INSERT INTO embedding_cache (embedder_id, text_hash, vector) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
    ),
  };
}

function metadataFilterSql(
  entries: ReadonlyArray<[string, MetadataFilter[string]]>,
  documentIds: readonly string[] | undefined,
): { sql: string; parameters: Array<string | number> } {
  const clauses: string[] = [];
  const parameters: Array<string | number> = [];

  for (const [key, value] of entries) {
    if (!METADATA_KEY.test(key)) {
      throw new DocentError(
        'INVALID_ARGUMENT',
        `Invalid metadata filter key ${JSON.stringify(key)}: use letters, digits, '_', '.' or '-' (at most 64 characters)`,
      );
    }
    const values: ReadonlyArray<string | number | boolean> = Array.isArray(value)
      ? value
      : [value as string | number | boolean];
    if (values.length === 0) {
      clauses.push('0');
      continue;
    }
    // json_extract and json_each yield SQL values, so the string "1" does not match the number 1.
    clauses.push(`json_extract(d.metadata, ?) IN (SELECT value FROM json_each(?))`);
    parameters.push(`$."${key}"`, JSON.stringify(values));
  }

  if (documentIds !== undefined) {
    clauses.push(`d.id IN (SELECT value FROM json_each(?))`);
    parameters.push(JSON.stringify(documentIds));
  }
  return { sql: clauses.map((clause) => `AND ${clause}`).join(' '), parameters };
}

function validateCollectionName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      `Invalid collection name ${JSON.stringify(name)}: use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit`,
    );
  }
}

function toCollection(row: CollectionRowShape): CollectionRecord {
  return {
    id: row.id,
    name: row.name,
    embedderId: row.embedder_id,
    dimension: row.dimension,
    denseVersion: row.dense_version,
    createdAt: row.created_at,
  };
}

function toDocument(row: DocumentRow): DocumentRecord {
  return {
    id: row.id,
    collectionId: row.collection_id,
    collection: row.collection,
    source: row.source,
    mediaType: row.media_type,
    sha256: row.sha256,
    sizeBytes: row.size_bytes,
    status: row.status,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    title: row.title,
    pageCount: row.page_count,
    chunkCount: row.chunk_count,
    warnings: JSON.parse(row.warnings) as string[],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toChunk(row: ChunkRow): ChunkRecord {
  return {
    id: row.id,
    documentId: row.document_id,
    ordinal: row.ordinal,
    text: row.text,
    page: row.page,
    pageEnd: row.page_end,
    start: row.start_offset,
    end: row.end_offset,
    tokenCount: row.token_count,
    headingPath: JSON.parse(row.heading_path) as string[],
    context: row.context,
  };
}

export function vectorToBlob(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

export function blobToVector(blob: Buffer): Float32Array {
  // Copy, because a Buffer from better-sqlite3 may not be 4-byte aligned.
  const copy = new Uint8Array(blob.byteLength);
  copy.set(blob);
  return new Float32Array(copy.buffer);
}
