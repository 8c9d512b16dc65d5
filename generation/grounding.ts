import type { Citation, SourceChunk } from './types.ts';
import {
  contentTerms,
  splitSentences,
  tokenize,
  isStopword,
  LEADING_LIST_MARKER,
  type TextSpan,
} from './text.ts';

/** Share of a sentence's content terms that must occur in a source for the source to support it. */
export const DEFAULT_MIN_SUPPORT = 0.5;

export interface GroundingOptions {
  /** Minimum support (0..1) for a sentence to count as supported. Default DEFAULT_MIN_SUPPORT. */
  readonly minSupport?: number;
  /**
   * Handling of a sentence that cites no source. `attribute` (default) keeps it when some source
   * supports it and adds a marker for the best source. `keep` keeps it unchecked and uncited. `drop` removes it.
   */
  readonly uncited?: 'attribute' | 'keep' | 'drop';
  /**
   * When true, a sentence whose cited sources do not support it is re-attributed to the best
   * supporting source instead of being dropped. Default false.
   */
  readonly reattributeMiscited?: boolean;
  /**
   * When true, a sentence is not supported by a source that lacks one of its numbers, however
   * many of its words match. Default true.
   */
  readonly checkNumbers?: boolean;
  /** Maximum number of consecutive source sentences one citation span may cover. Default 3. */
  readonly maxSpanSentences?: number;
}

/** A cited span inside a source chunk, in document offsets. */
export interface GroundedSpan {
  readonly n: number;
  readonly start: number;
  readonly end: number;
}

export interface GroundedSentence {
  /** The sentence without its citation markers, trimmed. */
  readonly text: string;
  /** Offsets of the sentence, markers included, in the answer text. */
  readonly answerStart: number;
  readonly answerEnd: number;
  /** Source numbers the sentence cites that name provided sources. */
  readonly citedSources: readonly number[];
  /** Source numbers the sentence cites that name no provided source. */
  readonly invalidSources: readonly number[];
  /** Sources whose text supports the sentence and that it is cited with in `supportedAnswer`. */
  readonly supportingSources: readonly number[];
  readonly supported: boolean;
  /** Best share of the sentence's content terms found in one of the sources it was checked against, 0..1. */
  readonly support: number;
  /** The best matching span in the best supporting source. */
  readonly span?: GroundedSpan;
  /** One best matching span per supporting source. */
  readonly spans: readonly GroundedSpan[];
}

export interface GroundingResult {
  readonly sentences: readonly GroundedSentence[];
  /** The answer with unsupported sentences removed and markers rewritten to the supporting sources. */
  readonly supportedAnswer: string;
  /** One citation per distinct supporting span, in order of first use. */
  readonly citations: readonly Citation[];
}

interface Marker {
  readonly start: number;
  readonly end: number;
  readonly numbers: readonly number[];
}

