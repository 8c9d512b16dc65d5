import { getDocument, type PDFDocumentProxy } from 'pdfjs-dist/legacy/build/pdf.mjs';
import type { TextItem } from 'pdfjs-dist/types/src/display/api.js';
import { DocentError } from '../../core/errors.ts';
import { DocumentBuilder } from './document-builder.ts';
import { errorReason } from './error-reason.ts';
import { ocrAvailable, ocrPdfPages, recognisePage, splitParagraphs } from './ocr.ts';
import {
  buildBlocks,
  buildLines,
  buildSegments,
  orderSegments,
  type LayoutBlock,
  type PositionedText,
  type Segment,
} from './pdf-layout.ts';
import type { ParsedDocument } from './types.ts';

export interface PdfOptions {
  readonly maxPages: number;
  readonly ocrLanguages: string;
}

/** Below this many non-space characters per page on average, a PDF is taken to have no text layer. */
const MIN_CHARACTERS_PER_PAGE = 20;

const OCR_ADVICE =
  'Install tesseract to enable OCR (Debian: apt-get install tesseract-ocr tesseract-ocr-eng).';

// eslint-disable-next-line no-control-regex -- control characters are among the unmapped glyphs
const UNMAPPED_GLYPH = /[\uFFFD\uE000-\uF8FF\u0000-\u0008\u000E-\u001F]/gu;

const PAGE_NUMBER = /^(?:page\s*)?[-–(]?\s*(?:\d{1,4}|[ivxlcdm]{1,6})\s*[-–)]?(?:\s*(?:of|\/)\s*\d{1,4})?$/iu;

/**
 * Extracts the text of a PDF page by page with pdf.js. Raises ENCRYPTED_DOCUMENT for a
 * password-protected file, PARSE_LIMIT_EXCEEDED above `maxPages`, NEEDS_OCR when the pages have
 * (almost) no text layer and tesseract is not installed, PARSE_FAILED for a malformed file.
 */
export async function parsePdf(bytes: Uint8Array, options: PdfOptions): Promise<ParsedDocument> {
  const pdf = await openPdf(bytes);
  try {
    if (pdf.numPages > options.maxPages) {
      throw new DocentError(
        'PARSE_LIMIT_EXCEEDED',
        `The PDF has ${pdf.numPages} pages, more than the limit of ${options.maxPages}. Split it into smaller files or raise DOCENT_PARSE_MAX_PAGES.`,
        { details: { pages: pdf.numPages, maxPages: options.maxPages } },
      );
    }

    const pages: PageText[] = [];
    for (let number = 1; number <= pdf.numPages; number += 1) pages.push(await pageText(pdf, number));

    const characters = pages.map(({ items, rotated }) =>
      [...items, ...rotated].reduce((sum, item) => sum + item.text.replace(/\s/g, '').length, 0),
    );
    const unmapped = pages.reduce((sum, page) => sum + page.unmapped, 0);
    if (!hasTextLayer(characters, unmapped)) {
      await assertOcrAvailable(characters, unmapped);
      return await ocrPdfPages(pdf, options.ocrLanguages);
    }

    const builder = new DocumentBuilder();
    const segmentsByPage = pages.map(({ items }) => buildSegments(items));
    const furniture = findRepeatedEdgeText(segmentsByPage, pages);
    const bodySize = dominantSize(pages.flatMap(({ items }) => items));
    const pageBlocks = segmentsByPage.map((segments) =>
      layoutPage(
        segments.filter((segment) => !furniture.has(segment)),
        bodySize,
      ),
    );
    const headingLevels = rankHeadingSizes(pageBlocks.flat());

    const ocrPages = await recognisePagesWithoutText(pdf, characters, options.ocrLanguages);
    if (ocrPages.size > 0) {
      builder.warn(
        `Pages ${[...ocrPages.keys()].join(', ')} have no text layer. Their text was recognised with tesseract OCR.`,
      );
    }

    // Printed page numbers ("55" for the 83rd page, "iv" in a preface), when the PDF defines them.
    const labels = await pdf.getPageLabels().catch(() => null);
    pageBlocks.forEach((blocks, index) => {
      const label = labels?.[index]?.trim();
      builder.startPage(index + 1, label === '' ? undefined : label);
      if (ocrPages.has(index + 1)) {
        for (const paragraph of splitParagraphs(ocrPages.get(index + 1)!))
          builder.addBlock('paragraph', paragraph);
      } else if (characters[index] === 0) {
        builder.warn(`Page ${index + 1} has no text layer and was skipped. ${OCR_ADVICE}`);
      }
      for (const block of blocks) addLayoutBlock(builder, block, headingLevels);
      const rotated = pages[index]!.rotated.map((item) => item.text).join(' ');
      builder.addBlock('paragraph', rotated.replace(/\s+/g, ' '));
      builder.endPage();
    });
    if (unmapped > 0) builder.warn(`Dropped ${unmapped} characters whose font has no Unicode mapping.`);
    return builder.build('application/pdf', await pdfTitle(pdf));
  } finally {
    await pdf.destroy();
  }
}

