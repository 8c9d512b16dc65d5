import type { SourceChunk } from '../types.ts';
import { contentTerms, isStopword, splitSentences, tokenize } from '../text.ts';

export interface SentenceSelectionOptions {
  /** Maximum number of sentences in an answer. Default 3. */
  readonly maxSentences?: number;
  /** Number of top-ranked sources whose sentences are considered. Default 5. */
  readonly maxSources?: number;
  /**
   * Minimum score (0..about 1.3) of the best sentence. Below it the sources are taken not to
   * contain an answer. Default 0.45.
   */
  readonly minScore?: number;
  /** A further sentence from the best sentence's chunk must score at least this share of the best. Default 0.6. */
  readonly sameChunkRatio?: number;
  /** A further sentence from another chunk must score at least this share of the best. Default 0.9. */
  readonly otherChunkRatio?: number;
}

/** A sentence chosen for an answer, with its offsets inside its source chunk's text. */
export interface SelectedSentence {
  readonly source: SourceChunk;
  readonly start: number;
  readonly end: number;
  readonly text: string;
  readonly score: number;
}

export interface SentenceSelection {
  /** Chosen sentences in answer order; empty when the sources do not support an answer. */
  readonly sentences: readonly SelectedSentence[];
  /** Score of the best candidate sentence, 0 when there was none. */
  readonly bestScore: number;
}

interface Candidate {
  readonly source: SourceChunk;
  readonly rank: number;
  readonly start: number;
  readonly end: number;
  readonly text: string;
  /** Content terms in order, with repeats. */
  readonly terms: readonly string[];
  readonly termSet: ReadonlySet<string>;
  score: number;
}

const K1 = 1.2;
const B = 0.75;

/**
 * Picks the sentences of the sources that best answer the question: BM25 over sentences (with
 * IDF from the candidate sentences), question-term coverage of the sentence and of its chunk,
 * proximity of the matched terms, a small bonus for a higher-ranked chunk, and a penalty for
 * very short or very long sentences. Returns no sentences when the best score is under `minScore`.
 */
export function selectSentences(
  question: string,
  sources: readonly SourceChunk[],
  options: SentenceSelectionOptions = {},
): SentenceSelection {
  const maxSentences = options.maxSentences ?? 3;
  const minScore = options.minScore ?? 0.45;
  const sameChunkRatio = options.sameChunkRatio ?? 0.6;
  const otherChunkRatio = options.otherChunkRatio ?? 0.9;

  const queryTerms = contentTerms(question);
  const candidates = collectCandidates(sources.slice(0, options.maxSources ?? 5));
  if (queryTerms.length === 0 || candidates.length === 0) return { sentences: [], bestScore: 0 };

  scoreCandidates(queryTerms, candidates);
  const ranked = [...candidates].sort((a, b) => b.score - a.score);
  const best = ranked[0];
  if (best === undefined || best.score < minScore) return { sentences: [], bestScore: best?.score ?? 0 };

  const chosen: Candidate[] = [best];
  for (const candidate of ranked.slice(1)) {
    if (chosen.length >= maxSentences) break;
    const ratio = candidate.source.n === best.source.n ? sameChunkRatio : otherChunkRatio;
    if (candidate.score < ratio * best.score) continue;
    if (chosen.some((other) => isNearDuplicate(other, candidate))) continue;
    chosen.push(candidate);
  }

  return { sentences: orderForReading(chosen).map(toSelected), bestScore: best.score };
}

function collectCandidates(sources: readonly SourceChunk[]): Candidate[] {
  const candidates: Candidate[] = [];
  sources.forEach((source, rank) => {
    for (const sentence of splitSentences(source.text)) {
      const terms = tokenize(sentence.text)
        .map((token) => token.term)
        .filter((term) => !isStopword(term));
      if (terms.length === 0) continue;
      candidates.push({ source, rank, ...sentence, terms, termSet: new Set(terms), score: 0 });
    }
  });
  return candidates;
}

