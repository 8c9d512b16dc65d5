import Papa from 'papaparse';
import { DocumentBuilder } from './document-builder.ts';
import type { ParsedDocument } from './types.ts';

const NUMBER = /^[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:e[-+]?\d+)?%?$/i;

/**
 * Parses delimited text with papaparse, detecting the delimiter among comma, semicolon, tab and
 * pipe. Quoted cells keep their delimiters, and line breaks inside them become spaces, so each
 * record is one line. Each record is a 'row' block with cells separated by ` | `. The first record
 * is the header, carried in `header` by every later row, unless all its cells are numbers. Rows
 * with fewer or more cells than the header are kept as they are.
 */
export function parseDelimited(text: string, mediaType: string): ParsedDocument {
  const result = Papa.parse<string[]>(text.replace(/^\uFEFF/, ''), {
    delimiter: mediaType === 'text/tab-separated-values' ? '\t' : '',
    delimitersToGuess: [',', ';', '\t', '|'],
    skipEmptyLines: 'greedy',
  });
  const builder = new DocumentBuilder();
  for (const error of result.errors.slice(0, 5)) {
    if (error.code !== 'UndetectableDelimiter')
      builder.warn(`CSV row ${error.row ?? '?'}: ${error.message}.`);
  }

  const records = result.data.map((cells) => cells.map((cell) => cell.replace(/\s*\r?\n\s*/g, ' ').trim()));
  const [first, ...rest] = records;
  if (first === undefined) return builder.build(mediaType);

  const header = first.every((cell) => NUMBER.test(cell)) ? undefined : first.join(' | ');
  builder.addBlock('row', first.join(' | '));
  for (const cells of rest)
    builder.addBlock('row', cells.join(' | '), header === undefined ? {} : { header });
  return builder.build(mediaType);
}
