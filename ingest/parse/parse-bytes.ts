import { DocentError } from '../../core/errors.ts';
import { assertNotBlank } from './blank.ts';
import { errorReason } from './error-reason.ts';
import { decodeText } from './decode.ts';
import { detectFormat, MEDIA_TYPES, type DetectedFormat } from './detect.ts';
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

  let document: ParsedDocument;
  try {
    document = await parseFormat(detection.format, bytes, text, limits);
  } catch (error) {
    if (error instanceof DocentError) throw error;
    const reason =
      error instanceof RangeError && /call stack/i.test(error.message)
        ? 'its structure is nested too deeply'
        : errorReason(error);
    throw new DocentError(
      'PARSE_FAILED',
      `"${filename}" could not be parsed as ${detection.format.toUpperCase()}: ${reason}. Check that the file is complete and valid, or convert it to another supported format.`,
      { cause: error },
    );
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

async function parseFormat(
  format: DetectedFormat,
  bytes: Uint8Array,
  text: () => string,
  limits: ContentLimits,
): Promise<ParsedDocument> {
  // Parsers are imported on first use, so a worker that reads only text never loads pdf.js.
  switch (format) {
    case 'pdf':
      return (await import('./pdf.ts')).parsePdf(bytes, limits);
    case 'docx':
      return (await import('./docx.ts')).parseDocx(bytes, limits);
    case 'html': {
      const { decodeHtml, parseHtml } = await import('./html.ts');
      return parseHtml(decodeHtml(bytes), { extractMainContent: true, mediaType: MEDIA_TYPES.html });
    }
    case 'markdown':
      return (await import('./markdown.ts')).parseMarkdown(text());
    case 'csv':
    case 'tsv':
      return (await import('./csv.ts')).parseDelimited(text(), MEDIA_TYPES[format]);
    case 'text':
      return (await import('./plain-text.ts')).parsePlainText(text());
  }
}