function scoreCandidates(queryTerms: readonly string[], candidates: readonly Candidate[]): void {
  const documentFrequency = new Map<string, number>();
  for (const candidate of candidates) {
    for (const term of candidate.termSet) documentFrequency.set(term, (documentFrequency.get(term) ?? 0) + 1);
  }
  const count = candidates.length;
  // A query term found in no sentence gets the highest IDF, so missing terms weigh most against coverage.
  const idf = (term: string): number => {
    const frequency = documentFrequency.get(term) ?? 0;
    return Math.log(1 + (count - frequency + 0.5) / (frequency + 0.5));
  };
  const queryWeights = queryTerms.map((term) => ({ term, weight: idf(term) }));
  const totalWeight = queryWeights.reduce((sum, entry) => sum + entry.weight, 0);
  const averageLength = candidates.reduce((sum, candidate) => sum + candidate.terms.length, 0) / count;

  const chunkCoverage = new Map<number, number>();
  for (const candidate of candidates) {
    if (chunkCoverage.has(candidate.source.n)) continue;
    const chunkTerms = new Set(
      contentTerms(`${candidate.source.headingPath.join(' ')} ${candidate.source.text}`),
    );
    chunkCoverage.set(candidate.source.n, coverage(queryWeights, totalWeight, chunkTerms));
  }

  const bm25Scores = candidates.map((candidate) => bm25(queryWeights, candidate, averageLength));
  const maxBm25 = bm25Scores.reduce((max, score) => Math.max(max, score), 0);

  candidates.forEach((candidate, i) => {
    const sentenceCoverage = coverage(queryWeights, totalWeight, candidate.termSet);
    const normalizedBm25 = maxBm25 > 0 ? (bm25Scores[i] ?? 0) / maxBm25 : 0;
    const proximity = proximityOf(queryTerms, candidate.terms);
    const rankBonus = 0.05 / (1 + candidate.rank);

    const relevance =
      0.6 * sentenceCoverage +
      0.25 * (chunkCoverage.get(candidate.source.n) ?? 0) +
      0.15 * normalizedBm25 * sentenceCoverage +
      0.1 * proximity * sentenceCoverage;
    candidate.score = relevance * lengthFactor(candidate.terms.length) + rankBonus;
  });
}

/** IDF-weighted share of the query terms present in `terms`, 0..1. */
function coverage(
  queryWeights: readonly { term: string; weight: number }[],
  totalWeight: number,
  terms: ReadonlySet<string>,
): number {
  if (totalWeight <= 0) return 0;
  let found = 0;
  for (const { term, weight } of queryWeights) if (terms.has(term)) found += weight;
  return found / totalWeight;
}

function bm25(
  queryWeights: readonly { term: string; weight: number }[],
  candidate: Candidate,
  averageLength: number,
): number {
  let score = 0;
  for (const { term, weight } of queryWeights) {
    let frequency = 0;
    for (const sentenceTerm of candidate.terms) if (sentenceTerm === term) frequency += 1;
    if (frequency === 0) continue;
    score +=
      (weight * frequency * (K1 + 1)) /
      (frequency + K1 * (1 - B + (B * candidate.terms.length) / averageLength));
  }
  return score;
}

/**
 * Returns matched distinct query terms divided by the length of the shortest run of sentence
 * terms containing all of them, 0..1: 1 when the matched terms sit next to each other.
 */
function proximityOf(queryTerms: readonly string[], terms: readonly string[]): number {
  const wanted = new Set(queryTerms);
  const matched = new Set(terms.filter((term) => wanted.has(term)));
  if (matched.size < 2) return 0;

  const counts = new Map<string, number>();
  let covered = 0;
  let shortest = Number.POSITIVE_INFINITY;
  let left = 0;
  for (let right = 0; right < terms.length; right += 1) {
    const term = terms[right] ?? '';
    if (matched.has(term)) {
      const seen = counts.get(term) ?? 0;
      if (seen === 0) covered += 1;
      counts.set(term, seen + 1);
    }
    while (covered === matched.size) {
      shortest = Math.min(shortest, right - left + 1);
      const leftTerm = terms[left] ?? '';
      if (matched.has(leftTerm)) {
        const seen = (counts.get(leftTerm) ?? 1) - 1;
        counts.set(leftTerm, seen);
        if (seen === 0) covered -= 1;
      }
      left += 1;
    }
  }
  return matched.size / shortest;
}

/** Penalises fragments (headings, list labels) and run-on sentences, which make poor answers. */
function lengthFactor(termCount: number): number {
  if (termCount < 3) return 0.6;
  if (termCount < 5) return 0.85;
  if (termCount > 80) return 0.7;
  if (termCount > 50) return 0.9;
  return 1;
}

function isNearDuplicate(a: Candidate, b: Candidate): boolean {
  let shared = 0;
  for (const term of a.termSet) if (b.termSet.has(term)) shared += 1;
  const union = a.termSet.size + b.termSet.size - shared;
  return union === 0 || shared / union > 0.8;
}

/** Orders chunks by their best chosen sentence and sentences inside a chunk by position. */
function orderForReading(chosen: readonly Candidate[]): Candidate[] {
  const chunkOrder: number[] = [];
  for (const candidate of chosen)
    if (!chunkOrder.includes(candidate.source.n)) chunkOrder.push(candidate.source.n);
  return [...chosen].sort(
    (a, b) => chunkOrder.indexOf(a.source.n) - chunkOrder.indexOf(b.source.n) || a.start - b.start,
  );
}

function toSelected(candidate: Candidate): SelectedSentence {
  return {
    source: candidate.source,
    start: candidate.start,
    end: candidate.end,
    text: candidate.text,
    score: candidate.score,
  };
}
