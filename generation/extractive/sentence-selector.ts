import type { SourceChunk } from '../types.ts';
import { contentTerms, isCharacterToken, isStopword, splitSentences, tokenize } from '../text.ts';

/** Weights of the parts of a sentence's score. */
export interface ScoreWeights {
  /** IDF-weighted share of the question's terms found in the sentence. */
  readonly sentenceCoverage: number;
  /** IDF-weighted share of the question's terms found anywhere in the sentence's chunk and its heading path. */
  readonly chunkCoverage: number;
  /** BM25 of the sentence, divided by the best sentence's BM25 and multiplied by its coverage. */
  readonly bm25: number;
  /** Closeness of the matched terms inside the sentence, multiplied by coverage. */
  readonly proximity: number;
  /** Added as `rank / (1 + chunk rank)`, so the retriever's order breaks near-ties. */
  readonly rank: number;
  /** Factor applied to a sentence lacking the kind of answer the question asks for (a date for "when"). */
  readonly answerTypeMiss: number;
}

// NOTE: the weights were tuned on XQuAD-en with the BM25 search of eval/answers.ts, and minScore
// re-measured with the hybrid retriever (`docent eval answers`); other corpora may need other values.
/** Default `minCoverage`; see SentenceSelectionOptions. */
export const MIN_COVERAGE = 0.2;

export const DEFAULT_SCORE_WEIGHTS: ScoreWeights = Object.freeze({
  sentenceCoverage: 0.6,
  chunkCoverage: 0.5,
  bm25: 0.15,
  proximity: 0.1,
  rank: 0.5,
  answerTypeMiss: 0.75,
});

export interface SentenceSelectionOptions {
  /** Maximum number of sentences in an answer. Default 3. */
  readonly maxSentences?: number;
  /** Number of top-ranked sources whose sentences are considered. Default 5. */
  readonly maxSources?: number;
  /**
   * Minimum score of the best sentence. Below it the sources are taken not to contain an answer.
   * With the default weights scores run from 0 to about 1.85. Default 0.78.
   */
  readonly minScore?: number;
  /**
   * `minScore` for a question written mostly in Han or kana characters. Coverage counted in single
   * characters runs higher on unrelated passages than coverage counted in words. Default 1.0.
   */
  readonly characterMinScore?: number;
  /**
   * Minimum IDF-weighted share of the question's content terms that the best sentence must
   * contain. It stops a top-ranked chunk from carrying a sentence that matches one rare word only
   * (e.g. "mar" for a question about Mars). Default MIN_COVERAGE.
   */
  readonly minCoverage?: number;
  /**
   * A further sentence from the best sentence's chunk must reach this share of the best sentence's
   * own relevance (the score without the chunk-level parts). Default 0.1.
   */
  readonly sameChunkRatio?: number;
  /**
   * Minimum score of the best sentence for the answer to quote further sentences. A less certain
   * answer quotes one sentence, so that a wrong chunk yields one wrong citation, not three. Default 0.92.
   */
  readonly moreSentencesMinScore?: number;
  /** A further sentence from another chunk must reach this share of the best full score. Default 0.95. */
  readonly otherChunkRatio?: number;
  readonly weights?: Partial<ScoreWeights>;
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
  /** Full score: sentence relevance plus the chunk's coverage and rank. */
  score: number;
  /** The part of the score that comes from the sentence itself. */
  sentenceScore: number;
  /** IDF-weighted share of the question's content terms found in the sentence, 0..1. */
  coverage: number;
}

const K1 = 1.2;
const B = 0.75;

/**
 * Picks the sentences of the sources that best answer the question. The score of a sentence
 * combines the question-term coverage of the sentence and of its chunk (IDF over the candidate
 * sentences), its BM25, the proximity of the matched terms and the chunk's rank. A sentence without
 * the kind of answer requested, or a very short or long one, scores less. Returns no sentences
 * when the best score is under `minScore`.
 */
export function selectSentences(
  question: string,
  sources: readonly SourceChunk[],
  options: SentenceSelectionOptions = {},
): SentenceSelection {
  const maxSentences = options.maxSentences ?? 3;
  const minScore = isMostlyCharacterTokens(question)
    ? (options.characterMinScore ?? 1.0)
    : (options.minScore ?? 0.78);
  const moreSentencesMinScore = options.moreSentencesMinScore ?? 0.92;
  const sameChunkRatio = options.sameChunkRatio ?? 0.1;
  const otherChunkRatio = options.otherChunkRatio ?? 0.95;

  const queryTerms = contentTerms(question);
  const candidates = collectCandidates(sources.slice(0, options.maxSources ?? 5));
  if (queryTerms.length === 0 || candidates.length === 0) return { sentences: [], bestScore: 0 };

  const weights = { ...DEFAULT_SCORE_WEIGHTS, ...options.weights };
  scoreCandidates(question, queryTerms, candidates, weights);
  const ranked = [...candidates].sort((a, b) => b.score - a.score);
  const best = ranked[0];
  if (
    best === undefined ||
    best.score < minScore ||
    best.coverage < (options.minCoverage ?? MIN_COVERAGE) ||
    matchedTerms(queryTerms, best) < Math.min(2, new Set(queryTerms).size)
  ) {
    return { sentences: [], bestScore: best?.score ?? 0 };
  }

  const chosen: Candidate[] = [best];
  for (const candidate of ranked.slice(1)) {
    if (chosen.length >= maxSentences || best.score < moreSentencesMinScore) break;
    // A sentence of the best sentence's chunk competes on its own relevance, because the chunk-level
    // parts of their scores are equal. A sentence of another chunk must come close on the full score.
    const sameChunk = candidate.source === best.source;
    if (sameChunk && candidate.sentenceScore < sameChunkRatio * best.sentenceScore) continue;
    if (!sameChunk && candidate.score < otherChunkRatio * best.score) continue;
    if (chosen.some((other) => isNearDuplicate(other, candidate))) continue;
    chosen.push(candidate);
  }

  return { sentences: orderForReading(chosen).map(toSelected), bestScore: best.score };
}

