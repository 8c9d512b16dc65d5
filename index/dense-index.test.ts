import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { seededRandom } from '../bench/stats.ts';
import { DenseIndex } from './dense-index.ts';
import { Store } from './store.ts';

const DIMENSION = 64;
const folders: string[] = [];

afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function openIndex(): { dense: DenseIndex; store: Store } {
  const folder = mkdtempSync(path.join(tmpdir(), 'docent-dense-'));
  folders.push(folder);
  const store = Store.open(folder);
  const collection = store.ensureCollection('default', 'test', DIMENSION);
  const dense = DenseIndex.open(
    store,
    collection,
    path.join(folder, 'dense'),
    { m: 16, efConstruction: 200, efSearch: 10 },
    silentLogger,
  );
  return { dense, store };
}

/** Unit vectors spread around one centre, like chunks of one manual. */
function clusteredVectors(count: number, random: () => number): Float32Array[] {
  const centre = Array.from({ length: DIMENSION }, () => random() - 0.5);
  return Array.from({ length: count }, () =>
    normalise(centre.map((value) => value + 0.3 * (random() - 0.5))),
  );
}

function normalise(values: number[]): Float32Array {
  const norm = Math.hypot(...values);
  return Float32Array.from(values, (value) => value / norm);
}

describe('DenseIndex', () => {
  it('finds a chunk unlike all others', () => {
    const { dense, store } = openIndex();
    const random = seededRandom(3);
    const cluster = clusteredVectors(2000, random);
    dense.add(cluster.map((vector, index) => ({ chunkId: index + 1, vector })));
    const outlier = normalise(Array.from({ length: DIMENSION }, () => random() - 0.5));
    dense.add([{ chunkId: 5000, vector: outlier }]);

    const hits = dense.search(outlier, 5, store);
    expect(hits[0]?.chunkId).toBe(5000);
    expect(hits[0]?.score).toBeCloseTo(1, 5);
    store.close();
  });

  it('drops removed chunks and honours the allowed set', () => {
    const { dense, store } = openIndex();
    const vectors = clusteredVectors(50, seededRandom(5));
    dense.add(vectors.map((vector, index) => ({ chunkId: index + 1, vector })));
    dense.remove([1]);

    expect(dense.search(vectors[0]!, 50, store).map((hit) => hit.chunkId)).not.toContain(1);
    const allowed = new Set([2, 3]);
    expect(new Set(dense.search(vectors[0]!, 10, store, allowed).map((hit) => hit.chunkId))).toEqual(allowed);
    store.close();
  });
});
