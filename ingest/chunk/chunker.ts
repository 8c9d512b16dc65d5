import { DocentError } from '../../core/errors.ts';
import type { Block, PageSpan, ParsedDocument } from '../parse/types.ts';
import { countTokens, tokenSpans } from './tokens.ts';

export interface ChunkingOptions {
  /** Maximum tokens of chunk text (see tokens.ts); the context prefix is not counted. */
  readonly chunkSize: number;
  /** Tokens of the previous chunk repeated at the start of the next one within a section. */
  readonly chunkOverlap: number;
}

/** A chunk of a document. `text === documentText.slice(start, end)` always holds. */
export interface Chunk {
  readonly ordinal: number;
  readonly text: string;
  readonly start: number;
  readonly end: number;
  /** Page of the chunk's first character, or null for formats without pages. */
  readonly page: number | null;
  readonly pageEnd: number | null;
  readonly tokenCount: number;
  readonly headingPath: readonly string[];
  /**
   * Text that gives the chunk its context when embedded and indexed: the heading path and,
   * for table rows, the table header. It is not part of the cited text.
   */
  readonly context: string;
}

interface Span {
  readonly start: number;
  readonly end: number;
}

interface Section {
  readonly headingPath: readonly string[];
  readonly header: string | undefined;
  readonly blocks: readonly Span[];
}

/**
 * Splits a parsed document into chunks: first at headings (a chunk never crosses one), then
 * at block boundaries, then at sentences, then at token boundaries, each chunk holding at most
 * `chunkSize` tokens, with `chunkOverlap` tokens repeated between neighbours of one section.
 */
export function chunkDocument(document: ParsedDocument, options: ChunkingOptions): Chunk[] {
  validateOptions(options);
  const { text } = document;
  const sections = buildSections(text, document.blocks.length > 0 ? document.blocks : paragraphBlocks(text));

  const chunks: Chunk[] = [];
  for (const section of sections) {
    const units = section.blocks.flatMap((block) => splitToFit(text, block, options.chunkSize));
    for (const span of packUnits(text, units, options)) {
      const chunkText = text.slice(span.start, span.end);
      const headingPrefix = section.headingPath.join(' > ');
      const context = [headingPrefix, section.header ?? ''].filter((part) => part !== '').join('\n');
      chunks.push({
        ordinal: chunks.length,
        text: chunkText,
        start: span.start,
        end: span.end,
        page: pageAt(document.pages, span.start),
        pageEnd: pageAt(document.pages, Math.max(span.start, span.end - 1)),
        tokenCount: countTokens(chunkText),
        headingPath: section.headingPath,
        context,
      });
    }
  }
  return chunks;
}

function validateOptions(options: ChunkingOptions): void {
  if (!Number.isInteger(options.chunkSize) || options.chunkSize < 1) {
    throw new DocentError('INVALID_ARGUMENT', `chunkSize (${options.chunkSize}) must be a positive integer`);
  }
  if (!Number.isInteger(options.chunkOverlap) || options.chunkOverlap < 0) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      `chunkOverlap (${options.chunkOverlap}) must be a non-negative integer`,
    );
  }
  if (options.chunkOverlap >= options.chunkSize) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      `chunkOverlap (${options.chunkOverlap}) must be smaller than chunkSize (${options.chunkSize})`,
    );
  }
}

/** Paragraph blocks split at blank lines, for documents whose parser gave no structure. */
function paragraphBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  const separator = /\n[ \t\f\v\r]*\n/g;
  let start = 0;
  for (let match = separator.exec(text); ; match = separator.exec(text)) {
    const end = match === null ? text.length : match.index;
    const trimmed = trimSpan(text, { start, end });
    if (trimmed.end > trimmed.start) blocks.push({ kind: 'paragraph', ...trimmed });
    if (match === null) break;
    start = match.index + match[0].length;
  }
  return blocks;
}

