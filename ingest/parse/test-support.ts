import { expect } from 'vitest';
import type { ParsedDocument } from './types.ts';

/**
 * Asserts the offsets contract of a parsed document. Blocks lie inside the text, in order and
 * without overlap, and each slice is non-blank without surrounding whitespace. Headings carry a
 * level from 1 to 6. Pages are numbered from 1 in order, with spans inside the text.
 */
export function expectValidOffsets(document: ParsedDocument): void {
  let previousEnd = 0;
  for (const block of document.blocks) {
    expect(
      block.start,
      `block ${JSON.stringify(block)} starts before the previous block ends`,
    ).toBeGreaterThanOrEqual(previousEnd);
    expect(block.end, `block ${JSON.stringify(block)} is empty`).toBeGreaterThan(block.start);
    expect(block.end, `block ${JSON.stringify(block)} ends after the text`).toBeLessThanOrEqual(
      document.text.length,
    );
    const slice = document.text.slice(block.start, block.end);
    expect(slice.trim(), `block ${JSON.stringify(block)} has surrounding whitespace`).toBe(slice);
    if (block.kind === 'heading') {
      expect(block.level, `heading ${JSON.stringify(block)} has no level`).toBeGreaterThanOrEqual(1);
      expect(block.level).toBeLessThanOrEqual(6);
    }
    previousEnd = block.end;
  }

  let previousPage = 0;
  let previousPageEnd = 0;
  for (const page of document.pages) {
    expect(page.page).toBe(previousPage + 1);
    expect(page.start).toBeGreaterThanOrEqual(previousPageEnd);
    expect(page.end).toBeGreaterThanOrEqual(page.start);
    expect(page.end).toBeLessThanOrEqual(document.text.length);
    previousPage = page.page;
    previousPageEnd = page.end;
  }
  expect(document.text).not.toContain('\uFFFD');
}

/** Returns the text of every block of one kind, in order. */
export function blockTexts(document: ParsedDocument, kind: string): string[] {
  return document.blocks
    .filter((block) => block.kind === kind)
    .map((block) => document.text.slice(block.start, block.end));
}