/** Tests for a usable text layer: at least MIN_CHARACTERS_PER_PAGE a page on average, and most glyphs mapped. */
function hasTextLayer(characters: readonly number[], unmapped: number): boolean {
  const total = characters.reduce((sum, count) => sum + count, 0);
  return total >= MIN_CHARACTERS_PER_PAGE * characters.length && unmapped <= total;
}

/** Raises NEEDS_OCR, saying how to enable OCR, unless tesseract is installed. */
async function assertOcrAvailable(characters: readonly number[], unmapped: number): Promise<void> {
  if (await ocrAvailable()) return;
  const total = characters.reduce((sum, count) => sum + count, 0);
  const reason =
    unmapped > total
      ? `${unmapped} of its ${unmapped + total} characters use fonts without a Unicode mapping, so its text layer cannot be read and it needs OCR.`
      : `It has ${total} characters of text on ${characters.length} page(s), so it is probably scanned and needs OCR.`;
  throw new DocentError(
    'NEEDS_OCR',
    `The PDF cannot be indexed as it is: ${reason} ${OCR_ADVICE} Then upload it again, or upload a PDF with a text layer.`,
    {
      details: { pages: characters.length, characters: total, unmappedCharacters: unmapped },
    },
  );
}

/**
 * Reads the pages without any text in a PDF that has text elsewhere (a scanned page in a report)
 * with OCR when tesseract is installed. Returns the text by page number.
 */
async function recognisePagesWithoutText(
  pdf: PDFDocumentProxy,
  characters: readonly number[],
  languages: string,
): Promise<Map<number, string>> {
  const recognised = new Map<number, string>();
  if (!(await ocrAvailable())) return recognised;
  for (const [index, count] of characters.entries()) {
    if (count === 0) recognised.set(index + 1, await recognisePage(pdf, index + 1, languages));
  }
  return recognised;
}

export async function openPdf(bytes: Uint8Array): Promise<PDFDocumentProxy> {
  // pdf.js takes ownership of (detaches) the buffer it is given and rejects Buffer, so it gets a plain copy.
  const task = getDocument({
    data: new Uint8Array(bytes),
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    verbosity: 0,
    stopAtErrors: false,
  });
  try {
    return await task.promise;
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    if (name === 'PasswordException') {
      throw new DocentError(
        'ENCRYPTED_DOCUMENT',
        'The PDF is protected by a password. Upload a copy without password protection (for example, print it to a new PDF after opening it).',
        {
          cause: error,
        },
      );
    }
    const reason = errorReason(error);
    throw new DocentError(
      'PARSE_FAILED',
      `The PDF could not be read: ${reason}. Check that the file is a complete, valid PDF (re-export or repair it).`,
      { cause: error },
    );
  }
}

interface PageText {
  readonly items: PositionedText[];
  /** Text items that do not run horizontally, in content order. */
  readonly rotated: PositionedText[];
  /** Characters dropped because their font maps them to no Unicode text. */
  readonly unmapped: number;
  /** Lowest and highest y of the page's media box. */
  readonly bottom: number;
  readonly top: number;
}

async function pageText(pdf: PDFDocumentProxy, number: number): Promise<PageText> {
  const page = await pdf.getPage(number);
  try {
    const [, bottom = 0, , top = 792] = page.view;
    const content = await page.getTextContent({ includeMarkedContent: false, disableNormalization: false });
    const items: PositionedText[] = [];
    const rotated: PositionedText[] = [];
    let unmapped = 0;
    for (const item of content.items as TextItem[]) {
      if (typeof item.str !== 'string' || item.str === '') continue;
      const [a = 0, b = 0, c = 0, d = 0, x = 0, y = 0] = item.transform as number[];
      const size = Math.hypot(c, d) || Math.hypot(a, b) || item.height;
      // Glyphs of fonts without a Unicode mapping come out as replacement or private-use
      // characters, which are counted and dropped rather than indexed.
      const text = item.str.replace(UNMAPPED_GLYPH, () => {
        unmapped += 1;
        return '';
      });
      if (text === '') continue;
      const monospace = content.styles[item.fontName]?.fontFamily === 'monospace';
      const positioned = { text, x, y, width: item.width, size, rtl: item.dir === 'rtl', monospace };
      // Text that does not run left to right (a vertical arXiv stamp, a rotated caption) would
      // span the page in layout coordinates, so it is read separately.
      // NOTE: vertical CJK writing (vertical fonts) gets no special handling; its order is untested.
      if (Math.abs(b) > 0.01 * Math.abs(a) || a < 0) rotated.push(positioned);
      else items.push(positioned);
    }
    return { items, rotated, unmapped, bottom: Math.min(bottom, top), top: Math.max(bottom, top) };
  } finally {
    page.cleanup();
  }
}

