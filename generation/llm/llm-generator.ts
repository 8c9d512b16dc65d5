import type { Config } from '../../core/config.ts';
import { DocentError, toDocentError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { checkCitations } from '../grounding.ts';
import { Scheduler, type Lease } from '../scheduler.ts';
import {
  NOT_IN_DOCUMENTS,
  type Answer,
  type GenerationEvent,
  type GenerationRequest,
  type GenerationUsage,
  type Generator,
} from '../types.ts';
import type { CausalLm } from './causal-lm.ts';
import { Decoder, type DecodeStats } from './decode.ts';
import { PrefixCache } from './prefix-cache.ts';
import { buildPrompt } from './prompt.ts';
import { TextStream } from './text-stream.ts';

export interface LlmGeneratorOptions {
  readonly model: CausalLm;
  /** `org/name` of the model, used in the generator id. */
  readonly modelId: string;
  readonly settings: Config['generation'];
  /** Shared by every request; created from the settings when absent. */
  readonly scheduler?: Scheduler;
  readonly logger?: Logger;
  /** Random source for sampling; tests pass a seeded one. */
  readonly random?: () => number;
}

/** Statistics of the last finished request, beyond the Answer's usage; for benchmarks and logs. */
export interface LlmRequestStats extends DecodeStats {
  readonly queuedMs: number;
}

/**
 * Answers with a local causal language model: builds a cited prompt, decodes with the KV cache,
 * the cross-request prefix cache and prompt-lookup drafts, streams the text, then checks every
 * citation and drops sentences that their cited sources do not support.
 */
export class LlmGenerator implements Generator {
  readonly id: string;
  readonly model: CausalLm;
  readonly prefixCache: PrefixCache;
  private readonly settings: Config['generation'];
  private readonly scheduler: Scheduler;
  private readonly logger: Logger | undefined;
  private readonly random: () => number;
  private lastStatsValue: LlmRequestStats | undefined;

  constructor(options: LlmGeneratorOptions) {
    this.id = `transformers:${options.modelId}`;
    this.model = options.model;
    this.settings = options.settings;
    this.prefixCache = new PrefixCache(options.settings.prefixCacheBytes);
    this.scheduler =
      options.scheduler ??
      new Scheduler({ maxQueue: options.settings.queueSize, timeoutMs: options.settings.timeoutMs });
    this.logger = options.logger;
    this.random = options.random ?? Math.random;
  }

  get lastStats(): LlmRequestStats | undefined {
    return this.lastStatsValue;
  }

  async *stream(request: GenerationRequest): AsyncGenerator<GenerationEvent> {
    const startedAt = performance.now();
    const options = this.requestOptions(request);
    if (request.signal?.aborted === true)
      throw new DocentError('CANCELLED', 'The request was cancelled by the client.', {
        cause: request.signal.reason,
      });

    if (request.sources.length === 0) {
      yield { type: 'token', text: NOT_IN_DOCUMENTS };
      yield { type: 'done', answer: this.refusal(emptyUsage(performance.now() - startedAt)) };
      return;
    }

    const lease: Lease = await this.scheduler.acquire(request.signal);
    try {
      const prompt = buildPrompt(
        { question: request.question, sources: request.sources, history: request.history ?? [] },
        this.model,
        {
          contextTokens: Math.min(this.settings.contextTokens, this.model.maxPositions),
          answerTokens: options.maxNewTokens,
        },
      );
      const decoder = new Decoder(this.model, {
        maxNewTokens: options.maxNewTokens,
        sampling: { temperature: options.temperature, topP: options.topP, random: this.random },
        promptLookup: {
          maxDraftTokens: this.settings.promptLookupTokens,
          maxNgram: this.settings.promptLookupNgram,
        },
        prefixCache: this.prefixCache,
        signal: lease.signal,
      });

      const text = new TextStream(this.model.tokenizer, options.stopSequences);
      try {
        for await (const tokens of decoder.run(prompt.tokens)) {
          const piece = text.push(tokens);
          if (piece !== '') yield { type: 'token', text: piece };
          if (text.stopped) break;
        }
      } catch (error) {
        throw abortReason(lease.signal) ?? toDocentError(error);
      }
      const rest = text.finish();
      if (rest !== '') yield { type: 'token', text: rest };

      const stats = decoder.stats();
      this.lastStatsValue = { ...stats, queuedMs: lease.waitedMs };
      const usage = usageOf(stats);
      this.logger?.debug(
        { generator: this.id, ...stats, queuedMs: lease.waitedMs, sources: prompt.sources.length },
        'generation finished',
      );

      const answer = this.ground(text.text, prompt.sources, usage);
      for (const citation of answer.citations) yield { type: 'citation', citation };
      yield { type: 'done', answer };
    } finally {
      lease.release();
    }
  }

  async close(): Promise<void> {
    this.prefixCache.clear();
    await this.model.close();
  }

  private ground(raw: string, sources: GenerationRequest['sources'], usage: GenerationUsage): Answer {
    const trimmed = raw.trim();
    if (
      trimmed === '' ||
      trimmed
        .replace(/\[\d+\]/g, '')
        .trim()
        .startsWith(NOT_IN_DOCUMENTS.slice(0, -1))
    ) {
      return this.refusal(usage);
    }
    const checked = checkCitations(moveLeadingMarkers(trimmed), sources, {
      uncited: 'attribute',
      reattributeMiscited: false,
    });
    const supported = checked.sentences.some(
      (sentence) => sentence.supported && sentence.supportingSources.length > 0,
    );
    if (!supported) return this.refusal(usage);
    return {
      answer: checked.supportedAnswer,
      citations: checked.citations,
      refused: false,
      generator: this.id,
      usage,
    };
  }

  private refusal(usage: GenerationUsage): Answer {
    return { answer: NOT_IN_DOCUMENTS, citations: [], refused: true, generator: this.id, usage };
  }

  private requestOptions(request: GenerationRequest) {
    const maxNewTokens = request.maxNewTokens ?? this.settings.maxNewTokens;
    const temperature = request.temperature ?? 0;
    const topP = request.topP ?? 1;
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) {
      throw new DocentError('INVALID_ARGUMENT', `maxNewTokens (${maxNewTokens}) must be a positive integer.`);
    }
    const contextTokens = Math.min(this.settings.contextTokens, this.model.maxPositions);
    if (maxNewTokens >= contextTokens) {
      throw new DocentError(
        'INVALID_ARGUMENT',
        `maxNewTokens (${maxNewTokens}) must be smaller than the context of ${contextTokens} tokens (DOCENT_GENERATION_CONTEXT_TOKENS or the model's limit).`,
      );
    }
    if (!(temperature >= 0 && temperature <= 5))
      throw new DocentError('INVALID_ARGUMENT', `temperature (${temperature}) must be between 0 and 5.`);
    if (!(topP > 0 && topP <= 1))
      throw new DocentError('INVALID_ARGUMENT', `topP (${topP}) must be greater than 0 and at most 1.`);
    return { maxNewTokens, temperature, topP, stopSequences: request.stopSequences ?? [] };
  }
}

