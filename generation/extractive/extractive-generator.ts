import { DocentError } from '../../core/errors.ts';
import { contentTerms, tokenize } from '../text.ts';
import {
  NOT_IN_DOCUMENTS,
  type Answer,
  type Citation,
  type GenerationEvent,
  type GenerationRequest,
  type Generator,
} from '../types.ts';
import {
  selectSentences,
  type SelectedSentence,
  type SentenceSelectionOptions,
} from './sentence-selector.ts';

export type ExtractiveGeneratorOptions = SentenceSelectionOptions;

/** A question with fewer content terms than this is read together with the previous user question. */
const FOLLOW_UP_MAX_TERMS = 3;

/**
 * Builds answers by quoting the source sentences that best match the question, each cited with `[n]`,
 * without a generative model. Source text is only scored and quoted, never followed as
 * instructions. When no sentence scores high enough, the answer is NOT_IN_DOCUMENTS.
 */
export class ExtractiveGenerator implements Generator {
  readonly id = 'extractive';
  readonly #options: ExtractiveGeneratorOptions;

  constructor(options: ExtractiveGeneratorOptions = {}) {
    this.#options = options;
  }

  /** Streams the answer word by word, a citation event after each quoted sentence, then one `done` event. */
  async *stream(request: GenerationRequest): AsyncGenerator<GenerationEvent> {
    const startedAt = performance.now();
    throwIfAborted(request.signal);

    const selection = selectSentences(withFollowUpContext(request), request.sources, this.#options);
    const parts =
      selection.sentences.length === 0
        ? [{ text: NOT_IN_DOCUMENTS }]
        : limitToWords(selection.sentences.map(toAnswerPart), request.maxNewTokens);

    let answer = '';
    const citations: Citation[] = [];
    let generatedTokens = 0;
    let firstTokenAt: number | undefined;

    for (const [i, part] of parts.entries()) {
      const piece = (i === 0 ? '' : ' ') + part.text;
      for (const word of splitWords(piece)) {
        // Yielding to the event loop between words lets a consumer's abort take effect mid-answer.
        await Promise.resolve();
        throwIfAborted(request.signal);
        firstTokenAt ??= performance.now();
        answer += word;
        generatedTokens += 1;
        yield { type: 'token', text: word };
      }
      if (part.citation !== undefined) {
        throwIfAborted(request.signal);
        citations.push(part.citation);
        yield { type: 'citation', citation: part.citation };
      }
    }

    throwIfAborted(request.signal);
    const finishedAt = performance.now();
    const seconds = (finishedAt - startedAt) / 1000;
    const result: Answer = {
      answer,
      citations,
      refused: selection.sentences.length === 0,
      generator: this.id,
      usage: {
        promptTokens: estimatePromptTokens(request),
        prefillTokens: 0,
        generatedTokens,
        forwardPasses: 0,
        timeToFirstTokenMs: (firstTokenAt ?? finishedAt) - startedAt,
        tokensPerSecond: seconds > 0 ? generatedTokens / seconds : 0,
      },
    };
    yield { type: 'done', answer: result };
  }

  async close(): Promise<void> {
    // Nothing to release: the answerer holds no model or handles.
  }
}

interface AnswerPart {
  readonly text: string;
  readonly citation?: Citation;
}

/** Quotes a sentence with its whitespace collapsed (hard-wrapped source lines) and its `[n]` marker. */
function toAnswerPart(sentence: SelectedSentence): AnswerPart {
  const { source } = sentence;
  const citation: Citation = {
    n: source.n,
    chunkId: source.chunkId,
    documentId: source.documentId,
    source: source.source,
    page: source.page,
    start: source.start + sentence.start,
    end: source.start + sentence.end,
    text: sentence.text,
  };
  return { text: `${sentence.text.replace(/\s+/g, ' ')} [${source.n}]`, citation };
}

/**
 * Appends the previous user question to a short follow-up ("Which commands do I run?"), whose
 * own few terms do not say what it is about. The current question comes first, so its question
 * words decide the kind of answer expected.
 */
function withFollowUpContext(request: GenerationRequest): string {
  const previous = request.history?.findLast((turn) => turn.role === 'user');
  if (previous === undefined || contentTerms(request.question).length >= FOLLOW_UP_MAX_TERMS)
    return request.question;
  return `${request.question} ${previous.content}`;
}

/**
 * Keeps whole sentences while their words fit in `maxWords` (the request's maxNewTokens, one word
 * per streamed token), always keeping the first, so an answer is never cut mid-quote.
 */
function limitToWords(parts: readonly AnswerPart[], maxWords: number | undefined): AnswerPart[] {
  if (maxWords === undefined) return [...parts];
  const kept: AnswerPart[] = [];
  let words = 0;
  for (const part of parts) {
    words += splitWords(part.text).length;
    if (kept.length > 0 && words > maxWords) break;
    kept.push(part);
  }
  return kept;
}

/** Splits text into words, each keeping the whitespace before it, so the words concatenate to the text. */
function splitWords(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

/** Estimates the prompt size as the token count of the question and sources; no model tokenizer is involved. */
function estimatePromptTokens(request: GenerationRequest): number {
  let count = tokenize(request.question).length;
  for (const source of request.sources) count += tokenize(source.text).length;
  return count;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) {
    throw new DocentError('CANCELLED', 'Answer generation was cancelled because the request was aborted.', {
      cause: signal.reason,
    });
  }
}
