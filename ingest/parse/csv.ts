import Papa from 'papaparse';
import { DocumentBuilder } from './document-builder.ts';
import type { ParsedDocument } from './types.ts';

/**
 * Parses delimited text with papaparse, detecting the delimiter among comma, semicolon, tab and
 * pipe. Quoted cells keep their delimiters and line breaks. The first row is the header: it is
 * the first block, and every later row is a 'row' block (cells separated by ` | `) that carries
 * the header in `header`. Rows with fewer or more cells than the header are kept as they are.
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

  const rows = result.data.map((cells) =>
    cells.map((cell) => cell.replace(/\s*\r?\n\s*/g, ' ').trim()).join(' | '),
  );
  const [header, ...body] = rows;
  if (header === undefined) return builder.build(mediaType);

  builder.addBlock('row', header);
  for (const row of body) builder.addBlock('row', row, { header });
  return builder.build(mediaType);
}
