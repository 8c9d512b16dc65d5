/** Next-token choice: greedy when temperature is 0, else nucleus (top-p) sampling. */
export interface SamplingOptions {
  readonly temperature: number;
  readonly topP: number;
  /** Uniform random numbers in [0, 1); injectable so tests can fix the sequence. */
  readonly random: () => number;
}

/** Index of the largest logit; the lowest index wins a tie, so greedy decoding is deterministic. */
export function argmax(logits: Float32Array): number {
  let best = 0;
  let bestValue = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) {
    const value = logits[i] ?? Number.NEGATIVE_INFINITY;
    if (value > bestValue) {
      bestValue = value;
      best = i;
    }
  }
  return best;
}

/** Sparse next-token distribution after temperature and top-p, highest probability first. */
export interface Distribution {
  readonly tokens: Int32Array;
  readonly probabilities: Float64Array;
}

export function nucleus(logits: Float32Array, temperature: number, topP: number): Distribution {
  let max = Number.NEGATIVE_INFINITY;
  for (const value of logits) if (value > max) max = value;
  const weights = new Float64Array(logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    const weight = Math.exp(((logits[i] ?? Number.NEGATIVE_INFINITY) - max) / temperature);
    weights[i] = weight;
    total += weight;
  }

  // Tokens below one in a billion cannot matter to a draw; skipping them keeps the sort short
  // at vocabularies of 150k tokens.
  const floor = total * 1e-9;
  const order: number[] = [];
  for (let i = 0; i < weights.length; i++) if ((weights[i] ?? 0) > floor) order.push(i);
  order.sort((a, b) => (weights[b] ?? 0) - (weights[a] ?? 0) || a - b);
  const kept: number[] = [];
  let mass = 0;
  for (const token of order) {
    kept.push(token);
    mass += (weights[token] ?? 0) / total;
    if (mass >= topP) break;
  }
  const probabilities = Float64Array.from(kept, (token) => (weights[token] ?? 0) / total / mass);
  return { tokens: Int32Array.from(kept), probabilities };
}

/** Draws a token from a distribution, optionally with one token excluded (renormalising the rest). */
export function sample(distribution: Distribution, random: () => number, excluded = -1): number {
  let total = 0;
  for (let i = 0; i < distribution.tokens.length; i++) {
    if (distribution.tokens[i] !== excluded) total += distribution.probabilities[i] ?? 0;
  }
  let threshold = random() * total;
  let last = -1;
  for (let i = 0; i < distribution.tokens.length; i++) {
    const token = distribution.tokens[i] ?? -1;
    if (token === excluded) continue;
    last = token;
    threshold -= distribution.probabilities[i] ?? 0;
    if (threshold < 0) return token;
  }
  return last === -1 ? excluded : last;
}

export function probabilityOf(distribution: Distribution, token: number): number {
  const index = distribution.tokens.indexOf(token);
  return index === -1 ? 0 : (distribution.probabilities[index] ?? 0);
}

/**
 * Chooses the next token. With a draft token, applies the speculative acceptance rule for a
 * deterministic draft: keep the draft with probability p(draft), otherwise sample from p with the
 * draft removed. The result is distributed exactly as p, and equals argmax under greedy decoding.
 */
export function chooseToken(logits: Float32Array, options: SamplingOptions, draft?: number): number {
  if (options.temperature <= 0) return argmax(logits);
  const distribution = nucleus(logits, options.temperature, options.topP);
  if (draft === undefined) return sample(distribution, options.random);
  if (options.random() < probabilityOf(distribution, draft)) return draft;
  return sample(distribution, options.random, draft);
}
