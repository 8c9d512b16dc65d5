import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { DocentError } from '../../core/errors.ts';
import { describeRedisUrl, whenReady } from './redis-connection.ts';

/**
 * Bytes that a job needs but that are too large for its payload: uploaded files on their way
 * to an `ingest` worker, and large job results on their way to the owner process.
 *
 * Both stores address blobs by content (`sha256:<hex>`), so storing the same bytes twice
 * yields the same reference and keeps one copy. Deleting a reference therefore removes the
 * bytes for every holder of it: delete a blob only once no stored document or pending job
 * refers to its reference.
 *
 * Which store to use follows from where the workers run:
 * - FileBlobStore (embedded mode): every worker runs in the process that received the upload,
 *   so files under DOCENT_DATA_DIR/blobs are read directly and kept until deleted.
 * - RedisBlobStore (Redis mode): `ingest` workers may run on other machines, and the Redis
 *   server they already share is the one store all of them reach. Blobs expire after a TTL so
 *   that bytes of abandoned jobs do not fill the server's memory, and their size is capped.
 */
export interface BlobStore {
  /** Stores `bytes` and returns their reference. */
  put(bytes: Uint8Array): Promise<string>;
  /** Returns the bytes of `ref`. Raises NOT_FOUND when they were deleted or expired. */
  get(ref: string): Promise<Uint8Array>;
  /** Removes the bytes of `ref`. Removing a missing blob is not an error. */
  delete(ref: string): Promise<void>;
  close(): Promise<void>;
}

const REF_PATTERN = /^sha256:([0-9a-f]{64})$/;

export function blobRefOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Returns the hex digest of `ref`. Raises INVALID_ARGUMENT for anything but `sha256:<64 hex>`. */
function digestOf(ref: string): string {
  const match = REF_PATTERN.exec(ref);
  if (match?.[1] === undefined) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      `Invalid blob reference ${JSON.stringify(ref)}: expected "sha256:" and 64 lowercase hex digits.`,
    );
  }
  return match[1];
}

/** Files under `directory`, named by digest and spread over 256 subdirectories. */
export class FileBlobStore implements BlobStore {
  private readonly directory: string;

  constructor(directory: string) {
    this.directory = directory;
  }

  async put(bytes: Uint8Array): Promise<string> {
    const ref = blobRefOf(bytes);
    const file = this.fileOf(ref);
    if (await exists(file)) return ref;

    // Write to a unique temporary name and rename it into place: rename is atomic within a
    // file system, so readers never see a partial blob, and concurrent writers of the same
    // bytes both end with the same complete file.
    await mkdir(path.dirname(file), { recursive: true });
    const temporary = `${file}.${randomUUID()}.tmp`;
    try {
      await writeFile(temporary, bytes, { flag: 'wx' });
      await rename(temporary, file);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    return ref;
  }

  async get(ref: string): Promise<Uint8Array> {
    const file = this.fileOf(ref);
    try {
      return new Uint8Array(await readFile(file));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new DocentError(
          'NOT_FOUND',
          `Blob ${ref} not found in ${this.directory}; upload the file again.`,
        );
      }
      throw error;
    }
  }

  async delete(ref: string): Promise<void> {
    await rm(this.fileOf(ref), { force: true });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private fileOf(ref: string): string {
    const digest = digestOf(ref);
    return path.join(this.directory, digest.slice(0, 2), digest);
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

export interface RedisBlobStoreOptions {
  /** Client without offline queue (see openCommandConnection), closed by the store only with `ownsClient`. */
  readonly client: Redis;
  /** The client's URL, named in errors without its credentials. */
  readonly url: string;
  readonly ownsClient?: boolean;
  /** Key prefix, e.g. `docent`. Blobs live under `<prefix>:blob:<hex>`. */
  readonly prefix: string;
  readonly ttlSeconds: number;
  readonly maxBytes: number;
  /** Time a command waits for a lost connection before raising QUEUE_UNAVAILABLE, 3000 ms by default. */
  readonly readyTimeoutMs?: number;
}

/** Blobs as Redis strings with a TTL, reachable by workers on any machine. */
export class RedisBlobStore implements BlobStore {
  private readonly options: RedisBlobStoreOptions;

  constructor(options: RedisBlobStoreOptions) {
    this.options = options;
  }

  async put(bytes: Uint8Array): Promise<string> {
    if (bytes.byteLength > this.options.maxBytes) {
      throw new DocentError(
        'PAYLOAD_TOO_LARGE',
        `Blob of ${bytes.byteLength} bytes exceeds the Redis blob limit of ${this.options.maxBytes} bytes; raise DOCENT_BLOB_MAX_BYTES or send a smaller file.`,
      );
    }
    const ref = blobRefOf(bytes);
    // Storing known bytes again only renews their TTL.
    await this.command(() =>
      this.options.client.set(
        this.keyOf(ref),
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        'EX',
        this.options.ttlSeconds,
      ),
    );
    return ref;
  }

  async get(ref: string): Promise<Uint8Array> {
    const key = this.keyOf(ref);
    const value = await this.command(() => this.options.client.getBuffer(key));
    if (value === null) {
      throw new DocentError(
        'NOT_FOUND',
        `Blob ${ref} not found in Redis: it was deleted or expired after ${this.options.ttlSeconds} s; upload the file again.`,
      );
    }
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }

  async delete(ref: string): Promise<void> {
    const key = this.keyOf(ref);
    await this.command(() => this.options.client.del(key));
  }

  async close(): Promise<void> {
    if (this.options.ownsClient === true) await this.options.client.quit().catch(() => undefined);
  }

  private keyOf(ref: string): string {
    return `${this.options.prefix}:blob:${digestOf(ref)}`;
  }

  private async command<T>(run: () => Promise<T>): Promise<T> {
    await whenReady(this.options.client, this.options.readyTimeoutMs ?? 3000, this.options.url);
    try {
      return await run();
    } catch (error) {
      throw new DocentError(
        'QUEUE_UNAVAILABLE',
        `Redis command to ${describeRedisUrl(this.options.url)} failed: ${(error as Error).message}; retry once Redis is back.`,
        { cause: error },
      );
    }
  }
}
