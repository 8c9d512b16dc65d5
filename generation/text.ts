/**
 * Sentence and token helpers shared by the extractive answerer and the citation grounding check.
 * Every span carries character offsets into the string it came from, so callers can cite exactly.
 */

/** A slice of a string: `text === source.slice(start, end)`. */
export interface TextSpan {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** A normalised term (case folded, lightly stemmed) with the offsets of the word it came from. */
export interface Token {
  readonly term: string;
  readonly start: number;
  readonly end: number;
}

/** Han, kana and the Southeast Asian scripts without spaces: every character is a token. */
const CHARACTER_TOKEN =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u;
const TOKEN_PATTERN =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]|(?:(?![\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}])[\p{L}\p{N}\p{M}])+/gu;

/** Matches a line break that only wraps a paragraph, so not one next to a blank line or before a list item or heading. */
const WRAPPING_LINE_BREAK = /(?<!\n[ \t]*)\r?\n(?![ \t]*(?:\r?\n|[-*•+]\s|\d{1,3}[.)]\s|#))/g;

/**
 * A sentence ending in one of these (an initial, a title, a Latin abbreviation) continues in the
 * next segment. V8's Intl.Segmenter (Node 20) ignores ICU's `ss=standard` abbreviation suppression, so it
 * splits "John C. Messenger" and "e.g. Paris" without this.
 */
const ABBREVIATION_END =
  /(?:^|[\s([{"'“‘-])(?:\p{Lu}|Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Gen|Col|Lt|Sgt|Capt|Rev|Mt|Ft|No|Nos|Fig|Figs|Vol|vs|cf|approx|ca|e\.g|i\.e|U\.S|U\.K)\.$/u;

/** A segment that is only a list item number or bullet, such as "1." before "Edit the file.". */
const LIST_MARKER_ONLY = /^(?:\d{1,3}[.)]|[-*•+])$/;

/** A list item number or bullet at the start of a sentence. */
export const LEADING_LIST_MARKER = /^(?:\d{1,3}[.)]|[-*•+])\s+/;

const segmenters = new Map<string, Intl.Segmenter>();

function sentenceSegmenter(locale: string): Intl.Segmenter {
  let segmenter = segmenters.get(locale);
  if (segmenter === undefined) {
    segmenter = new Intl.Segmenter(locale, { granularity: 'sentence' });
    segmenters.set(locale, segmenter);
  }
  return segmenter;
}

/**
 * Splits text into sentences with `Intl.Segmenter`, trimmed of surrounding whitespace, dropping
 * empty ones. Single line breaks inside a paragraph (hard-wrapped text, PDF lines) do not end a
 * sentence, but blank lines and list items do.
 */
export function splitSentences(text: string, locale = 'und'): TextSpan[] {
  // Same-length replacement keeps every offset valid in the original text.
  const unwrapped = text.replace(WRAPPING_LINE_BREAK, (lineBreak) => ' '.repeat(lineBreak.length));
  const sentences: TextSpan[] = [];

  for (const { segment, index } of sentenceSegmenter(locale).segment(unwrapped)) {
    const leading = segment.length - segment.trimStart().length;
    const trimmed = segment.trim();
    if (trimmed === '') continue;
    let start = index + leading;
    const end = start + trimmed.length;

    const previous = sentences.at(-1);
    const gap = previous === undefined ? '' : unwrapped.slice(previous.end, start);
    const continues =
      previous !== undefined &&
      ((ABBREVIATION_END.test(previous.text) && !gap.includes('\n')) || LIST_MARKER_ONLY.test(previous.text));
    if (previous !== undefined && continues) {
      sentences.pop();
      start = previous.start;
    }
    sentences.push({ start, end, text: text.slice(start, end) });
  }

  return sentences;
}

/** Splits text into normalised tokens with their offsets. Characters of Han, kana and Thai-like scripts are one token each. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  for (const match of text.matchAll(TOKEN_PATTERN)) {
    const word = match[0];
    tokens.push({ term: normalizeTerm(word), start: match.index, end: match.index + word.length });
  }
  return tokens;
}

/** Returns the distinct content terms of a text: its normalised tokens without stopwords, in first-seen order. */
export function contentTerms(text: string): string[] {
  const seen = new Set<string>();
  for (const { term } of tokenize(text)) {
    if (!isStopword(term)) seen.add(term);
  }
  return [...seen];
}

/**
 * Case folds (NFKC, lower case). Latin-script words also lose their accents and common English
 * suffixes and are cut to MAX_LATIN_TERM_LENGTH characters.
 */
export function normalizeTerm(word: string): string {
  const folded = word.normalize('NFKC').toLowerCase();
  if (!LATIN_WORD.test(folded)) return folded;

  const unaccented = folded.normalize('NFD').replace(/\p{M}/gu, '');
  const stemmed = /^[a-z]+$/.test(unaccented) ? stem(unaccented) : unaccented;
  // Truncation works as a rough stemmer for languages without one here (German, Spanish, French).
  return stemmed.length > MAX_LATIN_TERM_LENGTH ? stemmed.slice(0, MAX_LATIN_TERM_LENGTH) : stemmed;
}

const LATIN_WORD = /^[\p{Script=Latin}\p{M}]+$/u;

/**
 * Length at which Latin-script terms are cut, so `verteidigte` and `verteidigung` or `campeonato`
 * and `campeones` share a term. Seven characters measured best on XQuAD-en, -de and -es.
 */
const MAX_LATIN_TERM_LENGTH = 7;

/**
 * Strips plural, -ion (after s or t), -ing, -ed and -ly endings and a final e, a light English stemmer: it conflates
 * `upgrade`, `upgrades`, `upgraded` and `upgrading`. It is not Porter, so it sometimes merges unrelated words.
 */
export function stem(word: string): string {
  if (word.length <= 3) return word;
  let stemmed = word;

  if (stemmed.endsWith('ies') && stemmed.length > 4) stemmed = `${stemmed.slice(0, -3)}y`;
  else if (stemmed.endsWith('sses')) stemmed = stemmed.slice(0, -2);
  else if (stemmed.endsWith('s') && !/(?:ss|us|is)$/.test(stemmed)) stemmed = stemmed.slice(0, -1);

  // translation -> translat, like translate -> translat below
  if (/[st]ion$/.test(stemmed) && stemmed.length > 6) stemmed = stemmed.slice(0, -3);

  const suffix = /(?:ing|ed|ly)$/.exec(stemmed);
  if (suffix !== null && stemmed.length - suffix[0].length >= 3) {
    stemmed = stemmed.slice(0, -suffix[0].length);
    // running -> runn -> run, stopped -> stopp -> stop
    if (/([b-df-hj-np-tv-z])\1$/.test(stemmed) && !/(?:ll|ss|zz)$/.test(stemmed))
      stemmed = stemmed.slice(0, -1);
  } else if (suffix?.[0] === 'ed') {
    // died -> die, used -> use: too short to lose the whole ending
    stemmed = stemmed.slice(0, -1);
  }

  if (stemmed.endsWith('e') && stemmed.length > 3) stemmed = stemmed.slice(0, -1);
  return stemmed;
}

/** True for a normalised term that carries little meaning (function words of English, German, Spanish, Chinese). */
export function isStopword(term: string): boolean {
  return STOPWORDS.has(term);
}

/** True when the character is tokenised one character at a time. */
export function isCharacterToken(term: string): boolean {
  return CHARACTER_TOKEN.test(term);
}

const STOPWORD_LIST = [
  // English
  'a',
  'about',
  'after',
  'all',
  'also',
  'an',
  'and',
  'any',
  'are',
  'as',
  'at',
  'be',
  'been',
  'before',
  'being',
  'between',
  'both',
  'but',
  'by',
  'can',
  'could',
  'did',
  'do',
  'does',
  'doing',
  'during',
  'each',
  'for',
  'from',
  'had',
  'has',
  'have',
  'having',
  'he',
  'her',
  'here',
  'hers',
  'him',
  'his',
  'how',
  'i',
  'if',
  'in',
  'into',
  'is',
  'it',
  'its',
  'itself',
  'just',
  'me',
  'more',
  'most',
  'my',
  'no',
  'nor',
  'not',
  'of',
  'off',
  'on',
  'once',
  'only',
  'or',
  'other',
  'our',
  'ours',
  'out',
  'over',
  'own',
  'same',
  'she',
  'should',
  'so',
  'some',
  'such',
  'than',
  'that',
  'the',
  'their',
  'theirs',
  'them',
  'then',
  'there',
  'these',
  'they',
  'this',
  'those',
  'through',
  'to',
  'too',
  'under',
  'until',
  'up',
  'very',
  'was',
  'we',
  'were',
  'what',
  'when',
  'where',
  'which',
  'while',
  'who',
  'whom',
  'why',
  'will',
  'with',
  'would',
  'you',
  'your',
  'yours',
  'may',
  'might',
  'must',
  'shall',
  'one',
  'many',
  'much',
  'am',
  'via',
  'per',
  'etc',
  'e',
  'g',
  'ie',
  'eg',
  's',
  't',
  // German
  'der',
  'die',
  'das',
  'den',
  'dem',
  'des',
  'ein',
  'eine',
  'einer',
  'eines',
  'einem',
  'einen',
  'und',
  'oder',
  'ist',
  'sind',
  'war',
  'wurde',
  'wurden',
  'zu',
  'im',
  'mit',
  'von',
  'auf',
  'für',
  'nicht',
  'sich',
  'es',
  'als',
  'auch',
  'wie',
  'was',
  'wer',
  'welche',
  'welcher',
  'welches',
  'wann',
  'wo',
  'warum',
  'hat',
  'haben',
  'bei',
  'aus',
  // Spanish
  'el',
  'la',
  'los',
  'las',
  'un',
  'una',
  'unos',
  'unas',
  'y',
  'o',
  'de',
  'del',
  'al',
  'en',
  'que',
  'qué',
  'es',
  'son',
  'fue',
  'por',
  'para',
  'con',
  'se',
  'su',
  'sus',
  'lo',
  'como',
  'cómo',
  'cuál',
  'cuándo',
  'dónde',
  'quién',
  // Chinese function characters
  '的',
  '了',
  '是',
  '在',
  '和',
  '与',
  '也',
  '就',
  '都',
  '而',
  '及',
  '或',
  '之',
  '于',
  '把',
  '被',
  '吗',
  '呢',
  '吧',
  '什',
  '么',
  '哪',
  '谁',
  // question words: 多少 how many, 几 how many, 怎样 and 如何 how
  '多',
  '少',
  '几',
  '怎',
  '样',
  '何',
  '这',
  '那',
  '个',
  '有',
  '为',
].map((word) => normalizeTerm(word));

const STOPWORDS = new Set(STOPWORD_LIST);
