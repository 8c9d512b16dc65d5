import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileBlobStore } from './blob-store.ts';
import { registerBlobStoreConformance } from './conformance.ts';

describe('FileBlobStore', () => {
  let directory: string;

  registerBlobStoreConformance(async () => {
    directory = await mkdtemp(path.join(tmpdir(), 'docent-blobs-'));
    return {
      store: new FileBlobStore(path.join(directory, 'blobs')),
      destroy: () => rm(directory, { recursive: true, force: true }),
    };
  });

  it('leaves no temporary files behind', async () => {
    const store = new FileBlobStore(path.join(directory, 'blobs'));
    const bytes = new TextEncoder().encode('concurrent writers');

    const refs = await Promise.all([1, 2, 3, 4].map(() => store.put(bytes)));

    expect(new Set(refs).size).toBe(1);
    const digest = (refs[0] ?? '').slice('sha256:'.length);
    expect(await readdir(path.join(directory, 'blobs', digest.slice(0, 2)))).toEqual([digest]);
  });
});
