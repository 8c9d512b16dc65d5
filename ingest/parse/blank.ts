import { DocentError } from '../../core/errors.ts';
import { decodeText } from './decode.ts';

/**
 * Raises EMPTY_DOCUMENT for a file of zero bytes or of whitespace only (in ASCII, or in UTF-8,
 * UTF-16 or UTF-32 with or without a byte order mark). Files over 64 KiB are not decoded here;
 * a large whitespace-only file is caught after parsing, when no text comes out.
 */
export function assertNotBlank(bytes: Uint8Array, filename: string): void {
  if (!isBlank(bytes)) return;
  throw new DocentError(
    'EMPTY_DOCUMENT',
    `"${filename}" is empty${bytes.length > 0 ? ' (it contains only whitespace)' : ''}. Upload a file with text in it.`,
  );
}

function isBlank(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return true;
  if (bytes.length > 64 * 1024) return false;
  for (const byte of bytes) {
    if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d && byte !== 0x0c && byte !== 0x0b) {
      return isBlankText(bytes);
    }
  }
  return true;
}

function isBlankText(bytes: Uint8Array): boolean {
  try {
    return (
      decodeText(bytes)
        .text.replace(/^\uFEFF/, '')
        .trim() === ''
    );
  } catch {
    return false;
  }
}
