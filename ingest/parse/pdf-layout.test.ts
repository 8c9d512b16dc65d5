import { describe, expect, it } from 'vitest';
import {
  buildBlocks,
  buildLines,
  buildSegments,
  joinLines,
  orderSegments,
  type PositionedText,
} from './pdf-layout.ts';

/** Places text at (x, y) with an approximate Helvetica width of half the font size per character. */
function item(text: string, x: number, y: number, size = 10, rtl = false): PositionedText {
  return { text, x, y, width: text.length * size * 0.5, size, rtl };
}

function layout(items: PositionedText[], bodySize = 10) {
  return orderSegments(buildSegments(items)).flatMap((region) => buildBlocks(buildLines(region), bodySize));
}

describe('joinLines', () => {
  it('removes a hyphen that splits a word', () => {
    expect(joinLines('the recog-', 'nition of text')).toBe('the recognition of text');
  });

  it('keeps a hyphen before a capital', () => {
    expect(joinLines('a strong Lucene-', 'BM25 system')).toBe('a strong Lucene-BM25 system');
  });

  it('removes a soft hyphen', () => {
    expect(joinLines('docu\u00AD', 'ment')).toBe('document');
  });

  it('joins Chinese without a space', () => {
    expect(joinLines('中华人民', '共和国')).toBe('中华人民共和国');
  });

  it('joins other lines with a space', () => {
    expect(joinLines('first line', 'second line')).toBe('first line second line');
  });
});

describe('PDF page layout', () => {
  it('reads the left column before the right', () => {
    const items: PositionedText[] = [item('A Title Across Both Columns Of The Page', 150, 760, 18)];
    for (let index = 0; index < 10; index += 1) {
      items.push(item(`left ${index} words words words words words`, 50, 700 - index * 12));
      items.push(item(`right ${index} words words words words words`, 320, 700 - index * 12));
    }
    const blocks = layout(items);
    const text = blocks.map((block) => ('text' in block ? block.text : block.rows.join('\n'))).join('\n');
    expect(blocks[0]).toMatchObject({ kind: 'heading', text: 'A Title Across Both Columns Of The Page' });
    expect(text.indexOf('left 9')).toBeLessThan(text.indexOf('right 0'));
    expect(blocks.some((block) => block.kind === 'table')).toBe(false);
  });

  it('keeps table rows with separated cells', () => {
    const items: PositionedText[] = [];
    const rows = [
      ['Region', 'Revenue', 'Growth'],
      ['North', '120', '5%'],
      ['South', '80', '-2%'],
    ];
    rows.forEach((cells, row) =>
      cells.forEach((cell, column) => items.push(item(cell, 50 + column * 120, 700 - row * 14))),
    );
    expect(layout(items)).toEqual([
      { kind: 'table', rows: ['Region | Revenue | Growth', 'North | 120 | 5%', 'South | 80 | -2%'] },
    ]);
  });

  it('reads large numbered lines as headings', () => {
    const items: PositionedText[] = [
      item('2.7', 50, 700, 14),
      item('Tips for the package management', 95, 700, 14),
      item('2.7.1', 50, 670, 12),
      item('How to pick Debian packages', 95, 670, 12),
      item('Body text of the section says how to find a package.', 50, 650),
    ];
    expect(layout(items).map((block) => block.kind)).toEqual(['heading', 'heading', 'paragraph']);
  });

  it('joins wrapped cell text into its row', () => {
    const items = [
      item('Name', 50, 700),
      item('Type', 150, 700),
      item('Description', 250, 700),
      item('USER_NAME', 50, 686),
      item('VARCHAR', 150, 686),
      item('Name of the user profile that', 250, 686),
      item('has a usage setting.', 250, 675),
      item('USAGE', 50, 660),
      item('VARCHAR', 150, 660),
      item('Usage setting.', 250, 660),
    ];
    expect(layout(items)).toEqual([
      {
        kind: 'table',
        rows: [
          'Name | Type | Description',
          'USER_NAME | VARCHAR | Name of the user profile that has a usage setting.',
          'USAGE | VARCHAR | Usage setting.',
        ],
      },
    ]);
  });

  it('splits close numeric cells', () => {
    const items = [
      item('OTSL', 50, 700),
      item('0.965', 100, 700),
      item('0.934', 133, 700),
      item('HTML', 50, 686),
      item('0.969', 100, 686),
      item('0.927', 133, 686),
    ];
    expect(layout(items)).toEqual([
      { kind: 'table', rows: ['OTSL | 0.965 | 0.934', 'HTML | 0.969 | 0.927'] },
    ]);
  });

  it('joins a single line with a wide gap as text', () => {
    const items = [
      item('Justified', 50, 700),
      item('words', 120, 700),
      item('Next line of the same paragraph', 50, 688),
    ];
    expect(layout(items)).toEqual([
      { kind: 'paragraph', text: 'Justified words Next line of the same paragraph' },
    ]);
  });

  it('orders right-to-left lines from the right', () => {
    const items = [
      item('البرمجة بلغة', 300, 700, 10, true),
      item('Python', 240, 700),
      item('و', 230, 700, 10, true),
      item('R', 220, 700),
    ];
    const [block] = layout(items);
    expect(block).toEqual({ kind: 'paragraph', text: 'البرمجة بلغة Python و R' });
  });

  it('repairs a reversed lam-alef ligature', () => {
    const [block] = layout([item('تحسين اإلنتاجية', 300, 700, 10, true)]);
    expect(block).toEqual({ kind: 'paragraph', text: 'تحسين الإنتاجية' });
  });

  it('starts a paragraph after a wide gap', () => {
    const items = [
      item('First paragraph line one', 50, 700),
      item('first paragraph line two', 50, 688),
      item('line three', 50, 676),
      item('Second paragraph', 50, 640),
    ];
    expect(layout(items)).toEqual([
      { kind: 'paragraph', text: 'First paragraph line one first paragraph line two line three' },
      { kind: 'paragraph', text: 'Second paragraph' },
    ]);
  });

  it('keeps monospaced lines as indented code', () => {
    const code = (text: string, x: number, y: number): PositionedText => ({
      ...item(text, x, y),
      monospace: true,
    });
    const items = [
      item('Run this:', 50, 700),
      code('if (ready) {', 50, 688),
      code('start();', 70, 676),
      code('}', 50, 664),
      item('Then wait.', 50, 640),
    ];
    expect(layout(items)).toEqual([
      { kind: 'paragraph', text: 'Run this:' },
      { kind: 'code', text: 'if (ready) {\n    start();\n}' },
      { kind: 'paragraph', text: 'Then wait.' },
    ]);
  });

  it('keeps list items ending in full stops together', () => {
    const items = [
      item('• The first item ends here.', 50, 700),
      item('• The second item, longer than the first one.', 50, 688),
    ];
    expect(layout(items)).toEqual([
      { kind: 'list', text: '• The first item ends here.\n• The second item, longer than the first one.' },
    ]);
  });

  it('groups bulleted lines into a list', () => {
    const items = [item('• apples', 50, 700), item('• pears', 50, 688), item('• plums', 50, 676)];
    expect(layout(items)).toEqual([{ kind: 'list', text: '• apples\n• pears\n• plums' }]);
  });
});
