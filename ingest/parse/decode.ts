import chardet from 'chardet';
import iconv from 'iconv-lite';
import { DocentError } from '../../core/errors.ts';

export interface DecodedText {
  readonly text: string;
  /** The encoding used, as an iconv-lite name, e.g. `utf-8`, `utf-16le`, `gb18030`. */
  readonly encoding: string;
}

/** Minimum chardet confidence (0 to 100) for a legacy encoding to be tried. */
const MIN_CHARDET_CONFIDENCE = 10;

/**
 * Decodes text bytes: a byte order mark wins, then a declared charset (e.g. from an HTML meta
 * tag), then UTF-16 or UTF-32 recognised by their zero bytes, then strict UTF-8, then the
 * encodings chardet proposes (GB18030, Shift_JIS, windows-1252 and others). Raises
 * UNDECODABLE_TEXT when no encoding yields text free of replacement and control characters.
 */
export function decodeText(bytes: Uint8Array, declaredCharset?: string): DecodedText {
  const bom = decodeWithByteOrderMark(bytes);
  if (bom !== undefined) return bom;

  if (declaredCharset !== undefined) {
    const encoding = normaliseCharset(declaredCharset);
    if (encoding !== undefined) {
      const text = tryDecode(bytes, encoding);
      if (text !== undefined) return { text, encoding };
    }
  }

  const wide = guessWideEncoding(bytes);
  if (wide !== undefined) {
    const text = tryDecode(bytes, wide);
    if (text !== undefined) return { text, encoding: wide };
  }

  const utf8 = decodeUtf8(bytes);
  if (utf8 !== undefined) return { text: utf8, encoding: 'utf-8' };

  const tried: string[] = [];
  for (const match of chardet.analyse(bytes)) {
    if (match.confidence < MIN_CHARDET_CONFIDENCE) continue;
    const encoding = normaliseCharset(match.name);
    if (encoding === undefined || tried.includes(encoding)) continue;
    tried.push(encoding);
    const text = tryDecode(bytes, encoding);
    if (text !== undefined) return { text, encoding };
  }

  throw new DocentError(
    'UNDECODABLE_TEXT',
    `The text could not be decoded as UTF-8${tried.length > 0 ? ` or as ${tried.join(', ')}` : ''}: every attempt produced replacement or control characters. Save the file as UTF-8 and upload it again.`,
  );
}

/** Returns true for text that starts with a byte order mark or is UTF-16 or UTF-32 by its zero bytes. */
export function isWideText(bytes: Uint8Array): boolean {
  return startsWithByteOrderMark(bytes) || guessWideEncoding(bytes) !== undefined;
}

/** Returns true when bytes look like binary data rather than text in any supported encoding. */
export function looksBinary(bytes: Uint8Array): boolean {
  if (isWideText(bytes)) return false;
  const sample = bytes.subarray(0, 8192);
  let controls = 0;
  for (const byte of sample) {
    if (byte === 0) return true;
    if (byte < 0x09 || (byte > 0x0d && byte < 0x20 && byte !== 0x1b)) controls += 1;
  }
  return controls > sample.length * 0.05;
}

function decodeWithByteOrderMark(bytes: Uint8Array): DecodedText | undefined {
  const [b0, b1, b2, b3] = bytes;
  let encoding: string | undefined;
  let skip = 0;
  if (b0 === 0xef && b1 === 0xbb && b2 === 0xbf) [encoding, skip] = ['utf-8', 3];
  else if (b0 === 0xff && b1 === 0xfe && b2 === 0 && b3 === 0) [encoding, skip] = ['utf-32le', 4];
  else if (b0 === 0 && b1 === 0 && b2 === 0xfe && b3 === 0xff) [encoding, skip] = ['utf-32be', 4];
  else if (b0 === 0xff && b1 === 0xfe) [encoding, skip] = ['utf-16le', 2];
  else if (b0 === 0xfe && b1 === 0xff) [encoding, skip] = ['utf-16be', 2];
  if (encoding === undefined) return undefined;

  const text = tryDecode(bytes.subarray(skip), encoding);
  if (text === undefined) {
    throw new DocentError(
      'UNDECODABLE_TEXT',
      `The file starts with a ${encoding.toUpperCase()} byte order mark but its content is not valid ${encoding.toUpperCase()}. Save the file again as UTF-8.`,
    );
  }
  return { text, encoding };
}