function layoutPage(segments: Segment[], bodySize: number): LayoutBlock[] {
  return orderSegments(segments).flatMap((region) => buildBlocks(buildLines(region), bodySize));
}

function addLayoutBlock(
  builder: DocumentBuilder,
  block: LayoutBlock,
  headingLevels: Map<number, number>,
): void {
  if (block.kind === 'heading')
    builder.addBlock('heading', block.text, { level: headingLevels.get(roundSize(block.size)) ?? 1 });
  else if (block.kind === 'table')
    builder.addBlock('table', block.rows.join('\n'), { header: block.rows[0]! });
  else builder.addBlock(block.kind, block.text);
}

/**
 * Finds page headers and footers in documents of two pages or more. They are the top or bottom two
 * lines of a page, within 12% of its height from the edge, whose text recurs (see `key`) on at
 * least 60% of the pages (three pages in documents of five or more). Bare page numbers there count too.
 */
function findRepeatedEdgeText(pages: readonly Segment[][], geometry: readonly PageText[]): Set<Segment> {
  const furniture = new Set<Segment>();
  if (pages.length < 2) return furniture;

  // Digits are ignored only in text with letters ("Page 3", "Chapter 2. Tips"). Text of digits
  // alone keeps them, so section numbers such as 1.1.4 in headings at the top of pages stay.
  const key = (segment: Segment): string => {
    const text = segment.text.toLowerCase().replace(/\s+/g, '');
    return /\p{L}/u.test(text) ? text.replace(/\d+/g, '#') : text;
  };
  const edges = pages.map((segments, index) => {
    const { bottom, top } = geometry[index]!;
    const margin = 0.12 * (top - bottom);
    const baselines = [...new Set(segments.map((segment) => Math.round(segment.y)))].sort((a, b) => b - a);
    const edgeBaselines = new Set([...baselines.slice(0, 2), ...baselines.slice(-2)]);
    return segments.filter(
      (segment) =>
        edgeBaselines.has(Math.round(segment.y)) && (segment.y > top - margin || segment.y < bottom + margin),
    );
  });

  const pagesWithKey = new Map<string, number>();
  for (const segments of edges) {
    for (const value of new Set(segments.map(key)))
      pagesWithKey.set(value, (pagesWithKey.get(value) ?? 0) + 1);
  }
  // Running headers that name the current chapter repeat on that chapter's pages only, so in
  // longer documents three pages are enough.
  const threshold = pages.length >= 5 ? 3 : Math.max(2, Math.ceil(pages.length * 0.6));
  for (const segments of edges) {
    for (const segment of segments) {
      if ((pagesWithKey.get(key(segment)) ?? 0) >= threshold || PAGE_NUMBER.test(segment.text))
        furniture.add(segment);
    }
  }
  return furniture;
}

/** Finds the font size that sets the most characters, rounded to half a point. */
function dominantSize(items: readonly PositionedText[]): number {
  const weights = new Map<number, number>();
  for (const item of items)
    weights.set(roundSize(item.size), (weights.get(roundSize(item.size)) ?? 0) + item.text.length);
  let best = 0;
  let bestWeight = -1;
  for (const [size, weight] of weights) {
    if (weight > bestWeight) [best, bestWeight] = [size, weight];
  }
  return best;
}

/** Maps each heading font size to a level: the largest size is level 1, at most level 6. */
function rankHeadingSizes(blocks: readonly LayoutBlock[]): Map<number, number> {
  const sizes = [
    ...new Set(blocks.flatMap((block) => (block.kind === 'heading' ? [roundSize(block.size)] : []))),
  ].sort((a, b) => b - a);
  return new Map(sizes.map((size, index) => [size, Math.min(index + 1, 6)]));
}

function roundSize(size: number): number {
  return Math.round(size * 2) / 2;
}

async function pdfTitle(pdf: PDFDocumentProxy): Promise<string | undefined> {
  const metadata = await pdf.getMetadata().catch(() => undefined);
  const info = metadata?.info as { Title?: unknown } | undefined;
  return typeof info?.Title === 'string' && info.Title.trim() !== '' ? info.Title : undefined;
}
