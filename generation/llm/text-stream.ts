/** The tokenizer calls TextStream needs. */
interface Detokenizer {
  decode(tokens: number[], options: { skip_special_tokens: boolean }): string;
}

/**
 * Turns generated token ids into text pieces for streaming. Holds back an incomplete UTF-8
 * character, which decodes as U+FFFD until its last byte arrives, and any tail that could still
 * grow into a stop sequence. Cuts the text at the first stop sequence.
 */
export class TextStream {
  private readonly tokenizer: Detokenizer;
  private readonly stopSequences: readonly string[];
  private readonly tokens: number[] = [];
  private emitted = 0;
  private current = '';
  private stoppedAt: number | undefined;

  constructor(tokenizer: Detokenizer, stopSequences: readonly string[]) {
    this.tokenizer = tokenizer;
    this.stopSequences = stopSequences.filter((stop) => stop !== '');
  }

  get stopped(): boolean {
    return this.stoppedAt !== undefined;
  }

  /** The whole text so far, cut at a stop sequence. */
  get text(): string {
    return this.stoppedAt === undefined ? this.current : this.current.slice(0, this.stoppedAt);
  }

  /** Adds tokens and returns the text that is now safe to show. */
  push(tokens: readonly number[]): string {
    if (this.stopped) return '';
    this.tokens.push(...tokens);
    this.current = this.tokenizer.decode(this.tokens, { skip_special_tokens: true });

    for (const stop of this.stopSequences) {
      const index = this.current.indexOf(stop, Math.max(0, this.emitted - stop.length));
      if (index !== -1 && (this.stoppedAt === undefined || index < this.stoppedAt)) this.stoppedAt = index;
    }
    if (this.stoppedAt !== undefined) return this.take(this.stoppedAt);

    let safe = this.current.length;
    if (this.current.endsWith('\uFFFD')) safe = this.current.lastIndexOf('\uFFFD');
    for (const stop of this.stopSequences) {
      for (let length = Math.min(stop.length - 1, this.current.length); length > 0; length--) {
        if (this.current.endsWith(stop.slice(0, length))) {
          safe = Math.min(safe, this.current.length - length);
          break;
        }
      }
    }
    return this.take(safe);
  }

  /** Returns the text not yet shown, once generation has ended. */
  finish(): string {
    return this.take(this.text.length);
  }

  private take(end: number): string {
    if (end <= this.emitted) return '';
    const piece = this.current.slice(this.emitted, end);
    this.emitted = end;
    return piece;
  }
}
