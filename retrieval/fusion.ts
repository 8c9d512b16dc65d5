/** One retriever's result list entry; lists are ordered best first. */
export interface RankedHit {
  readonly chunkId: number;
  readonly score: number;
}

export interface FusedHit {
  readonly chunkId: number;
  /** Fused score, higher is better. */
  readonly score: number;
  /** 1-based rank in the dense list, or null when the dense retriever did not return the chunk. */
  readonly denseRank: number | null;
  readonly sparseRank: number | null;
  readonly denseScore: number | null;
  readonly sparseScore: number | null;
}

export type Normalization = 'minmax' | 'zscore';

interface Entry {
  chunkId: number;
  denseRank: number | null;
  sparseRank: number | null;
  denseScore: number | null;
  sparseScore: number | null;
}

/** Collects both lists by chunk id, keeping each chunk's first (best) rank per list. */
function collect(dense: readonly RankedHit[], sparse: readonly RankedHit[]): Map<number, Entry> {
  const entries = new Map<number, Entry>();
  const entryOf = (chunkId: number): Entry => {
    let entry = entries.get(chunkId);
    if (entry === undefined) {
      entry = { chunkId, denseRank: null, sparseRank: null, denseScore: null, sparseScore: null };
      entries.set(chunkId, entry);
    }
    return entry;
  };
  dense.forEach((hit, index) => {
    const entry = entryOf(hit.chunkId);
    if (entry.denseRank === null) {
      entry.denseRank = index + 1;
      entry.denseScore = hit.score;
    }
  });
  sparse.forEach((hit, index) => {
    const entry = entryOf(hit.chunkId);
    if (entry.sparseRank === null) {
      entry.sparseRank = index + 1;
      entry.sparseScore = hit.score;
    }
  });
  return entries;
}

/**
 * Orders fused hits by score, breaking ties by the best rank in either list and then by
 * chunk id, so equal inputs always give the same order.
 */
function sortFused(hits: FusedHit[]): FusedHit[] {
  const bestRank = (hit: FusedHit): number => Math.min(hit.denseRank ?? Infinity, hit.sparseRank ?? Infinity);
  return hits.sort(
    (left, right) =>
      right.score - left.score || bestRank(left) - bestRank(right) || left.chunkId - right.chunkId,
  );
}

/** Turns one retriever's list into fused hits that keep its scores and ranks, for dense-only or sparse-only search. */
export function singleList(hits: readonly RankedHit[], side: 'dense' | 'sparse'): FusedHit[] {
  const entries = side === 'dense' ? collect(hits, []) : collect([], hits);
  return [...entries.values()].map((entry) => ({
    ...entry,
    score: (side === 'dense' ? entry.denseScore : entry.sparseScore) ?? 0,
  }));
}

/**
 * Reciprocal rank fusion: score = Σ 1 / (k + rank) over the lists that contain the chunk
 * (Cormack, Clarke and Büttcher, SIGIR 2009). Fuses by chunk id.
 */
export function reciprocalRankFusion(
  dense: readonly RankedHit[],
  sparse: readonly RankedHit[],
  k: number,
): FusedHit[] {
  const fused: FusedHit[] = [];
  for (const entry of collect(dense, sparse).values()) {
    const score =
      (entry.denseRank === null ? 0 : 1 / (k + entry.denseRank)) +
      (entry.sparseRank === null ? 0 : 1 / (k + entry.sparseRank));
    fused.push({ ...entry, score });
  }
  return sortFused(fused);
}

/**
 * Normalised weighted fusion: each list's scores are normalised once (min-max to [0, 1], or
 * z-score), then score = alpha · dense + (1 − alpha) · sparse. A chunk missing from one
 * list gets that list's lowest normalised value (0 for min-max, the list minimum for z-score).
 */
export function weightedFusion(
  dense: readonly RankedHit[],
  sparse: readonly RankedHit[],
  alpha: number,
  normalization: Normalization,
): FusedHit[] {
  const denseNormalized = normalize(
    dense.map((hit) => hit.score),
    normalization,
  );
  const sparseNormalized = normalize(
    sparse.map((hit) => hit.score),
    normalization,
  );
  const denseFloor = normalization === 'minmax' ? 0 : minimum(denseNormalized);
  const sparseFloor = normalization === 'minmax' ? 0 : minimum(sparseNormalized);

  const fused: FusedHit[] = [];
  for (const entry of collect(dense, sparse).values()) {
    const denseValue =
      entry.denseRank === null ? denseFloor : (denseNormalized[entry.denseRank - 1] ?? denseFloor);
    const sparseValue =
      entry.sparseRank === null ? sparseFloor : (sparseNormalized[entry.sparseRank - 1] ?? sparseFloor);
    fused.push({ ...entry, score: alpha * denseValue + (1 - alpha) * sparseValue });
  }
  return sortFused(fused);
}

/**
 * Normalises scores. A list whose scores are all equal (including a single hit) maps to 1 for
 * min-max and 0 for z-score, because there is no spread to scale by. An empty list stays empty.
 */
export function normalize(scores: readonly number[], normalization: Normalization): number[] {
  if (scores.length === 0) return [];
  if (normalization === 'minmax') {
    const low = minimum(scores);
    const high = Math.max(...scores);
    const range = high - low;
    return scores.map((score) => (range === 0 ? 1 : (score - low) / range));
  }
  const mean = scores.reduce((sum, score) => sum + score, 0) / scores.length;
  const variance = scores.reduce((sum, score) => sum + (score - mean) ** 2, 0) / scores.length;
  const deviation = Math.sqrt(variance);
  return scores.map((score) => (deviation === 0 ? 0 : (score - mean) / deviation));
}

function minimum(values: readonly number[]): number {
  return values.length === 0 ? 0 : Math.min(...values);
}
