/**
 * Text preparation for the FTS5 sparse index. FTS5's unicode61 tokenizer splits at spaces and
 * punctuation, which leaves Chinese and Japanese text (written without spaces) as one long
 * token per run. Runs of CJK characters are therefore indexed as their single characters and
 * overlapping character bigrams, and queries are rewritten the same way, so that queries of
 * one, two or many characters match.
 */
const CJK_RUN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+/gu;
const WORD = /[\p{L}\p{M}\p{N}]+/gu;

/** English words too common to help ranking; dropped from queries only, never from the index. */
const STOPWORDS = new Set(
  (
    'a an and are as at be but by for from has have how i if in into is it its of on or that the their then there ' +
    'these they this to was were what when where which who why will with do does did can you your we our not no'
  ).split(' '),
);

function expandCjkRun(run: string): string[] {
  const characters = Array.from(run);
  const terms = [...characters];
  for (let index = 0; index + 1 < characters.length; index += 1) {
    terms.push(`${characters[index]}${characters[index + 1]}`);
  }
  return terms;
}

/** Rewrites text for indexing: CJK runs become their characters and bigrams; other text is kept. */
export function toIndexText(text: string): string {
  return text.replace(CJK_RUN, (run) => ` ${expandCjkRun(run).join(' ')} `);
}

/**
 * Builds an FTS5 MATCH expression that finds chunks containing any query term (OR), which
 * BM25 then ranks. Every term is a quoted string, so no input can produce FTS5 syntax.
 * Returns undefined when the query has no searchable term.
 */
export function toMatchExpression(query: string): string | undefined {
  const terms = new Set<string>();

  for (const run of query.match(CJK_RUN) ?? []) {
    const characters = Array.from(run);
    if (characters.length === 1) {
      terms.add(run);
      continue;
    }
    for (let index = 0; index + 1 < characters.length; index += 1) {
      terms.add(`${characters[index]}${characters[index + 1]}`);
    }
  }

  const rest = query.replace(CJK_RUN, ' ');
  const words = (rest.match(WORD) ?? []).map((word) => word.toLowerCase());
  const contentWords = words.filter((word) => !STOPWORDS.has(word));
  for (const word of contentWords.length > 0 ? contentWords : words) terms.add(word);

  if (terms.size === 0) return undefined;
  return [...terms].map((term) => `"${term.replaceAll('"', '""')}"`).join(' OR ');
}
