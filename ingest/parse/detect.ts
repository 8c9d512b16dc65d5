import path from 'node:path';
import { fileTypeFromBuffer } from 'file-type';
import { DocentError } from '../../core/errors.ts';
import { isWideText, looksBinary } from './decode.ts';

export const MEDIA_TYPES = {
  pdf: 'application/pdf',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  html: 'text/html',
  markdown: 'text/markdown',
  csv: 'text/csv',
  tsv: 'text/tab-separated-values',
  text: 'text/plain',
} as const;

export type DetectedFormat = keyof typeof MEDIA_TYPES;

export interface Detection {
  readonly format: DetectedFormat;
  /** Set when the file name or declared type claimed a different format than the content shows. */
  readonly mismatch?: string;
}

const EXTENSION_FORMATS: Record<string, DetectedFormat> = {
  '.pdf': 'pdf',
  '.docx': 'docx',
  '.html': 'html',
  '.htm': 'html',
  '.xhtml': 'html',
  '.md': 'markdown',
  '.markdown': 'markdown',
  '.mdown': 'markdown',
  '.csv': 'csv',
  '.tsv': 'tsv',
  '.tab': 'tsv',
  '.txt': 'text',
  '.text': 'text',
  '.log': 'text',
};

const DECLARED_FORMATS = Object.fromEntries(
  Object.entries(MEDIA_TYPES).map(([format, type]) => [type, format as DetectedFormat]),
) as Record<string, DetectedFormat>;

/** Advice for binary formats that people often upload but Docent does not read. */
const UNSUPPORTED_ADVICE: Record<string, string> = {
  'application/msword': 'Save it as .docx or PDF.',
  'application/x-cfb': 'Save it as .docx or PDF (legacy Office files are not supported).',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'Export the sheet as CSV.',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'Export the slides as PDF.',
  'application/rtf': 'Save it as .docx or PDF.',
  'application/epub+zip': 'Convert it to PDF or HTML.',
};

/**
 * Detects the format of a file from its bytes. Binary formats are recognised by their signature
 * (`file-type`), and text formats by sniffing the decoded start of the text. The file name and
 * declared type only choose between text formats that the content does not tell apart (Markdown,
 * CSV, plain text). Raises UNSUPPORTED_MEDIA_TYPE for other binary content.
 */
export async function detectFormat(
  bytes: Uint8Array,
  text: () => string,
  filename: string,
  declaredType?: string,
): Promise<Detection> {
  const hinted = formatFromHints(filename, declaredType);
  // Text with a byte order mark or in UTF-16/UTF-32 can match binary signatures (UTF-32 LE text
  // looks like an MPEG frame to file-type), so wide text is recognised first.
  const binary = isWideText(bytes) ? undefined : await fileTypeFromBuffer(bytes);

  if (binary !== undefined) {
    let format: DetectedFormat | undefined;
    if (binary.mime === MEDIA_TYPES.pdf) format = 'pdf';
    else if (binary.mime === MEDIA_TYPES.docx || (binary.mime === 'application/zip' && hinted === 'docx'))
      format = 'docx';
    else if (binary.mime === 'application/xml' || binary.mime === 'text/html') format = undefined;
    else {
      const advice =
        UNSUPPORTED_ADVICE[binary.mime] ??
        'Supported formats are PDF, DOCX, HTML, Markdown, CSV, TSV and plain text.';
      throw new DocentError(
        'UNSUPPORTED_MEDIA_TYPE',
        `"${filename}" is ${binary.mime} (detected from its content), which Docent cannot index. ${advice}`,
        {
          details: { detected: binary.mime },
        },
      );
    }
    if (format !== undefined) return withMismatch(format, hinted);
  }

  if (looksBinary(bytes)) {
    throw new DocentError(
      'UNSUPPORTED_MEDIA_TYPE',
      `"${filename}" contains binary data of an unknown format${hinted === undefined ? '' : `, not the ${hinted.toUpperCase()} its name or type suggests`}. Supported formats are PDF, DOCX, HTML, Markdown, CSV, TSV and plain text.`,
    );
  }

  const sample = text().slice(0, 8192);
  if (looksLikeHtml(sample, hinted)) return withMismatch('html', hinted);
  if (hinted === 'markdown' || hinted === 'csv' || hinted === 'tsv' || hinted === 'text')
    return { format: hinted };
  if (looksLikeDelimited(sample)) return withMismatch(sample.includes('\t') ? 'tsv' : 'csv', hinted);
  if (looksLikeMarkdown(sample)) return withMismatch('markdown', hinted);
  return withMismatch('text', hinted);
}

