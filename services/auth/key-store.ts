import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { DocentError } from '../../core/errors.ts';

/** Roles in increasing order of rights: a writer may do all a reader may, an admin all a writer may. */
export const ROLES = ['reader', 'writer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface ApiKeyRecord {
  readonly id: string;
  readonly role: Role;
  /** Collections the key may use; null means every collection. */
  readonly collections: readonly string[] | null;
  readonly label: string | null;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
}

/** Prefix of every key, so that leaked keys are easy to find in text, as with other vendors' tokens. */
const KEY_PREFIX = 'dk_';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    collections TEXT,
    label TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_used_at TEXT
  );
`;

interface KeyRow {
  id: string;
  hash: string;
  role: string;
  collections: string | null;
  label: string | null;
  created_at: string;
  last_used_at: string | null;
}

export function roleAtLeast(role: Role, required: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(required);
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * API keys in `auth.db` of the data folder. Only the SHA-256 of each key is stored: keys are
 * 32 random bytes, so a fast hash is enough and a stolen database reveals no usable key.
 * The plain key is returned once, by `create`.
 */
export class KeyStore {
  private readonly db: Database;
  private readonly lastUsedWrites = new Map<string, number>();

  private constructor(db: Database) {
    this.db = db;
    this.db.exec(SCHEMA);
  }

  static open(dataDir: string): KeyStore {
    mkdirSync(dataDir, { recursive: true });
    const db = new BetterSqlite3(path.join(dataDir, 'auth.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    return new KeyStore(db);
  }

  /** Creates a key and returns it in plain text with its record; the plain key cannot be read again. */
  create(options: { role: Role; collections?: readonly string[]; label?: string }): {
    key: string;
    record: ApiKeyRecord;
  } {
    if (!isRole(options.role)) {
      throw new DocentError(
        'INVALID_ARGUMENT',
        `Invalid role ${JSON.stringify(options.role)}: use one of ${ROLES.join(', ')}.`,
      );
    }
    const id = randomUUID();
    const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const collections =
      options.collections === undefined || options.collections.length === 0
        ? null
        : JSON.stringify([...new Set(options.collections)]);
    this.db
      .prepare('INSERT INTO api_keys (id, hash, role, collections, label) VALUES (?, ?, ?, ?, ?)')
      .run(id, hashKey(key), options.role, collections, options.label ?? null);
    return { key, record: this.require(id) };
  }

  /** Returns the record of a plain key, or undefined for an unknown key. */
  verify(key: string): ApiKeyRecord | undefined {
    if (!key.startsWith(KEY_PREFIX)) return undefined;
    const row = this.db.prepare('SELECT * FROM api_keys WHERE hash = ?').get(hashKey(key)) as
      KeyRow | undefined;
    if (row === undefined) return undefined;
    this.touch(row.id);
    return toRecord(row);
  }

  list(): ApiKeyRecord[] {
    return (this.db.prepare('SELECT * FROM api_keys ORDER BY created_at, id').all() as KeyRow[]).map(
      toRecord,
    );
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS count FROM api_keys').get() as { count: number }).count;
  }

  /** Deletes a key; raises NOT_FOUND for an unknown id. */
  revoke(id: string): void {
    const deleted = this.db.prepare('DELETE FROM api_keys WHERE id = ?').run(id);
    if (deleted.changes === 0) {
      throw new DocentError(
        'NOT_FOUND',
        `API key ${JSON.stringify(id)} not found. List keys with \`docent keys list\`.`,
      );
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private require(id: string): ApiKeyRecord {
    const row = this.db.prepare('SELECT * FROM api_keys WHERE id = ?').get(id) as KeyRow | undefined;
    if (row === undefined) throw new DocentError('NOT_FOUND', `API key ${JSON.stringify(id)} not found.`);
    return toRecord(row);
  }

  /** Records when a key was last used, at most once a minute per key to spare the disk. */
  private touch(id: string): void {
    const now = Date.now();
    if (now - (this.lastUsedWrites.get(id) ?? 0) < 60_000) return;
    this.lastUsedWrites.set(id, now);
    this.db
      .prepare(`UPDATE api_keys SET last_used_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?`)
      .run(id);
  }
}

function toRecord(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    role: isRole(row.role) ? row.role : 'reader',
    collections: row.collections === null ? null : (JSON.parse(row.collections) as string[]),
    label: row.label,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
  };
}