function startsWithByteOrderMark(bytes: Uint8Array): boolean {
  const [b0, b1, b2] = bytes;
  return (
    (b0 === 0xef && b1 === 0xbb && b2 === 0xbf) ||
    (b0 === 0xff && b1 === 0xfe) ||
    (b0 === 0xfe && b1 === 0xff) ||
    (b0 === 0 && b1 === 0 && b2 === 0xfe)
  );
}

/**
 * Recognises UTF-16 and UTF-32 without a byte order mark by where the zero bytes fall: text
 * that is mostly Latin script has a zero in every other byte (UTF-16) or three in four (UTF-32).
 */
function guessWideEncoding(bytes: Uint8Array): string | undefined {
  const sample = bytes.subarray(0, Math.min(bytes.length, 4096) & ~3);
  if (sample.length < 4) return undefined;
  const zerosAt = [0, 0, 0, 0];
  for (let index = 0; index < sample.length; index += 1) {
    if (sample[index] === 0) zerosAt[index % 4]! += 1;
  }
  const quarter = sample.length / 4;
  const [z0, z1, z2, z3] = zerosAt as [number, number, number, number];
  if (z1 > 0.9 * quarter && z2 > 0.9 * quarter && z3 > 0.9 * quarter && z0 < 0.1 * quarter) return 'utf-32le';
  if (z0 > 0.9 * quarter && z1 > 0.9 * quarter && z2 > 0.9 * quarter && z3 < 0.1 * quarter) return 'utf-32be';
  if (z1 + z3 > 0.6 * 2 * quarter && z0 + z2 < 0.05 * 2 * quarter) return 'utf-16le';
  if (z0 + z2 > 0.6 * 2 * quarter && z1 + z3 < 0.05 * 2 * quarter) return 'utf-16be';
  return undefined;
}

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    // ignoreBOM false: the decoder strips a leading byte order mark.
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
    return isCleanText(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

function tryDecode(bytes: Uint8Array, encoding: string): string | undefined {
  if (encoding === 'utf-8') return decodeUtf8(bytes);
  if (encoding === 'utf-16le' || encoding === 'utf-16be') {
    // TextDecoder rejects unpaired surrogates, which iconv-lite would pass through.
    try {
      const text = new TextDecoder(encoding, { fatal: true, ignoreBOM: false }).decode(bytes);
      return isCleanText(text) ? text : undefined;
    } catch {
      return undefined;
    }
  }
  if (!iconv.encodingExists(encoding)) return undefined;
  const text = iconv.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), encoding, {
    stripBOM: true,
  });
  return isCleanText(text) ? text : undefined;
}

/** Text is clean when it has no replacement characters and almost no control characters. */
function isCleanText(text: string): boolean {
  if (text.includes('\uFFFD')) return false;
  let controls = 0;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (
      (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d && code !== 0x0c) ||
      (code >= 0x7f && code < 0xa0)
    )
      controls += 1;
  }
  return controls <= Math.max(2, text.length * 0.001);
}

/**
 * Maps a charset label to an iconv-lite encoding name. As in the WHATWG Encoding Standard,
 * ISO-8859-1 and ASCII labels mean windows-1252, and GB2312 and GBK mean GB18030 (a superset).
 */
export function normaliseCharset(label: string): string | undefined {
  const name = label
    .trim()
    .toLowerCase()
    .replace(/^["']|["']$/g, '');
  const aliases: Record<string, string> = {
    utf8: 'utf-8',
    'unicode-1-1-utf-8': 'utf-8',
    'iso-8859-1': 'windows-1252',
    'iso8859-1': 'windows-1252',
    latin1: 'windows-1252',
    l1: 'windows-1252',
    ascii: 'windows-1252',
    'us-ascii': 'windows-1252',
    cp1252: 'windows-1252',
    gb2312: 'gb18030',
    gbk: 'gb18030',
    'x-gbk': 'gb18030',
    'shift-jis': 'shift_jis',
    sjis: 'shift_jis',
    'x-sjis': 'shift_jis',
    'utf-16': 'utf-16le',
    unicode: 'utf-16le',
  };
  const encoding = aliases[name] ?? name;
  return encoding === 'utf-8' || iconv.encodingExists(encoding) ? encoding : undefined;
}
