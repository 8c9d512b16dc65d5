/**
 * Answer evaluation over a SQuAD v1.1-format file (XQuAD): gold-answer containment, SQuAD token
 * F1 and exact match, citation precision, and the refusal rate when a question's paragraph is
 * withheld from the search results.
 */
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { DocentError } from '../core/errors.ts';
import { ExtractiveGenerator } from '../generation/extractive/extractive-generator.ts';
import { isStopword, splitSentences, tokenize } from '../generation/text.ts';
import type { Answer, Generator, SourceChunk } from '../generation/types.ts';

export type AnswerSearch = (question: string, topK: number) => Promise<SourceChunk[]>;

export interface AnswerEvalOptions {
  readonly search: AnswerSearch;
  readonly generator: Generator;
  /** Also runs every question with its paragraph removed from the search results, to measure refusals. */
  readonly withhold?: boolean;
  /** Evaluates at most this many questions, spread evenly over the file. */
  readonly limit?: number;
  /** Sources handed to the generator per question. Default 5. */
  readonly topK?: number;
  /** Called after each question with the number done and the total. */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface AnswerEvalReport {
  readonly questions: number;
  /** Questions whose gold paragraph appeared in the search results. */
  readonly retrievalHitRate: number;
  /** Share of questions whose normalised answer contains the normalised gold answer; refusals count as misses. */
  readonly containment: number;
  readonly exactMatch: number;
  /** Mean SQuAD token F1 of the answer against the gold answer, refusals scoring 0. */
  readonly f1: number;
  /** Share of citations whose chunk contains the gold answer or the paragraph sentence that holds it. */
  readonly citationPrecision: number;
  readonly citations: number;
  /** Share of answered questions with at least one correct citation. */
  readonly answersWithCorrectCitation: number;
  /** Share of questions refused although the gold paragraph was searchable. */
  readonly falseRefusalRate: number;
  /** Share of withheld-paragraph questions answered with a refusal; undefined unless `withhold` was set. */
  readonly withheldRefusalRate: number | undefined;
  readonly meanLatencyMs: number;
  readonly p95LatencyMs: number;
  readonly generator: string;
}

interface SquadFile {
  readonly data: readonly {
    readonly title: string;
    readonly paragraphs: readonly {
      readonly context: string;
      readonly qas: readonly {
        readonly id: string;
        readonly question: string;
        readonly answers: readonly { readonly text: string; readonly answer_start: number }[];
      }[];
    }[];
  }[];
}

/** One question with its gold answers and the paragraph they come from. */
export interface SquadQuestion {
  readonly id: string;
  readonly question: string;
  readonly answers: readonly { readonly text: string; readonly start: number }[];
  readonly paragraphId: string;
  readonly context: string;
}

export interface SquadParagraph {
  readonly id: string;
  readonly title: string;
  readonly context: string;
}

/** Reads a SQuAD v1.1 file. Raises INVALID_ARGUMENT when the file is not in that format. */
export async function loadSquad(
  squadJsonPath: string,
): Promise<{ paragraphs: SquadParagraph[]; questions: SquadQuestion[] }> {
  const raw: unknown = JSON.parse(await readFile(squadJsonPath, 'utf8'));
  if (typeof raw !== 'object' || raw === null || !Array.isArray((raw as { data?: unknown }).data)) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      `${squadJsonPath} is not a SQuAD v1.1 file: the top-level "data" array is missing.`,
    );
  }
  const squad = raw as SquadFile;

  const paragraphs: SquadParagraph[] = [];
  const questions: SquadQuestion[] = [];
  for (const article of squad.data) {
    article.paragraphs.forEach((paragraph, index) => {
      const paragraphId = `${article.title}#${index}`;
      paragraphs.push({ id: paragraphId, title: article.title, context: paragraph.context });
      for (const qa of paragraph.qas) {
        questions.push({
          id: qa.id,
          question: qa.question,
          answers: qa.answers.map((answer) => ({ text: answer.text, start: answer.answer_start })),
          paragraphId,
          context: paragraph.context,
        });
      }
    });
  }
  return { paragraphs, questions };
}

/**
 * Runs every selected question through `search` and `generator` and scores the answers against
 * the gold answers. With `withhold`, each question is asked a second time with every chunk of its
 * paragraph removed from the search results, and a refusal is the expected answer.
 */
