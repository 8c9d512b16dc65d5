import mammoth from 'mammoth';
import { DocentError } from '../../core/errors.ts';
import { MEDIA_TYPES } from './detect.ts';
import { preprocessDocx } from './docx-preprocess.ts';
import { parseHtml } from './html.ts';
import { errorReason } from './error-reason.ts';
import type { ParsedDocument } from './types.ts';

export interface DocxOptions {
  /** Maximum total uncompressed size of the ZIP entries, in MiB. */
  readonly maxUnzippedMb: number;
}

/** More entries than any real word-processing document has; a guard against crafted archives. */
const MAX_ZIP_ENTRIES = 20_000;

/**
 * Converts a DOCX (Transitional or Strict OOXML) to HTML with mammoth and reads that HTML's
 * blocks: headings from the Heading styles, lists, tables with the first row as header. Comments,
 * page headers and page footers are not part of mammoth's output. Raises PARSE_LIMIT_EXCEEDED
 * when the archive would inflate beyond `maxUnzippedMb`.
 */
export async function parseDocx(bytes: Uint8Array, options: DocxOptions): Promise<ParsedDocument> {
  checkZipSize(bytes, options.maxUnzippedMb);

  let html: string;
  try {
    const prepared = (await preprocessDocx(bytes)) ?? bytes;
    const result = await mammoth.convertToHtml(
      { buffer: Buffer.from(prepared.buffer, prepared.byteOffset, prepared.byteLength) },
      { ignoreEmptyParagraphs: true },
    );
    html = result.value;
  } catch (error) {
    const reason = errorReason(error);
    throw new DocentError(
      'PARSE_FAILED',
      `The DOCX file could not be read: ${reason}. Open it in a word processor and save it again as .docx.`,
      { cause: error },
    );
  }
  return parseHtml(html, { extractMainContent: false, mediaType: MEDIA_TYPES.docx, numbersInText: true });
}

/**
 * Sums the uncompressed sizes that the ZIP central directory declares, before anything is
 * inflated. Sizes can lie; the worker's memory limit catches an archive that inflates beyond them.
 */
export function checkZipSize(bytes: Uint8Array, maxUnzippedMb: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const endOfDirectory = findEndOfCentralDirectory(view);
  if (endOfDirectory < 0)
    throw new DocentError(
      'PARSE_FAILED',
      'The DOCX file is not a valid ZIP archive (no end of central directory). Save it again as .docx.',
    );

  const entries = view.getUint16(endOfDirectory + 10, true);
  let offset = view.getUint32(endOfDirectory + 16, true);
  if (entries > MAX_ZIP_ENTRIES) {
    throw new DocentError(
      'PARSE_LIMIT_EXCEEDED',
      `The DOCX archive has ${entries} entries, more than the limit of ${MAX_ZIP_ENTRIES}; it is not a normal document.`,
    );
  }

  const limit = maxUnzippedMb * 1024 * 1024;
  let total = 0;
  for (let index = 0; index < entries; index += 1) {
    if (offset + 46 > view.byteLength || view.getUint32(offset, true) !== 0x02014b50) {
      throw new DocentError(
        'PARSE_FAILED',
        'The DOCX file has a damaged ZIP central directory. Open it in a word processor and save it again.',
      );
    }
    const size = view.getUint32(offset + 24, true);
    total += size === 0xffffffff ? Number.POSITIVE_INFINITY : size;
    if (total > limit) {
      throw new DocentError(
        'PARSE_LIMIT_EXCEEDED',
        `The DOCX archive inflates to more than ${maxUnzippedMb} MiB (a ZIP bomb or an unusually large document). Raise DOCENT_PARSE_MAX_UNZIPPED_MB if the file is trusted.`,
      );
    }
    offset +=
      46 +
      view.getUint16(offset + 28, true) +
      view.getUint16(offset + 30, true) +
      view.getUint16(offset + 32, true);
  }
}

function findEndOfCentralDirectory(view: DataView): number {
  const lowest = Math.max(0, view.byteLength - 22 - 0xffff);
  for (let offset = view.byteLength - 22; offset >= lowest; offset -= 1) {
    if (view.getUint32(offset, true) === 0x06054b50) return offset;
  }
  return -1;
}
