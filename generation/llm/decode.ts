import { DocentError } from '../../core/errors.ts';
import type { CausalLm, ForwardResult } from './causal-lm.ts';
import type { KvCache } from './kv-cache.ts';
import type { PrefixCache } from './prefix-cache.ts';
import { draftFromContext } from './prompt-lookup.ts';
import { chooseToken, type SamplingOptions } from './sampling.ts';

const PREFILL_LOGIT_FLOATS = 2 ** 25;

export interface DecodeOptions {
  readonly maxNewTokens: number;
  readonly sampling: SamplingOptions;
  /** Prompt-lookup drafting; undefined or maxDraftTokens 0 decodes one token per forward pass. */
  readonly promptLookup?: { readonly maxDraftTokens: number; readonly maxNgram: number } | undefined;
  readonly prefixCache?: PrefixCache | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Prompt tokens per prefill pass; by default about 128 MiB of logits' worth. */
  readonly prefillChunkTokens?: number;
}

export interface DecodeStats {
  readonly promptTokens: number;
  /** Prompt tokens run through the model; the rest came from the prefix cache. */
  readonly prefillTokens: number;
  readonly generatedTokens: number;
  readonly forwardPasses: number;
  readonly draftedTokens: number;
  readonly acceptedDraftTokens: number;
  readonly timeToFirstTokenMs: number;
  readonly durationMs: number;
  /** Whether generation ended on an end-of-sequence token (false: token limit, stop or abort). */
  readonly endedOnEos: boolean;
}

/**
 * Generates tokens after `prompt`, yielding each accepted group of new token ids (the end-of-sequence
 * token is not yielded). The caller may stop early with `return()`; the statistics are then
 * available from `stats()` all the same.
 *
 * Every step runs the pending token together with up to K draft tokens from prompt lookup, keeps the
 * longest prefix of drafts that the model itself would have chosen, and cuts the KV cache back to
 * the kept tokens. Under greedy decoding the output is therefore the same as one token per pass.
 */
export class Decoder {
  private readonly model: CausalLm;
  private readonly options: DecodeOptions;
  private promptTokens = 0;
  private prefillTokens = 0;
  private generated = 0;
  private passes = 0;
  private drafted = 0;
  private accepted = 0;
  private startedAt = 0;
  private firstTokenAt: number | undefined;
  private finishedAt: number | undefined;
  private endedOnEos = false;

  constructor(model: CausalLm, options: DecodeOptions) {
    this.model = model;
    this.options = options;
  }

  stats(): DecodeStats {
    const now = this.finishedAt ?? performance.now();
    return {
      promptTokens: this.promptTokens,
      prefillTokens: this.prefillTokens,
      generatedTokens: this.generated,
      forwardPasses: this.passes,
      draftedTokens: this.drafted,
      acceptedDraftTokens: this.accepted,
      timeToFirstTokenMs: (this.firstTokenAt ?? now) - this.startedAt,
      durationMs: now - this.startedAt,
      endedOnEos: this.endedOnEos,
    };
  }

  async *run(prompt: readonly number[]): AsyncGenerator<number[], void, undefined> {
    const { model, options } = this;
    this.startedAt = performance.now();
    this.promptTokens = prompt.length;
    if (prompt.length === 0)
      throw new DocentError('INVALID_ARGUMENT', 'The prompt is empty; there is nothing to continue.');
    const limit = Math.min(options.maxNewTokens, model.maxPositions - prompt.length);
    if (limit <= 0) {
      throw new DocentError(
        'INVALID_ARGUMENT',
        `The prompt has ${prompt.length} tokens, which leaves no room below the model's ${model.maxPositions}-token context.`,
      );
    }

    // Prefill, starting from the longest cached prefix; at least one token must run to get logits.
    let cache: KvCache = model.emptyCache();
    let reused = 0;
    const hit = options.prefixCache?.lookup(prompt, prompt.length - 1);
    if (hit !== undefined) {
      cache = hit.cache;
      reused = hit.length;
    }
    // Prefill in chunks so the logits of all prompt positions (rows × vocabulary floats) stay
    // within about 128 MiB when the export cannot return the last row alone.
    const chunkTokens =
      options.prefillChunkTokens ??
      Math.max(32, Math.floor(PREFILL_LOGIT_FLOATS / Math.max(1, model.vocabSize)));
    let prefill: ForwardResult | undefined;
    for (let start = reused; start < prompt.length; start += chunkTokens) {
      this.checkAborted();
      const end = Math.min(prompt.length, start + chunkTokens);
      prefill = await model.forward(prompt.slice(start, end), cache, { lastLogitsOnly: true });
      this.passes++;
      cache = prefill.cache;
    }
    if (prefill === undefined) throw new Error('prefill ran no tokens');
    this.prefillTokens = prompt.length - reused;
    options.prefixCache?.store(prompt, cache);

    const sequence = [...prompt];
    let pending = chooseToken(prefill.logits.row(prefill.logits.rows - 1), options.sampling);

    try {
      for (;;) {
        // `pending` is chosen but not yet in the KV cache.
        if (model.eosTokenIds.has(pending)) {
          this.endedOnEos = true;
          return;
        }
        sequence.push(pending);
        this.generated++;
        this.firstTokenAt ??= performance.now();
        const emitted = [pending];
        if (this.generated >= limit) {
          yield emitted;
          return;
        }

        const lookup = options.promptLookup;
        const room = limit - this.generated;
        const drafts =
          lookup === undefined
            ? []
            : draftFromContext(sequence, lookup.maxNgram, Math.min(lookup.maxDraftTokens, room - 1));
        yield emitted;
        this.checkAborted();

        const step = await model.forward([pending, ...drafts], cache);
        this.passes++;
        this.drafted += drafts.length;

        let kept = 0;
        let next = -1;
        for (; kept < drafts.length; kept++) {
          const draft = drafts[kept] as number;
          const choice = chooseToken(step.logits.row(kept), options.sampling, draft);
          if (choice !== draft) {
            next = choice;
            break;
          }
        }
        if (next === -1) next = chooseToken(step.logits.row(drafts.length), options.sampling);
        this.accepted += kept;
        cache = step.cache.truncate(cache.length + 1 + kept);

        // Emit the accepted drafts, stopping at end of sequence or the token limit.
        const acceptedTokens: number[] = [];
        for (const token of drafts.slice(0, kept)) {
          if (model.eosTokenIds.has(token)) {
            this.endedOnEos = true;
            if (acceptedTokens.length > 0) yield acceptedTokens;
            return;
          }
          sequence.push(token);
          this.generated++;
          acceptedTokens.push(token);
          if (this.generated >= limit) {
            yield acceptedTokens;
            return;
          }
        }
        if (acceptedTokens.length > 0) yield acceptedTokens;
        pending = next;
      }
    } finally {
      this.finishedAt = performance.now();
      // Later turns of the same conversation start with this prompt, so keep its cache for them.
      // The cache covers the sequence up to the last token fed to the model.
      if (cache.length > prompt.length) options.prefixCache?.store(sequence, cache);
    }
  }

  private checkAborted(): void {
    if (this.options.signal?.aborted === true) {
      throw new DocentError('CANCELLED', 'Generation was cancelled because the request was aborted.', {
        cause: this.options.signal.reason,
      });
    }
  }
}