export async function evaluateAnswers(
  squadJsonPath: string,
  options: AnswerEvalOptions,
): Promise<AnswerEvalReport> {
  const topK = options.topK ?? 5;
  const { questions: allQuestions } = await loadSquad(squadJsonPath);
  const questions = spreadSample(allQuestions, options.limit);
  if (questions.length === 0)
    throw new DocentError('INVALID_ARGUMENT', `${squadJsonPath} contains no questions.`);

  let retrievalHits = 0;
  let contained = 0;
  let exact = 0;
  let f1Sum = 0;
  let citationCount = 0;
  let correctCitations = 0;
  let answered = 0;
  let answeredWithCorrectCitation = 0;
  let falseRefusals = 0;
  let withheldRefusals = 0;
  const latencies: number[] = [];
  const total = questions.length * (options.withhold === true ? 2 : 1);
  let done = 0;

  for (const question of questions) {
    const sources = await options.search(question.question, topK);
    if (sources.some((source) => belongsToParagraph(source, question.context))) retrievalHits += 1;

    const startedAt = performance.now();
    const answer = await runGenerator(options.generator, question.question, sources);
    latencies.push(performance.now() - startedAt);

    const scores = scoreAnswer(answer, question, sources);
    if (scores.contained) contained += 1;
    if (scores.exactMatch) exact += 1;
    f1Sum += scores.f1;
    citationCount += scores.citations;
    correctCitations += scores.correctCitations;
    if (answer.refused) falseRefusals += 1;
    else {
      answered += 1;
      if (scores.correctCitations > 0) answeredWithCorrectCitation += 1;
    }
    done += 1;
    options.onProgress?.(done, total);

    if (options.withhold === true) {
      const candidates = await options.search(question.question, topK * 2);
      const withheld = candidates
        .filter((source) => !belongsToParagraph(source, question.context))
        .slice(0, topK);
      const withheldAnswer = await runGenerator(options.generator, question.question, withheld);
      if (withheldAnswer.refused) withheldRefusals += 1;
      done += 1;
      options.onProgress?.(done, total);
    }
  }

  const count = questions.length;
  const sortedLatencies = [...latencies].sort((a, b) => a - b);
  return {
    questions: count,
    retrievalHitRate: retrievalHits / count,
    containment: contained / count,
    exactMatch: exact / count,
    f1: f1Sum / count,
    citationPrecision: citationCount === 0 ? 0 : correctCitations / citationCount,
    citations: citationCount,
    answersWithCorrectCitation: answered === 0 ? 0 : answeredWithCorrectCitation / answered,
    falseRefusalRate: falseRefusals / count,
    withheldRefusalRate: options.withhold === true ? withheldRefusals / count : undefined,
    meanLatencyMs: latencies.reduce((sum, latency) => sum + latency, 0) / count,
    p95LatencyMs:
      sortedLatencies[Math.min(sortedLatencies.length - 1, Math.floor(0.95 * sortedLatencies.length))] ?? 0,
    generator: options.generator.id,
  };
}

/** Formats a report as aligned `name value` lines for a terminal. */
export function formatAnswerReport(report: AnswerEvalReport): string {
  const percent = (value: number): string => `${(100 * value).toFixed(1)}%`;
  const rows: [string, string][] = [
    ['generator', report.generator],
    ['questions', String(report.questions)],
    ['retrieval hit rate', percent(report.retrievalHitRate)],
    ['gold answer containment', percent(report.containment)],
    ['exact match', percent(report.exactMatch)],
    ['token F1', percent(report.f1)],
    ['citation precision', `${percent(report.citationPrecision)} of ${report.citations} citations`],
    ['answers with a correct citation', percent(report.answersWithCorrectCitation)],
    ['false refusal rate', percent(report.falseRefusalRate)],
    [
      'refusal rate, paragraph withheld',
      report.withheldRefusalRate === undefined ? 'not measured' : percent(report.withheldRefusalRate),
    ],
    ['latency mean / p95', `${report.meanLatencyMs.toFixed(1)} ms / ${report.p95LatencyMs.toFixed(1)} ms`],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n');
}

/** Collects the `done` event of a generator's stream. Raises INTERNAL when the stream ends without one. */
async function runGenerator(
  generator: Generator,
  question: string,
  sources: readonly SourceChunk[],
): Promise<Answer> {
  for await (const event of generator.stream({ question, sources })) {
    if (event.type === 'done') return event.answer;
  }
  throw new DocentError('INTERNAL', `Generator ${generator.id} ended its stream without a done event.`);
}

interface AnswerScores {
  readonly contained: boolean;
  readonly exactMatch: boolean;
  readonly f1: number;
  readonly citations: number;
  readonly correctCitations: number;
}

function scoreAnswer(answer: Answer, question: SquadQuestion, sources: readonly SourceChunk[]): AnswerScores {
  const citations = answer.citations.length;
  if (answer.refused) return { contained: false, exactMatch: false, f1: 0, citations, correctCitations: 0 };

  const text = stripCitationMarkers(answer.answer);
  const normalizedAnswer = normalizeAnswer(text);
  const contained = question.answers.some((gold) => {
    const normalizedGold = normalizeAnswer(gold.text);
    return normalizedGold !== '' && ` ${normalizedAnswer} `.includes(` ${normalizedGold} `);
  });
  const exactMatch = question.answers.some((gold) => normalizeAnswer(gold.text) === normalizedAnswer);
  const f1 = Math.max(0, ...question.answers.map((gold) => tokenF1(text, gold.text)));

  const sourceByChunk = new Map(sources.map((source) => [source.chunkId, source]));
  const supportingSentences = question.answers.map((gold) => sentenceAround(question.context, gold.start));
  let correctCitations = 0;
  for (const citation of answer.citations) {
    const chunk = sourceByChunk.get(citation.chunkId);
    if (chunk === undefined) continue;
    const containsGold = question.answers.some((gold) =>
      ` ${normalizeAnswer(chunk.text)} `.includes(` ${normalizeAnswer(gold.text)} `),
    );
    if (
      containsGold ||
      supportingSentences.some((sentence) => chunkOverlaps(chunk, question.context, sentence))
    )
      correctCitations += 1;
  }
  return { contained, exactMatch, f1, citations, correctCitations };
}

/** Removes `[n]` markers so that they do not count as answer tokens. */
function stripCitationMarkers(text: string): string {
  return text.replace(/\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]/g, ' ');
}