function withMismatch(format: DetectedFormat, hinted: DetectedFormat | undefined): Detection {
  const textual = (value: DetectedFormat): boolean => value !== 'pdf' && value !== 'docx';
  if (
    hinted === undefined ||
    hinted === format ||
    (textual(hinted) && textual(format) && hinted !== 'html' && format !== 'html')
  )
    return { format };
  return {
    format,
    mismatch: `The file name or declared type says ${hinted.toUpperCase()}, but the content is ${format.toUpperCase()}; it was read as ${format.toUpperCase()}.`,
  };
}

function formatFromHints(filename: string, declaredType?: string): DetectedFormat | undefined {
  const declared = declaredType?.split(';')[0]?.trim().toLowerCase();
  if (declared !== undefined && DECLARED_FORMATS[declared] !== undefined) return DECLARED_FORMATS[declared];
  return EXTENSION_FORMATS[path.extname(filename).toLowerCase()];
}

/**
 * HTML starts with a doctype or an `<html>` tag. Without those, a file named as HTML needs one
 * HTML tag, a file named as another text format is never HTML (Markdown may embed tags), and an
 * unnamed file needs `<head>` or `<body>` or ten common tags.
 */
function looksLikeHtml(sample: string, hinted: DetectedFormat | undefined): boolean {
  const start = sample
    .replace(/^\uFEFF/, '')
    .trimStart()
    .slice(0, 1024)
    .toLowerCase();
  if (
    /^(?:<\?xml[^>]*>\s*)?(?:<!--[\s\S]*?-->\s*)*<!doctype html/.test(start) ||
    /^(?:<!--[\s\S]*?-->\s*)*<html[\s>]/.test(start)
  )
    return true;
  const tags =
    sample.match(
      /<\/?(?:html|head|body|div|p|span|table|tr|td|ul|ol|li|h[1-6]|a|br|meta|title|section|article)\b[^>]*>/gi,
    ) ?? [];
  if (hinted === 'html') return tags.length > 0;
  if (hinted !== undefined && hinted !== 'pdf' && hinted !== 'docx') return false;
  return /<(?:head|body)[\s>]/i.test(start) || tags.length >= 10;
}

/** Delimited text: at least three lines with the same, non-zero count of one delimiter. */
function looksLikeDelimited(sample: string): boolean {
  const lines = sample
    .split(/\r?\n/)
    .slice(0, 20)
    .filter((line) => line.trim() !== '');
  if (lines.length < 3) return false;
  const complete = sample.length < 8192 ? lines : lines.slice(0, -1);
  return [',', ';', '\t', '|'].some((delimiter) => {
    const counts = complete.map((line) => line.split(delimiter).length - 1);
    const first = counts[0] ?? 0;
    return first > 0 && counts.every((count) => count === first);
  });
}

function looksLikeMarkdown(sample: string): boolean {
  const signals = [
    /^#{1,6} \S/m,
    /^```/m,
    /^\|?.*\|.*\n\|? *:?-{3,}/m,
    /^ {0,3}[-*+] \S/m,
    /\[[^\]]+\]\([^)\s]+\)/,
    /^> \S/m,
    /\*\*[^*\n]+\*\*/,
  ];
  return signals.filter((signal) => signal.test(sample)).length >= 2;
}
