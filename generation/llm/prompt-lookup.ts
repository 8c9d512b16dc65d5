/**
 * Prompt-lookup drafting: finds the most recent earlier occurrence of the sequence's last n tokens
 * (n from `maxNgram` down to 1) and proposes the tokens that followed it. Retrieval answers copy
 * names, numbers and phrases from their sources, so the continuation is often right.
 *
 * Searches positions before the final n-gram, in the prompt and in the tokens generated so far.
 */
export function draftFromContext(
  tokens: readonly number[],
  maxNgram: number,
  maxDraftTokens: number,
): number[] {
  const length = tokens.length;
  if (maxDraftTokens <= 0) return [];

  for (let n = Math.min(maxNgram, length - 1); n >= 1; n--) {
    const tailStart = length - n;
    for (let start = tailStart - 1; start >= 0; start--) {
      let matches = true;
      for (let k = 0; k < n; k++) {
        if (tokens[start + k] !== tokens[tailStart + k]) {
          matches = false;
          break;
        }
      }
      if (!matches) continue;
      const from = start + n;
      const to = Math.min(from + maxDraftTokens, length);
      if (to > from) return tokens.slice(from, to);
    }
  }
  return [];
}
