import { DocumentBuilder } from './document-builder.ts';
import type { ParsedDocument } from './types.ts';

/** Splits plain text into paragraph blocks at blank lines. */
export function parsePlainText(text: string): ParsedDocument {
  const builder = new DocumentBuilder();
  for (const paragraph of text.replace(/\r\n?/g, '\n').split(/\n[ \t]*\n/)) {
    builder.addBlock('paragraph', paragraph.replace(/[ \t]+$/gm, ''));
  }
  return builder.build('text/plain');
}