/**
 * Moves citation markers that open the answer ("[1] The tower ...") to the end of its first
 * sentence, where `checkCitations` expects the markers of a sentence.
 */
export function moveLeadingMarkers(text: string): string {
  const leading = /^((?:\[\d+\]\s*)+)/.exec(text);
  if (leading === null) return text;
  const markers = (leading[1] ?? '').replace(/\s+/g, '');
  const rest = text.slice(leading[0].length);
  const end = /[.!?](?=\s|$)/.exec(rest);
  if (end === null) return `${rest.trimEnd()} ${markers}`;
  return `${rest.slice(0, end.index)} ${markers}${rest.slice(end.index)}`;
}

function abortReason(signal: AbortSignal): DocentError | undefined {
  if (!signal.aborted) return undefined;
  return signal.reason instanceof DocentError
    ? signal.reason
    : new DocentError('CANCELLED', 'The request was cancelled by the client.');
}

function usageOf(stats: DecodeStats): GenerationUsage {
  // Decode speed: tokens after the first over the time after the first, so prefill does not count.
  const decodeSeconds = (stats.durationMs - stats.timeToFirstTokenMs) / 1000;
  return {
    promptTokens: stats.promptTokens,
    prefillTokens: stats.prefillTokens,
    generatedTokens: stats.generatedTokens,
    forwardPasses: stats.forwardPasses,
    timeToFirstTokenMs: stats.timeToFirstTokenMs,
    tokensPerSecond:
      stats.generatedTokens > 1 && decodeSeconds > 0 ? (stats.generatedTokens - 1) / decodeSeconds : 0,
  };
}

function emptyUsage(elapsedMs: number): GenerationUsage {
  return {
    promptTokens: 0,
    prefillTokens: 0,
    generatedTokens: 0,
    forwardPasses: 0,
    timeToFirstTokenMs: elapsedMs,
    tokensPerSecond: 0,
  };
}
