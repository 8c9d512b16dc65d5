import { describe, expect, it } from 'vitest';
import type { Block, ParsedDocument } from '../parse/types.ts';
import { chunkDocument, pageAt } from './chunker.ts';
import { countTokens } from './tokens.ts';

function documentOf(text: string, blocks: Block[] = [], pages: ParsedDocument['pages'] = []): ParsedDocument {
  return { text, mediaType: 'text/plain', pages, blocks, warnings: [] };
}

function blocksOf(text: string, parts: Array<[Block['kind'], string, number?]>): Block[] {
  let from = 0;
  return parts.map(([kind, part, level]) => {
    const start = text.indexOf(part, from);
    from = start + part.length;
    return { kind, start, end: start + part.length, ...(level === undefined ? {} : { level }) };
  });
}

describe('chunkDocument', () => {
  it('keeps exact offsets for every chunk', () => {
    const text = Array.from(
      { length: 40 },
      (_, index) => `Paragraph ${index} has some words in it. And a second sentence.`,
    ).join('\n\n');
    const chunks = chunkDocument(documentOf(text), { chunkSize: 30, chunkOverlap: 5 });
    expect(chunks.length).toBeGreaterThan(5);
    for (const chunk of chunks) {
      expect(text.slice(chunk.start, chunk.end)).toBe(chunk.text);
      expect(chunk.tokenCount).toBeLessThanOrEqual(30);
    }
  });

  it('never crosses a heading and records the heading path', () => {
    const text =
      '# Install\n\nRun the installer.\n\n## Upgrade\n\nEdit sources.list then run apt update.\n\n# Remove\n\nRun apt purge.';
    const blocks = blocksOf(text, [
      ['heading', '# Install', 1],
      ['paragraph', 'Run the installer.'],
      ['heading', '## Upgrade', 2],
      ['paragraph', 'Edit sources.list then run apt update.'],
      ['heading', '# Remove', 1],
      ['paragraph', 'Run apt purge.'],
    ]);
    const chunks = chunkDocument(documentOf(text, blocks), { chunkSize: 200, chunkOverlap: 10 });
    expect(chunks.map((chunk) => chunk.headingPath)).toEqual([
      ['Install'],
      ['Install', 'Upgrade'],
      ['Remove'],
    ]);
    expect(chunks[1]?.text).toBe('## Upgrade\n\nEdit sources.list then run apt update.');
    expect(chunks[1]?.context).toBe('Install > Upgrade');
  });

  it('splits a long paragraph at sentences with overlap', () => {
    const sentences = Array.from({ length: 20 }, (_, index) => `Sentence number ${index} is here.`);
    const text = sentences.join(' ');
    const chunks = chunkDocument(documentOf(text), { chunkSize: 20, chunkOverlap: 7 });
    expect(chunks.length).toBeGreaterThan(3);
    const second = chunks[1];
    const first = chunks[0];
    expect(second && first && second.start < first.end).toBe(true);
    for (const chunk of chunks) expect(text.slice(chunk.start, chunk.end)).toBe(chunk.text);
  });

  it('splits one giant sentence at token boundaries', () => {
    const text = Array.from({ length: 500 }, (_, index) => `word${index}`).join(' ');
    const chunks = chunkDocument(documentOf(text), { chunkSize: 64, chunkOverlap: 0 });
    expect(chunks).toHaveLength(Math.ceil(500 / 64));
    for (const chunk of chunks) expect(countTokens(chunk.text)).toBeLessThanOrEqual(64);
  });

  it('assigns pages from page spans', () => {
    const text = 'First page text.\n\nSecond page text.';
    const pages = [
      { page: 1, start: 0, end: 16 },
      { page: 2, start: 18, end: text.length },
    ];
    const chunks = chunkDocument(documentOf(text, [], pages), { chunkSize: 5, chunkOverlap: 0 });
    expect(chunks.map((chunk) => chunk.page)).toEqual([1, 2]);
  });

  it('repeats a table header in the context of row chunks', () => {
    const text = 'name | age\nAda | 36\nAlan | 41';
    const header = 'name | age';
    const blocks: Block[] = [
      { kind: 'row', start: 11, end: 19, header },
      { kind: 'row', start: 20, end: 29, header },
    ];
    const chunks = chunkDocument(documentOf(text, blocks), { chunkSize: 4, chunkOverlap: 0 });
    expect(chunks).toHaveLength(2);
    for (const chunk of chunks) expect(chunk.context).toBe(header);
  });

  it('rejects an overlap not smaller than the size', () => {
    expect(() => chunkDocument(documentOf('text'), { chunkSize: 10, chunkOverlap: 10 })).toThrow(
      'chunkOverlap (10) must be smaller than chunkSize (10)',
    );
  });

  it('returns no chunks for whitespace', () => {
    expect(chunkDocument(documentOf('  \n\n  '), { chunkSize: 10, chunkOverlap: 0 })).toEqual([]);
  });
});

describe('pageAt', () => {
  it('returns null without pages', () => {
    expect(pageAt([], 5)).toBeNull();
  });
});
