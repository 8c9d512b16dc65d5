/** Graded relevance judgments of one query: document id to gain (0 = not relevant). */
export type Judgments = ReadonlyMap<string, number>;

/** nDCG@k with gains as given and log2 discounts (the trec_eval and BEIR definition). */
export function ndcgAtK(ranked: readonly string[], judgments: Judgments, k: number): number {
  let dcg = 0;
  ranked.slice(0, k).forEach((id, index) => {
    const gain = judgments.get(id) ?? 0;
    if (gain > 0) dcg += gain / Math.log2(index + 2);
  });
  const ideal = [...judgments.values()]
    .filter((gain) => gain > 0)
    .sort((left, right) => right - left)
    .slice(0, k)
    .reduce((sum, gain, index) => sum + gain / Math.log2(index + 2), 0);
  return ideal === 0 ? 0 : dcg / ideal;
}

/** Share of the relevant documents found in the first k results. */
export function recallAtK(ranked: readonly string[], judgments: Judgments, k: number): number {
  const relevant = [...judgments.entries()].filter(([, gain]) => gain > 0).map(([id]) => id);
  if (relevant.length === 0) return 0;
  const top = new Set(ranked.slice(0, k));
  return relevant.filter((id) => top.has(id)).length / relevant.length;
}

/** Reciprocal rank of the first relevant document within the first k results, else 0. */
export function mrrAtK(ranked: readonly string[], judgments: Judgments, k: number): number {
  const index = ranked.slice(0, k).findIndex((id) => (judgments.get(id) ?? 0) > 0);
  return index < 0 ? 0 : 1 / (index + 1);
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length;
}
