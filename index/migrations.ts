import type { Database } from 'better-sqlite3';

/**
 * Schema migrations, applied in order inside one transaction each. `PRAGMA user_version`
 * records the last one applied. Never edit a released migration; append a new one.
 */
const migrations: readonly string[] = [
  `
  CREATE TABLE collections (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    embedder_id TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    dense_version INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
  );

  CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    media_type TEXT,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'indexed', 'failed', 'needs_ocr')),
    error_code TEXT,
    error_message TEXT,
    metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    title TEXT,
    text TEXT,
    pages TEXT NOT NULL DEFAULT '[]',
    page_count INTEGER NOT NULL DEFAULT 0,
    chunk_count INTEGER NOT NULL DEFAULT 0,
    warnings TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
  );
  CREATE UNIQUE INDEX documents_collection_sha256 ON documents(collection_id, sha256);
  CREATE INDEX documents_collection_source ON documents(collection_id, source);
  CREATE INDEX documents_status ON documents(status);

  CREATE TABLE chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    page INTEGER,
    page_end INTEGER,
    start_offset INTEGER NOT NULL,
    end_offset INTEGER NOT NULL,
    token_count INTEGER NOT NULL,
    heading_path TEXT NOT NULL DEFAULT '[]',
    context TEXT NOT NULL DEFAULT '',
    UNIQUE (document_id, ordinal)
  );

  CREATE TABLE embeddings (
    chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    embedder_id TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (chunk_id, embedder_id)
  ) WITHOUT ROWID;

  CREATE TABLE embedding_cache (
    embedder_id TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (embedder_id, text_hash)
  ) WITHOUT ROWID;

  CREATE VIRTUAL TABLE chunks_fts USING fts5(
    title, heading, body,
    content = '',
    contentless_delete = 1,
    tokenize = 'porter unicode61 remove_diacritics 2'
  );
  `,
  // Upload order of the versions of one source name, so that the version uploaded last wins however
  // their ingest jobs finish. Existing rows take their insertion order.
  `
  ALTER TABLE documents ADD COLUMN source_version INTEGER NOT NULL DEFAULT 0;
  UPDATE documents SET source_version = rowid;
  `,
];

export function migrate(db: Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let version = current; version < migrations.length; version += 1) {
    const sql = migrations[version];
    if (sql === undefined) break;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