/** SQuAD v1.1 answer normalisation: lower case, no punctuation, no English articles, single spaces. */
export function normalizeAnswer(text: string): string {
  return text
    .toLowerCase()
    .replace(/[\p{P}\p{S}]/gu, ' ')
    .replace(/\b(?:a|an|the)\b/g, ' ')
    .split(/\s+/)
    .filter((word) => word !== '')
    .join(' ');
}

/** SQuAD v1.1 token F1 between a prediction and a gold answer, after normalisation. */
export function tokenF1(prediction: string, gold: string): number {
  const predicted = normalizeAnswer(prediction).split(' ').filter(Boolean);
  const expected = normalizeAnswer(gold).split(' ').filter(Boolean);
  if (predicted.length === 0 || expected.length === 0) return predicted.length === expected.length ? 1 : 0;

  const counts = new Map<string, number>();
  for (const token of expected) counts.set(token, (counts.get(token) ?? 0) + 1);
  let common = 0;
  for (const token of predicted) {
    const remaining = counts.get(token) ?? 0;
    if (remaining > 0) {
      common += 1;
      counts.set(token, remaining - 1);
    }
  }
  if (common === 0) return 0;
  const precision = common / predicted.length;
  const recall = common / expected.length;
  return (2 * precision * recall) / (precision + recall);
}

/** Finds the offsets of the sentence of `context` that contains offset `position`. */
function sentenceAround(context: string, position: number): { start: number; end: number } {
  const sentence = splitSentences(context).find((span) => span.start <= position && position < span.end);
  return sentence ?? { start: position, end: position + 1 };
}

/** True when the chunk's text is a slice of the paragraph, so the chunk came from it. */
function belongsToParagraph(chunk: SourceChunk, context: string): boolean {
  const probe = chunk.text.trim();
  return probe !== '' && context.includes(probe);
}

function chunkOverlaps(
  chunk: SourceChunk,
  context: string,
  sentence: { start: number; end: number },
): boolean {
  const probe = chunk.text.trim();
  if (probe === '') return false;
  for (let at = context.indexOf(probe); at >= 0; at = context.indexOf(probe, at + 1)) {
    if (at < sentence.end && at + probe.length > sentence.start) return true;
  }
  return false;
}

/** Picks `limit` items spread evenly over the list, keeping their order. */
function spreadSample<T>(items: readonly T[], limit: number | undefined): T[] {
  if (limit === undefined || limit >= items.length) return [...items];
  if (limit <= 0) return [];
  const picked: T[] = [];
  for (let i = 0; i < limit; i += 1) {
    const item = items[Math.floor((i * items.length) / limit)];
    if (item !== undefined) picked.push(item);
  }
  return picked;
}

export interface StandaloneSearchOptions {
  /** Maximum words per chunk; paragraphs are split at sentence boundaries. Default 150, about 200 tokens. */
  readonly chunkWords?: number;
}

/**
 * Builds an in-memory BM25 search over the paragraphs of a SQuAD file, each split into chunks at
 * sentence boundaries, for measuring a generator without a built index. Each paragraph is one
 * document with id `<title>#<index>`.
 */