function buildSections(text: string, blocks: readonly Block[]): Section[] {
  const sections: Section[] = [];
  const headings: Array<{ level: number; title: string }> = [];
  let current:
    { headingPath: string[]; header: string | undefined; blocks: Span[]; headingOnly: boolean } | undefined;

  const close = (): void => {
    if (current !== undefined && current.blocks.length > 0) sections.push(current);
    current = undefined;
  };

  for (const block of blocks) {
    const span = trimSpan(text, block);
    if (span.end <= span.start) continue;

    if (block.kind === 'heading') {
      close();
      const level = block.level ?? 1;
      while (headings.length > 0 && (headings.at(-1)?.level ?? 0) >= level) headings.pop();
      headings.push({ level, title: collapseWhitespace(text.slice(span.start, span.end)) });
      // The heading line itself starts the section's first chunk, so its text is citable.
      current = {
        headingPath: headings.map((heading) => heading.title),
        header: undefined,
        blocks: [span],
        headingOnly: true,
      };
      continue;
    }

    const header = block.header;
    if (current === undefined) {
      current = {
        headingPath: headings.map((heading) => heading.title),
        header,
        blocks: [],
        headingOnly: false,
      };
    } else if (header !== current.header) {
      if (current.headingOnly) {
        current.header = header;
      } else {
        close();
        current = {
          headingPath: headings.map((heading) => heading.title),
          header,
          blocks: [],
          headingOnly: false,
        };
      }
    }
    current.headingOnly = false;
    current.blocks.push(span);
  }
  close();
  return sections;
}

/** Splits a span into pieces of at most `maxTokens` tokens: whole, then by sentence, then by token. */
function splitToFit(text: string, span: Span, maxTokens: number): Span[] {
  if (countTokens(text.slice(span.start, span.end)) <= maxTokens) return [span];

  const pieces: Span[] = [];
  for (const sentence of sentenceSpans(text, span)) {
    if (countTokens(text.slice(sentence.start, sentence.end)) <= maxTokens) {
      pieces.push(sentence);
      continue;
    }
    const spans = tokenSpans(text.slice(sentence.start, sentence.end));
    for (let index = 0; index < spans.length; index += maxTokens) {
      const first = spans[index];
      const last = spans[Math.min(index + maxTokens, spans.length) - 1];
      if (first === undefined || last === undefined) continue;
      pieces.push({ start: sentence.start + first[0], end: sentence.start + last[1] });
    }
  }
  return pieces;
}

const sentenceSegmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' });

function sentenceSpans(text: string, span: Span): Span[] {
  const spans: Span[] = [];
  for (const segment of sentenceSegmenter.segment(text.slice(span.start, span.end))) {
    const trimmed = trimSpan(text, {
      start: span.start + segment.index,
      end: span.start + segment.index + segment.segment.length,
    });
    if (trimmed.end > trimmed.start) spans.push(trimmed);
  }
  return spans;
}

/**
 * Packs consecutive units into chunks of at most `chunkSize` tokens. Each new chunk starts
 * with the trailing units of the previous one that fit in `chunkOverlap` tokens.
 */
function packUnits(text: string, units: readonly Span[], options: ChunkingOptions): Span[] {
  const tokens = units.map((unit) => countTokens(text.slice(unit.start, unit.end)));
  const chunks: Span[] = [];
  let first = 0;

  while (first < units.length) {
    let last = first;
    let total = tokens[first] ?? 0;
    while (last + 1 < units.length && total + (tokens[last + 1] ?? 0) <= options.chunkSize) {
      last += 1;
      total += tokens[last] ?? 0;
    }
    const startUnit = units[first];
    const endUnit = units[last];
    if (startUnit === undefined || endUnit === undefined) break;
    chunks.push({ start: startUnit.start, end: endUnit.end });
    if (last + 1 >= units.length) break;

    let next = last + 1;
    let overlap = 0;
    while (next - 1 > first && overlap + (tokens[next - 1] ?? 0) <= options.chunkOverlap) {
      next -= 1;
      overlap += tokens[next] ?? 0;
    }
    first = next;
  }
  return chunks;
}

function trimSpan(text: string, span: Span): Span {
  let { start, end } = span;
  while (start < end && /\s/u.test(text[start] ?? '')) start += 1;
  while (end > start && /\s/u.test(text[end - 1] ?? '')) end -= 1;
  return { start, end };
}

function collapseWhitespace(value: string): string {
  return value
    .replace(/\s+/gu, ' ')
    .replace(/^#+\s*/u, '')
    .trim();
}

/** Returns the page containing character `offset`, or null when the document has no pages. */
export function pageAt(pages: readonly PageSpan[], offset: number): number | null {
  let low = 0;
  let high = pages.length - 1;
  let found: PageSpan | undefined;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const page = pages[middle];
    if (page === undefined) break;
    if (page.start <= offset) {
      found = page;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return found?.page ?? pages[0]?.page ?? null;
}