function isMostlyCharacterTokens(text: string): boolean {
  const tokens = tokenize(text);
  const characterTokens = tokens.filter((token) => isCharacterToken(token.term)).length;
  return characterTokens > tokens.length / 2;
}

function collectCandidates(sources: readonly SourceChunk[]): Candidate[] {
  const candidates: Candidate[] = [];
  sources.forEach((source, rank) => {
    // A heading inside the chunk text ("2.3.5 System wide upgrade") only names its section,
    // so it is never quoted.
    const headings = new Set(source.headingPath.map((heading) => heading.trim()));
    for (const sentence of splitSentences(source.text)) {
      const terms = tokenize(sentence.text)
        .map((token) => token.term)
        .filter((term) => !isStopword(term));
      if (terms.length === 0 || isHeadingLike(sentence.text, terms.length)) continue;
      if (headings.has(sentence.text.trim())) continue;
      candidates.push({
        source,
        rank,
        ...sentence,
        terms,
        termSet: new Set(terms),
        score: 0,
        sentenceScore: 0,
        coverage: 0,
      });
    }
  });
  return candidates;
}

function scoreCandidates(
  question: string,
  queryTerms: readonly string[],
  candidates: readonly Candidate[],
  weights: ScoreWeights,
): void {
  const answerType = expectedAnswerType(question);
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
    const sentenceRelevance =
      weights.sentenceCoverage * sentenceCoverage +
      weights.bm25 * normalizedBm25 * sentenceCoverage +
      weights.proximity * proximityOf(queryTerms, candidate.terms) * sentenceCoverage;

    const matchesType = answerType === undefined || matchesAnswerType(candidate.text, answerType, question);
    const factor = lengthFactor(candidate.terms.length) * (matchesType ? 1 : weights.answerTypeMiss);
    const chunkRelevance = weights.chunkCoverage * (chunkCoverage.get(candidate.source.n) ?? 0);

    candidate.sentenceScore = sentenceRelevance * factor;
    candidate.coverage = sentenceCoverage;
    candidate.score = (sentenceRelevance + chunkRelevance) * factor + weights.rank / (1 + candidate.rank);
  });
}

/**
 * Counts the distinct question terms in the candidate's chunk. A chunk sharing a single word with
 * a question of several words (e.g. "mar" with "weather on Mars tomorrow") holds no answer. The
 * chunk, not the sentence, is counted because answer sentences often refer back with a pronoun.
 */
function matchedTerms(queryTerms: readonly string[], candidate: Candidate): number {
  const chunkTerms = new Set(contentTerms(candidate.source.text));
  return new Set(queryTerms.filter((term) => chunkTerms.has(term))).size;
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

type AnswerType = 'time' | 'quantity' | 'name';

/** Guesses what kind of answer an English or Chinese question asks for from its question words; undefined when unclear. */
function expectedAnswerType(question: string): AnswerType | undefined {
  const text = question.trim().toLowerCase();
  if (
    /\b(?:when|what year|which year|what date|what century|what decade)\b|哪一年|何时|什么时候|哪年/.test(
      text,
    )
  )
    return 'time';
  if (
    /\bhow (?:many|much|long|far|old|large|big|tall|high)\b|\bwhat (?:percentage|percent|number|amount)\b|多少|几/.test(
      text,
    )
  )
    return 'quantity';
  if (/^(?:who|whom|whose)\b|\b(?:who|whom|whose)\b[^?]*\?$|^谁|是谁/.test(text)) return 'name';
  return undefined;
}

const MONTH =
  /\b(?:january|february|march|april|may|june|july|august|september|october|november|december)\b/i;
const NUMBER_WORD =
  /\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|million|billion|dozen|half)\b/i;

/** True when the sentence contains something of the expected type that the question does not already contain. */
function matchesAnswerType(sentence: string, answerType: AnswerType, question: string): boolean {
  switch (answerType) {
    case 'time':
      return (
        /\d/.test(sentence) || MONTH.test(sentence) || /\b(?:century|decade|year|ago|today)\b/i.test(sentence)
      );
    case 'quantity':
      return (
        /\d/.test(sentence) ||
        NUMBER_WORD.test(sentence) ||
        /[一二三四五六七八九十百千万亿两]/u.test(sentence)
      );
    case 'name': {
      const asked = new Set(question.match(/\p{Lu}\p{Ll}+/gu) ?? []);
      const names = sentence.slice(1).match(/\p{Lu}\p{Ll}+/gu) ?? [];
      return names.some((name) => !asked.has(name)) || /[\p{Script=Han}]/u.test(sentence);
    }
  }
}

/** True for a short line without closing punctuation, such as a heading or a table label, which answers nothing alone. */
function isHeadingLike(text: string, termCount: number): boolean {
  return termCount < 5 && !/[.!?。！？…]["'”’)\]]*$/u.test(text);
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
