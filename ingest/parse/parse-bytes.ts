import { DocentError } from '../../core/errors.ts';
import { assertNotBlank } from './blank.ts';
import { decodeText } from './decode.ts';
import { detectFormat, MEDIA_TYPES } from './detect.ts';
import type { ParsedDocument, ParseInput } from './types.ts';

/** Limits that apply inside one parse, besides the worker's time and memory limits. */
export interface ContentLimits {
  readonly maxPages: number;
  readonly maxUnzippedMb: number;
  readonly ocrLanguages: string;
}

/**
 * Detects the format of `input` from its content and parses it in the current thread. Raises
 * EMPTY_DOCUMENT for empty or whitespace-only files (before anything else), and the format
 * parsers' errors otherwise. `parseDocument` runs this in a worker thread.
 */
export async function parseBytes(input: ParseInput, limits: ContentLimits): Promise<ParsedDocument> {
  const { bytes, filename } = input;
  assertNotBlank(bytes, filename);

  let decoded: string | undefined;
  const text = (): string => (decoded ??= decodeText(bytes).text);
  const detection = await detectFormat(bytes, text, filename, input.declaredType);

  // Parsers are imported on first use, so a worker that reads only text never loads pdf.js.
  let document: ParsedDocument;
  switch (detection.format) {
    case 'pdf':
      document = await (await import('./pdf.ts')).parsePdf(bytes, limits);
      break;
    case 'docx':
      document = await (await import('./docx.ts')).parseDocx(bytes, limits);
      break;
    case 'html': {
      const { decodeHtml, parseHtml } = await import('./html.ts');
      document = parseHtml(decodeHtml(bytes), { extractMainContent: true, mediaType: MEDIA_TYPES.html });
      break;
    }
    case 'markdown':
      document = (await import('./markdown.ts')).parseMarkdown(text());
      break;
    case 'csv':
    case 'tsv':
      document = (await import('./csv.ts')).parseDelimited(text(), MEDIA_TYPES[detection.format]);
      break;
    case 'text':
      document = (await import('./plain-text.ts')).parsePlainText(text());
      break;
  }

  if (document.text.trim() === '') {
    throw new DocentError(
      'EMPTY_DOCUMENT',
      `"${filename}" contains no extractable text (${document.mediaType}).${document.warnings.length > 0 ? ` ${document.warnings.join(' ')}` : ''}`,
    );
  }
  return detection.mismatch === undefined
    ? document
    : { ...document, warnings: [detection.mismatch, ...document.warnings] };
}