/** `[1]`, `[1, 2]`, `[1; 3]`, `[Source 2]`; adjacent markers like `[1][2]` are matched one by one. */
const MARKER_PATTERN = /\[\s*(?:sources?\s*)?\d{1,4}(?:\s*[,;]\s*(?:sources?\s*)?\d{1,4})*\s*\]/giu;
const SENTENCE_END = /[.!?。！？…]+["'”’)\]]*$/u;

/**
 * Checks that every sentence of an answer is supported by the sources it cites, by lexical
 * overlap: the share of the sentence's content terms (case folded, lightly stemmed, CJK
 * characters one each) found in the source. Unsupported sentences and citations of sources that
 * were not provided are removed. Each supported citation is mapped to the source sentences that
 * match it best, so `citation.text === chunk.text.slice(start - chunk.start, end - chunk.start)`.
 */
export function checkCitations(
  answerText: string,
  sources: readonly SourceChunk[],
  options: GroundingOptions = {},
): GroundingResult {
  const minSupport = options.minSupport ?? DEFAULT_MIN_SUPPORT;
  const uncited = options.uncited ?? 'attribute';
  const maxSpanSentences = options.maxSpanSentences ?? 3;
  const checkNumbers = options.checkNumbers ?? true;
  const sourceNumbers = sources.map((source) => source.n);
  const sourceByNumber = new Map(sources.map((source) => [source.n, source]));
  const indexes = new Map(sources.map((source) => [source.n, indexSource(source)]));

  const markers = findMarkers(answerText);
  const masked = maskMarkers(answerText, markers);
  const segments = splitAnswer(answerText, masked, markers);

  const sentences: GroundedSentence[] = [];
  const citations: Citation[] = [];
  const citationKeys = new Set<string>();
  let supportedAnswer = '';

  for (const segment of segments) {
    const sentenceText = stripMarkers(
      answerText.slice(segment.start, segment.end),
      segment.start,
      segment.markers,
    ).trim();
    const numbers = [...new Set(segment.markers.flatMap((marker) => marker.numbers))];
    const citedSources = numbers.filter((n) => sourceByNumber.has(n));
    const invalidSources = numbers.filter((n) => !sourceByNumber.has(n));
    // A list item number is layout, not a claim for the number check.
    const terms = contentTerms(sentenceText.replace(LEADING_LIST_MARKER, ''));

    const grounded = groundSentence({
      hasTerms: terms.length > 0,
      citedSources,
      hasMarkers: numbers.length > 0,
      sourceNumbers,
      supportIn: (n) => recall(terms, indexes.get(n)?.terms ?? new Set(), checkNumbers),
      minSupport,
      uncited,
      reattribute: options.reattributeMiscited ?? false,
    });
    const spans: GroundedSpan[] = [];
    for (const n of grounded.supportingSources) {
      const index = indexes.get(n);
      const source = sourceByNumber.get(n);
      if (index === undefined || source === undefined) continue;
      const span = bestSpan(terms, index, maxSpanSentences);
      spans.push({ n, start: source.start + span.start, end: source.start + span.end });

      const key = `${n}:${span.start}:${span.end}`;
      if (citationKeys.has(key)) continue;
      citationKeys.add(key);
      citations.push({
        n,
        chunkId: source.chunkId,
        documentId: source.documentId,
        source: source.source,
        page: source.page,
        start: source.start + span.start,
        end: source.start + span.end,
        text: span.text,
      });
    }

    const best = spans[0];
    sentences.push({
      text: sentenceText,
      answerStart: segment.start,
      answerEnd: segment.end,
      citedSources,
      invalidSources,
      supportingSources: grounded.supportingSources,
      supported: grounded.supported,
      support: grounded.support,
      ...(best === undefined ? {} : { span: best }),
      spans,
    });

    if (grounded.supported) {
      supportedAnswer += rewriteSentence(answerText, segment, grounded.supportingSources);
    }
  }

  return { sentences, supportedAnswer: supportedAnswer.trim(), citations };
}

interface SourceIndex {
  readonly text: string;
  readonly terms: ReadonlySet<string>;
  readonly sentences: readonly { readonly span: TextSpan; readonly terms: ReadonlySet<string> }[];
}

function indexSource(source: SourceChunk): SourceIndex {
  const sentences = splitSentences(source.text).map((span) => ({
    span,
    terms: new Set(contentTerms(span.text)),
  }));
  const terms = new Set<string>();
  for (const { term } of tokenize(source.text)) {
    if (!isStopword(term)) terms.add(term);
  }
  return { text: source.text, terms, sentences };
}

/**
 * Returns the share of `terms` present in `available`, 1 for a sentence without content terms,
 * which claims nothing. With `checkNumbers`, a number the source lacks makes the support 0,
 * because a wrong figure is the typical unsupported claim that word overlap alone lets through.
 */
function recall(terms: readonly string[], available: ReadonlySet<string>, checkNumbers: boolean): number {
  if (terms.length === 0) return 1;
  let found = 0;
  for (const term of terms) {
    if (available.has(term)) found += 1;
    else if (checkNumbers && /\p{N}/u.test(term)) return 0;
  }
  return found / terms.length;
}

interface SentenceGrounding {
  readonly supported: boolean;
  readonly support: number;
  readonly supportingSources: number[];
}

function groundSentence(input: {
  /** False for a sentence without content terms. */
  hasTerms: boolean;
  citedSources: readonly number[];
  /** True when the sentence had citation markers, even if none named a provided source. */
  hasMarkers: boolean;
  sourceNumbers: readonly number[];
  /** Support of the sentence in source `n`, 0..1. */
  supportIn: (n: number) => number;
  minSupport: number;
  uncited: 'attribute' | 'keep' | 'drop';
  reattribute: boolean;
}): SentenceGrounding {
  const { citedSources, supportIn, minSupport } = input;

  // A sentence with no content terms ("In short:") claims nothing, so it is kept without a citation.
  if (!input.hasTerms) return { supported: true, support: 1, supportingSources: [] };

  if (input.hasMarkers) {
    const scored = citedSources.map((n) => ({ n, support: supportIn(n) }));
    const supporting = scored
      .filter((entry) => entry.support >= minSupport)
      .sort((a, b) => b.support - a.support);
    const support = scored.reduce((max, entry) => Math.max(max, entry.support), 0);
    if (supporting.length > 0)
      return { supported: true, support, supportingSources: supporting.map((entry) => entry.n) };
    if (!input.reattribute) return { supported: false, support, supportingSources: [] };
    return attributeToBest(input.sourceNumbers, supportIn, minSupport);
  }

  if (input.uncited === 'keep') {
    const best = bestSupport(input.sourceNumbers, supportIn);
    return { supported: true, support: best.support, supportingSources: [] };
  }
  if (input.uncited === 'drop') return { supported: false, support: 0, supportingSources: [] };
  return attributeToBest(input.sourceNumbers, supportIn, minSupport);
}

function bestSupport(
  sourceNumbers: readonly number[],
  supportIn: (n: number) => number,
): { n: number | undefined; support: number } {
  let best: { n: number | undefined; support: number } = { n: undefined, support: 0 };
  for (const n of sourceNumbers) {
    const support = supportIn(n);
    if (support > best.support) best = { n, support };
  }
  return best;
}

function attributeToBest(
  sourceNumbers: readonly number[],
  supportIn: (n: number) => number,
  minSupport: number,
): SentenceGrounding {
  const best = bestSupport(sourceNumbers, supportIn);
  if (best.n === undefined || best.support < minSupport)
    return { supported: false, support: best.support, supportingSources: [] };
  return { supported: true, support: best.support, supportingSources: [best.n] };
}

/**
 * Finds the run of up to `maxSentences` consecutive source sentences that covers the most of
 * `terms`, preferring shorter runs: a sentence is added only when it covers terms the run lacked.
 */
function bestSpan(terms: readonly string[], index: SourceIndex, maxSentences: number): TextSpan {
  const sentences = index.sentences;
  const first = sentences[0];
  if (first === undefined) return { start: 0, end: 0, text: '' };

  let best = { from: 0, to: 0, score: -1 };
  for (let from = 0; from < sentences.length; from += 1) {
    const covered = new Set<string>();
    let previousCount = -1;
    for (let to = from; to < Math.min(sentences.length, from + maxSentences); to += 1) {
      const sentence = sentences[to];
      if (sentence === undefined) break;
      for (const term of terms) if (sentence.terms.has(term)) covered.add(term);
      // Stop extending when the added sentence covers nothing new, because a longer run would only dilute the citation.
      if (covered.size === previousCount) break;
      previousCount = covered.size;
      // Each extra sentence costs a little, so ties go to the shorter run.
      const score = covered.size - 0.01 * (to - from);
      if (score > best.score) best = { from, to, score };
    }
  }

  const startSentence = sentences[best.from] ?? first;
  const endSentence = sentences[best.to] ?? startSentence;
  return {
    start: startSentence.span.start,
    end: endSentence.span.end,
    text: index.text.slice(startSentence.span.start, endSentence.span.end),
  };
}

function findMarkers(text: string): Marker[] {
  const markers: Marker[] = [];
  for (const match of text.matchAll(MARKER_PATTERN)) {
    const numbers = [...match[0].matchAll(/\d+/g)].map((digits) => Number(digits[0]));
    markers.push({ start: match.index, end: match.index + match[0].length, numbers });
  }
  return markers;
}

/** Blanks the markers so that the sentence segmenter cannot split inside `[1]`. */
function maskMarkers(text: string, markers: readonly Marker[]): string {
  let masked = '';
  let position = 0;
  for (const marker of markers) {
    masked += text.slice(position, marker.start) + ' '.repeat(marker.end - marker.start);
    position = marker.end;
  }
  return masked + text.slice(position);
}

interface AnswerSegment {
  /** Sentence offsets in the answer, markers included. */
  readonly start: number;
  readonly end: number;
  /** Start of the next sentence (or the end of the answer), so whitespace between sentences is kept. */
  readonly next: number;
  readonly markers: readonly Marker[];
}

/**
 * Splits the answer into sentences on the masked text and gives each marker to the sentence it
 * follows, so that "Run apt update.[1] Then…" cites [1] for the first sentence.
 */
function splitAnswer(text: string, masked: string, markers: readonly Marker[]): AnswerSegment[] {
  const spans = splitSentences(masked).filter((span) => span.text.trim() !== '');
  const segments: { start: number; end: number; markers: Marker[] }[] = spans.map((span) => ({
    start: span.start,
    end: span.end,
    markers: [],
  }));

  for (const marker of markers) {
    // The last sentence that starts before the marker owns it; a marker before any sentence goes to the first.
    let owner = segments[0];
    for (const segment of segments) {
      if (segment.start <= marker.start) owner = segment;
      else break;
    }
    if (owner === undefined) continue;
    owner.markers.push(marker);
    owner.end = Math.max(owner.end, marker.end);
  }

  return segments.map((segment, i) => ({ ...segment, next: segments[i + 1]?.start ?? text.length }));
}

function stripMarkers(sentence: string, offset: number, markers: readonly Marker[]): string {
  let stripped = '';
  let position = 0;
  for (const marker of markers) {
    // A marker can start before the sentence (a leading "[1] ..."), so offsets are clamped at 0.
    const from = Math.max(0, marker.start - offset);
    if (from > position) stripped += sentence.slice(position, from);
    position = Math.max(position, marker.end - offset);
  }
  return (stripped + sentence.slice(position)).replace(/[ \t]+([.,;:!?。！？])/gu, '$1');
}

/** Rebuilds one kept sentence with markers for its supporting sources placed before its final punctuation. */
function rewriteSentence(
  answerText: string,
  segment: AnswerSegment,
  supportingSources: readonly number[],
): string {
  const body = stripMarkers(
    answerText.slice(segment.start, segment.end),
    segment.start,
    segment.markers,
  ).trimEnd();
  const gap = answerText.slice(segment.end, segment.next);
  const separator = gap === '' ? ' ' : gap;
  if (supportingSources.length === 0) return body + separator;

  const markerText = supportingSources.map((n) => `[${n}]`).join('');
  const ending = SENTENCE_END.exec(body);
  if (ending === null) return `${body} ${markerText}${separator}`;
  return `${body.slice(0, ending.index).trimEnd()} ${markerText}${ending[0]}${separator}`;
}
