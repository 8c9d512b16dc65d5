/**
 * Token counting for chunk sizes. A token is a run of letters or digits, one punctuation
 * character, or one CJK character (Han, Hiragana, Katakana, Hangul), which is close to what
 * subword tokenizers produce for English and CJK text. Counts are estimates of model tokens,
 * not exact counts for any one model.
 */
const TOKEN_PATTERN =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]|[\p{L}\p{M}\p{N}]+|[^\s\p{L}\p{M}\p{N}]/gu;

export function countTokens(text: string): number {
  let count = 0;
  TOKEN_PATTERN.lastIndex = 0;
  while (TOKEN_PATTERN.exec(text) !== null) count += 1;
  return count;
}

/** Character offsets (start, end) of each token of `text`, in order. */
export function tokenSpans(text: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  TOKEN_PATTERN.lastIndex = 0;
  for (let match = TOKEN_PATTERN.exec(text); match !== null; match = TOKEN_PATTERN.exec(text)) {
    spans.push([match.index, match.index + match[0].length]);
  }
  return spans;
}
