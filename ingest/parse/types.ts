/** Character span of one page in the extracted text. Pages are numbered from 1. */
export interface PageSpan {
  readonly page: number;
  readonly start: number;
  readonly end: number;
  /** The page's printed label (a PDF page label such as `55` or `iv`) when it differs from `page`. */
  readonly label?: string;
}

export type BlockKind = 'heading' | 'paragraph' | 'list' | 'table' | 'code' | 'quote' | 'row';

/**
 * A structural block of the extracted text: `text.slice(start, end)` is the block's text.
 * Headings carry their level (1 = top). Table blocks that the chunker may split keep their
 * header in `header` so that every chunk can repeat it.
 */
export interface Block {
  readonly kind: BlockKind;
  readonly start: number;
  readonly end: number;
  readonly level?: number;
  readonly header?: string;
}

/** The result of parsing one uploaded file. */
export interface ParsedDocument {
  /** The document's extracted text. Chunk offsets index into this string. */
  readonly text: string;
  /** The media type detected from the content, e.g. `application/pdf`. */
  readonly mediaType: string;
  readonly title?: string;
  /** Page spans in order; empty for formats without pages. */
  readonly pages: readonly PageSpan[];
  /** Structural blocks in order, non-overlapping; may be empty, then the chunker splits at blank lines. */
  readonly blocks: readonly Block[];
  /** Non-fatal problems, e.g. a page with no text layer. */
  readonly warnings: readonly string[];
}

export interface ParseInput {
  readonly bytes: Uint8Array;
  /** The uploaded file name; used as a hint only, the content decides. */
  readonly filename: string;
  /** A media type declared by the uploader, as a hint only. */
  readonly declaredType?: string;
}
