/** Word-start marker of SentencePiece: a space in the input becomes this character. */
const WORD_START = '\u2581';

/** The first vocabulary entries are control symbols (unknown, <s>, </s>, extras) that never match text. */
const RESERVED_SYMBOL_COUNT = 6;

/** Id of the unknown-symbol piece. */
export const UNKNOWN_TOKEN_ID = 0;

/** A SentencePiece unigram vocabulary: `[piece, log probability]`, the array index is the token id. */
export type UnigramVocabulary = ReadonlyArray<readonly [string, number]>;

interface TrieNode {
  readonly children: Map<string, TrieNode>;
  /** Set when a vocabulary piece ends at this node. */
  piece?: { readonly id: number; readonly score: number; readonly length: number };
}

/**
 * Unigram SentencePiece tokenizer of the Universal Sentence Encoder lite vocabulary: the most
 * probable segmentation (Viterbi) of the NFKC-normalised text into vocabulary pieces. Characters
 * no piece covers become the unknown token, and a run of them becomes one unknown token.
 */
export class SentencePieceTokenizer {
  private readonly root: TrieNode = { children: new Map() };

  constructor(vocabulary: UnigramVocabulary) {
    for (let id = RESERVED_SYMBOL_COUNT; id < vocabulary.length; id++) {
      const entry = vocabulary[id];
      if (entry === undefined) continue;
      const [piece, score] = entry;
      let node = this.root;
      const symbols = Array.from(piece);
      for (const symbol of symbols) {
        let child = node.children.get(symbol);
        if (child === undefined) {
          child = { children: new Map() };
          node.children.set(symbol, child);
        }
        node = child;
      }
      node.piece = { id, score, length: symbols.length };
    }
  }

  /** Encodes a text into token ids; an empty or blank-free empty text gives `[]`. */
  encode(text: string): number[] {
    const normalized = text.normalize('NFKC');
    if (normalized.length === 0) return [];
    const symbols = Array.from(WORD_START + normalized.replaceAll(' ', WORD_START));
    const count = symbols.length;

    // best[end] is the highest total log probability of a segmentation of symbols[0, end).
    const best = new Float64Array(count + 1).fill(Number.NEGATIVE_INFINITY);
    const lastToken = new Int32Array(count + 1);
    const lastLength = new Int32Array(count + 1);
    best[0] = 0;

    for (let start = 0; start < count; start++) {
      const startScore = best[start] ?? Number.NEGATIVE_INFINITY;
      if (startScore === Number.NEGATIVE_INFINITY) continue;

      let matched = false;
      let node: TrieNode | undefined = this.root;
      for (let end = start; end < count && node !== undefined; end++) {
        node = node.children.get(symbols[end] ?? '');
        const piece = node?.piece;
        if (piece === undefined) continue;
        matched = true;
        this.relax(best, lastToken, lastLength, end + 1, startScore + piece.score, piece.id, piece.length);
      }
      // An uncovered character becomes the unknown token. Its score of 0 matches the
      // TensorFlow.js reference tokenizer the model was published with.
      if (!matched) this.relax(best, lastToken, lastLength, start + 1, startScore, UNKNOWN_TOKEN_ID, 1);
    }

    const reversed: number[] = [];
    for (let end = count; end > 0;) {
      const token = lastToken[end] ?? UNKNOWN_TOKEN_ID;
      const previousIsUnknown = reversed.length > 0 && reversed[reversed.length - 1] === UNKNOWN_TOKEN_ID;
      if (!(token === UNKNOWN_TOKEN_ID && previousIsUnknown)) reversed.push(token);
      end -= Math.max(1, lastLength[end] ?? 1);
    }
    return reversed.reverse();
  }

  private relax(
    best: Float64Array,
    lastToken: Int32Array,
    lastLength: Int32Array,
    end: number,
    score: number,
    token: number,
    length: number,
  ): void {
    // Ties go to the later candidate, as in the reference tokenizer.
    if (score >= (best[end] ?? Number.NEGATIVE_INFINITY)) {
      best[end] = score;
      lastToken[end] = token;
      lastLength[end] = length;
    }
  }
}
