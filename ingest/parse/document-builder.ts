import { DocentError } from '../../core/errors.ts';
import type { Block, BlockKind, PageSpan, ParsedDocument } from './types.ts';

/** Separator between two blocks in the extracted text. */
export const BLOCK_SEPARATOR = '\n\n';

export interface BlockOptions {
  readonly level?: number;
  readonly header?: string;
}

/**
 * Accumulates the extracted text block by block, recording each block's character span and each
 * page's span as it goes, so that `text.slice(block.start, block.end)` is exactly the block's text.
 */
export class DocumentBuilder {
  private text = '';
  private readonly blocks: Block[] = [];
  private readonly pages: PageSpan[] = [];
  private readonly warnings: string[] = [];
  private pageStart: number | undefined;
  private pageNumber = 0;
  private pageLabel: string | undefined;
  private replacementCharacters = 0;

  /**
   * Appends one block. Blank content is skipped, surrounding blank lines are trimmed, and
   * replacement and control characters are removed (and counted, see `build`).
   */
  addBlock(kind: BlockKind, content: string, options: BlockOptions = {}): void {
    const cleaned = this.removeInvalidCharacters(content);
    const trimmed = kind === 'code' ? trimBlankLines(cleaned) : cleaned.trim();
    if (trimmed.trim() === '') return;

    if (this.text !== '') this.text += BLOCK_SEPARATOR;
    if (this.pageStart !== undefined && this.pageStart < 0) this.pageStart = this.text.length;
    const start = this.text.length;
    this.text += trimmed;

    const block: { kind: BlockKind; start: number; end: number; level?: number; header?: string } = {
      kind,
      start,
      end: this.text.length,
    };
    if (options.level !== undefined) block.level = options.level;
    if (options.header !== undefined && options.header.trim() !== '') block.header = options.header;
    this.blocks.push(block);
  }

  /** Starts page `page` (numbered from 1); blocks added until `endPage` belong to it. */
  startPage(page: number, label?: string): void {
    this.pageNumber = page;
    this.pageLabel = label === undefined || label === String(page) ? undefined : label;
    this.pageStart = -1;
  }

  endPage(): void {
    if (this.pageStart === undefined) return;
    const start = this.pageStart < 0 ? this.text.length : this.pageStart;
    this.pages.push({
      page: this.pageNumber,
      start,
      end: this.text.length,
      ...(this.pageLabel === undefined ? {} : { label: this.pageLabel }),
    });
    this.pageStart = undefined;
  }

  warn(message: string): void {
    this.warnings.push(message);
  }

  private removeInvalidCharacters(content: string): string {
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is removed
    return content.replace(/\r\n?|[\uFFFD\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g, (match) => {
      if (match === '\uFFFD') this.replacementCharacters += 1;
      return match.startsWith('\r') || match === '\u000B' || match === '\u000C' ? '\n' : '';
    });
  }

  get length(): number {
    return this.text.length;
  }

  /**
   * Returns the parsed document. Raises UNDECODABLE_TEXT when more than 1% of the characters
   * were replacement characters (U+FFFD), which means the text was decoded wrongly.
   */
  build(mediaType: string, title?: string): ParsedDocument {
    if (this.replacementCharacters > 0) {
      const share = this.replacementCharacters / (this.text.length + this.replacementCharacters);
      if (share > 0.01) {
        throw new DocentError(
          'UNDECODABLE_TEXT',
          `${this.replacementCharacters} characters of the text are replacement characters (U+FFFD), so it was not decoded correctly. Convert the file to UTF-8 text, or to a PDF with embedded Unicode fonts, and upload it again.`,
        );
      }
      this.warn(`Removed ${this.replacementCharacters} replacement characters (U+FFFD) from the text.`);
    }
    const document: { -readonly [K in keyof ParsedDocument]: ParsedDocument[K] } = {
      text: this.text,
      mediaType,
      pages: this.pages,
      blocks: this.blocks,
      warnings: this.warnings,
    };
    if (title !== undefined && title.trim() !== '') document.title = title.trim();
    return document;
  }
}

function trimBlankLines(content: string): string {
  return content.replace(/^(?:[ \t]*\r?\n)+/, '').trimEnd();
}