export function createStandaloneSearch(
  paragraphs: readonly SquadParagraph[],
  options: StandaloneSearchOptions = {},
): AnswerSearch {
  const chunkWords = options.chunkWords ?? 150;
  const chunks: Omit<SourceChunk, 'n' | 'score'>[] = [];
  for (const paragraph of paragraphs) {
    for (const span of chunkParagraph(paragraph.context, chunkWords)) {
      chunks.push({
        chunkId: chunks.length,
        documentId: paragraph.id,
        source: `${paragraph.title}.txt`,
        page: null,
        start: span.start,
        end: span.end,
        text: span.text,
        headingPath: [paragraph.title],
      });
    }
  }

  const termLists = chunks.map((chunk) =>
    tokenize(`${chunk.headingPath.join(' ')} ${chunk.text}`)
      .map((token) => token.term)
      .filter((term) => !isStopword(term)),
  );
  const frequencies = termLists.map((terms) => {
    const counts = new Map<string, number>();
    for (const term of terms) counts.set(term, (counts.get(term) ?? 0) + 1);
    return counts;
  });
  const documentFrequency = new Map<string, number>();
  for (const counts of frequencies)
    for (const term of counts.keys()) documentFrequency.set(term, (documentFrequency.get(term) ?? 0) + 1);
  const averageLength =
    termLists.reduce((sum, terms) => sum + terms.length, 0) / Math.max(1, termLists.length);

  return (question, topK) => {
    const queryTerms = [...new Set(tokenize(question).map((token) => token.term))].filter(
      (term) => !isStopword(term),
    );
    const scored = frequencies.map((counts, i) => {
      const length = termLists[i]?.length ?? 0;
      let score = 0;
      for (const term of queryTerms) {
        const frequency = counts.get(term) ?? 0;
        if (frequency === 0) continue;
        const df = documentFrequency.get(term) ?? 0;
        const idf = Math.log(1 + (chunks.length - df + 0.5) / (df + 0.5));
        score += (idf * frequency * 2.2) / (frequency + 1.2 * (0.25 + (0.75 * length) / averageLength));
      }
      return { i, score };
    });
    scored.sort((a, b) => b.score - a.score || a.i - b.i);
    const results = scored
      .filter((entry) => entry.score > 0)
      .slice(0, topK)
      .flatMap((entry, rank) => {
        const chunk = chunks[entry.i];
        return chunk === undefined ? [] : [{ ...chunk, n: rank + 1, score: entry.score }];
      });
    return Promise.resolve(results);
  };
}

/** Splits a paragraph into runs of whole sentences of at most `maxWords` words (a longer sentence forms a chunk of its own). */
function chunkParagraph(context: string, maxWords: number): { start: number; end: number; text: string }[] {
  const spans: { start: number; end: number; text: string }[] = [];
  let current: { start: number; end: number; words: number } | undefined;
  for (const sentence of splitSentences(context)) {
    const words = sentence.text.split(/\s+/).length;
    if (current !== undefined && current.words + words > maxWords) {
      spans.push({ start: current.start, end: current.end, text: context.slice(current.start, current.end) });
      current = undefined;
    }
    current =
      current === undefined
        ? { start: sentence.start, end: sentence.end, words }
        : { ...current, end: sentence.end, words: current.words + words };
  }
  if (current !== undefined)
    spans.push({ start: current.start, end: current.end, text: context.slice(current.start, current.end) });
  return spans;
}

/**
 * Runs the evaluation from the command line with the standalone BM25 search and the extractive
 * answerer: `tsx eval/answers.ts <squad.json> [--limit N] [--withhold] [--top-k K]`.
 */
async function main(argv: readonly string[]): Promise<void> {
  const [squadJsonPath, ...flags] = argv;
  if (squadJsonPath === undefined) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      'Missing the SQuAD file. Usage: tsx eval/answers.ts <squad.json> [--limit N] [--withhold] [--top-k K]',
    );
  }
  const flagValue = (name: string): number | undefined => {
    const index = flags.indexOf(name);
    const value = index >= 0 ? Number(flags[index + 1]) : undefined;
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw new DocentError('INVALID_ARGUMENT', `${name} (${flags[index + 1]}) must be a positive integer.`);
    }
    return value;
  };
  const limit = flagValue('--limit');
  const topK = flagValue('--top-k');

  const { paragraphs } = await loadSquad(squadJsonPath);
  const report = await evaluateAnswers(squadJsonPath, {
    search: createStandaloneSearch(paragraphs),
    generator: new ExtractiveGenerator(),
    withhold: flags.includes('--withhold'),
    ...(limit === undefined ? {} : { limit }),
    ...(topK === undefined ? {} : { topK }),
  });
  process.stdout.write(`${formatAnswerReport(report)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
