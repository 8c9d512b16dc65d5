import {
  AlignmentType,
  Document,
  HeadingLevel,
  Packer,
  Paragraph,
  Table,
  TableCell,
  TableRow,
  TextRun,
} from 'docx';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import iconv from 'iconv-lite';
import JSZip from 'jszip';
import { PDFDocument, PDFName, rgb, StandardFonts } from 'pdf-lib';
import { afterAll, describe, expect, it } from 'vitest';
import { DocentError } from '../../core/errors.ts';
import { closeParseWorkers, parseDocument, type ParseLimits } from './index.ts';
import { ocrAvailable } from './ocr.ts';
import { blockTexts, expectValidOffsets } from './test-support.ts';

const limits: ParseLimits = {
  timeoutMs: 60_000,
  maxMemoryMb: 512,
  maxPages: 500,
  maxUnzippedMb: 64,
  ocrLanguages: 'eng',
};

afterAll(async () => {
  await closeParseWorkers();
});

async function parse(bytes: Uint8Array | string, filename: string, overrides: Partial<ParseLimits> = {}) {
  const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  const document = await parseDocument({ bytes: data, filename }, { ...limits, ...overrides });
  expectValidOffsets(document);
  return document;
}

async function parseError(
  bytes: Uint8Array | string,
  filename: string,
  overrides: Partial<ParseLimits> = {},
): Promise<DocentError> {
  const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  const error: unknown = await parseDocument({ bytes: data, filename }, { ...limits, ...overrides }).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(DocentError);
  return error as DocentError;
}

/** Words of a given length range, so that generated PDF lines fill their column. */
function line(prefix: string, index: number): string {
  return `${prefix} line ${index} carries some ordinary words of text`;
}

async function twoColumnPdf(): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  const bold = await pdf.embedFont(StandardFonts.HelveticaBold);
  const page = pdf.addPage([612, 792]);
  page.drawText('A Study of Two Columns', { x: 160, y: 740, size: 20, font: bold });
  const leftLines = Array.from({ length: 14 }, (_, index) => line('Left', index));
  leftLines[6] = 'Left line 6 ends with a hyphenated conti-';
  leftLines[7] = 'nuation word and more ordinary words here';
  for (let index = 0; index < 14; index += 1) {
    const y = 700 - index * 13;
    page.drawText(leftLines[index]!, { x: 50, y, size: 10, font });
    page.drawText(line('Right', index), { x: 320, y, size: 10, font });
  }
  return pdf.save();
}

async function pagedPdf(pages: number, withText = true): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  for (let number = 1; number <= pages; number += 1) {
    const page = pdf.addPage([612, 792]);
    if (!withText) {
      page.drawRectangle({ x: 100, y: 100, width: 300, height: 400, color: rgb(0.2, 0.2, 0.2) });
      continue;
    }
    page.drawText('ACME Quarterly Report - Confidential', { x: 50, y: 760, size: 9, font });
    page.drawText(`Body text of page ${number} talks about topic number ${number} in detail.`, {
      x: 50,
      y: 600,
      size: 11,
      font,
    });
    page.drawText(`${number}`, { x: 300, y: 30, size: 9, font });
  }
  return pdf.save();
}

async function tableDocx(): Promise<Uint8Array> {
  const cell = (text: string) => new TableCell({ children: [new Paragraph(text)] });
  const document = new Document({
    sections: [
      {
        children: [
          new Paragraph({ text: 'Quarterly Figures', heading: HeadingLevel.HEADING_1 }),
          new Paragraph({
            children: [new TextRun('The table lists revenue per region.')],
            alignment: AlignmentType.LEFT,
          }),
          new Table({
            rows: [
              new TableRow({
                children: [cell('Region'), cell('Revenue'), cell('Growth')],
                tableHeader: true,
              }),
              new TableRow({ children: [cell('North'), cell('120'), cell('5%')] }),
              new TableRow({ children: [cell('South'), cell('80'), cell('-2%')] }),
            ],
          }),
          new Paragraph({ text: 'Closing Remarks', heading: HeadingLevel.HEADING_2 }),
          new Paragraph('Revenue grew in the north.'),
        ],
      },
    ],
  });
  return new Uint8Array(await Packer.toBuffer(document));
}

describe('parseDocument', () => {
  it('rejects an empty file first', async () => {
    expect((await parseError('', 'empty.pdf')).code).toBe('EMPTY_DOCUMENT');
  });

  it('rejects a whitespace-only file', async () => {
    expect((await parseError(' \n\t \r\n', 'blank.txt')).code).toBe('EMPTY_DOCUMENT');
    const utf16Blank = Uint8Array.from([0xff, 0xfe, 0x20, 0x00, 0x0a, 0x00]);
    expect((await parseError(utf16Blank, 'blank16.txt')).code).toBe('EMPTY_DOCUMENT');
  });

  it('splits plain text into paragraphs', async () => {
    const document = await parse('First paragraph,\nstill first.\n\n\nSecond paragraph.\n', 'notes.txt');
    expect(document.mediaType).toBe('text/plain');
    expect(blockTexts(document, 'paragraph')).toEqual([
      'First paragraph,\nstill first.',
      'Second paragraph.',
    ]);
  });

  it('decodes GBK text', async () => {
    const text = '中文文档的第一段落，用于测试编码检测。\n\n第二段落包含更多的汉字和标点符号。';
    const document = await parse(iconv.encode(text, 'gbk'), 'chinese.txt');
    expect(document.text).toBe(text);
  });

  it('decodes UTF-16 with and without a byte order mark', async () => {
    const text = 'Grüße aus Köln.\n\nZweiter Absatz über Straßen.';
    const withBom = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    expect((await parse(withBom, 'le.txt')).text).toBe(text);
    const bigEndian = Buffer.from(text, 'utf16le').swap16();
    expect((await parse(bigEndian, 'be.txt')).text).toBe(text);
  });

  it('decodes windows-1252 text', async () => {
    const text = 'Café crème brûlée costs 5 € at the “Bistro” – naïve façade déjà vu.';
    expect((await parse(iconv.encode(text, 'windows-1252'), 'menu.txt')).text).toBe(text);
  });

  it('rejects text with unpaired UTF-16 surrogates', async () => {
    const broken = Uint8Array.from([0xff, 0xfe, 0x41, 0x00, 0x00, 0xd8, 0x42, 0x00, 0x43, 0x00]);
    expect((await parseError(broken, 'broken.txt')).code).toBe('UNDECODABLE_TEXT');
  });

  it('keeps a quoted CSV line break in one row', async () => {
    const csv = 'name,comment,score\nAda,"likes, commas\nand line breaks",3\nBob,plain,4\n';
    const document = await parse(csv, 'scores.csv');
    expect(document.mediaType).toBe('text/csv');
    const rows = document.blocks.filter((block) => block.kind === 'row');
    expect(rows).toHaveLength(3);
    expect(document.text.slice(rows[1]!.start, rows[1]!.end)).toBe('Ada | likes, commas and line breaks | 3');
    expect(rows[1]!.header).toBe('name | comment | score');
    expect(rows[2]!.header).toBe('name | comment | score');
  });

  it('gives numeric CSV rows no header', async () => {
    const document = await parse('1,2.5,3\n4,5,6\n7,8,9\n', 'numbers.csv');
    expect(blockTexts(document, 'row')).toEqual(['1 | 2.5 | 3', '4 | 5 | 6', '7 | 8 | 9']);
    expect(document.blocks.every((block) => block.header === undefined)).toBe(true);
  });

  it('detects semicolon and ragged CSV rows', async () => {
    const document = await parse('a;b;c\n1;2;3\n4;5\n6;7;8;9\n', 'ragged.csv');
    expect(blockTexts(document, 'row')).toEqual(['a | b | c', '1 | 2 | 3', '4 | 5', '6 | 7 | 8 | 9']);
  });

  it('drops HTML scripts and navigation', async () => {
    const html = `<!doctype html><html><head><title>Guide</title><style>p{color:red}</style><script>var secret = 1;</script></head>
      <body><nav><a href="/">Home</a> | <a href="/about">About</a></nav><header>Site banner</header>
      <main><h1>Installing</h1><p>Run the <b>installer</b>.</p><ul><li>Step one</li><li>Step two</li></ul>
      <table><tr><th>Option</th><th>Meaning</th></tr><tr><td>-v</td><td>verbose</td></tr></table>
      <pre>line 1\n  indented line 2</pre></main><footer>Copyright</footer><script>track()</script></body></html>`;
    const document = await parse(html, 'guide.html');
    expect(document.mediaType).toBe('text/html');
    expect(document.title).toBe('Guide');
    for (const boilerplate of ['secret', 'Home', 'Site banner', 'Copyright', 'track', 'color'])
      expect(document.text).not.toContain(boilerplate);
    expect(blockTexts(document, 'heading')).toEqual(['Installing']);
    expect(blockTexts(document, 'list')).toEqual(['- Step one\n- Step two']);
    expect(blockTexts(document, 'table')).toEqual(['Option | Meaning\n-v | verbose']);
    expect(document.blocks.find((block) => block.kind === 'table')?.header).toBe('Option | Meaning');
    expect(blockTexts(document, 'code')).toEqual(['line 1\n  indented line 2']);
  });

  it('honours a declared HTML charset', async () => {
    const html = '<html><head><meta charset="windows-1252"></head><body><p>Résumé – naïve</p></body></html>';
    expect((await parse(iconv.encode(html, 'windows-1252'), 'page.html')).text).toBe('Résumé – naïve');
  });

  it('keeps Markdown code blocks and tables whole', async () => {
    const markdown =
      '# Title\n\nSome *emphasis* and a [link](https://example.com).\n\n```js\nconst a = 1;\n\nconst b = 2;\n```\n\n| A | B |\n|---|---|\n| 1 | 2 |\n';
    const document = await parse(markdown, 'readme.md');
    expect(document.mediaType).toBe('text/markdown');
    expect(blockTexts(document, 'heading')).toEqual(['Title']);
    expect(blockTexts(document, 'paragraph')).toEqual(['Some emphasis and a link.']);
    expect(blockTexts(document, 'code')).toEqual(['const a = 1;\n\nconst b = 2;']);
    expect(blockTexts(document, 'table')).toEqual(['A | B\n1 | 2']);
  });

  it('reads two PDF columns in order', async () => {
    const document = await parse(await twoColumnPdf(), 'columns.pdf');
    expect(document.mediaType).toBe('application/pdf');
    expect(document.pages).toEqual([{ page: 1, start: 0, end: document.text.length }]);
    const lastLeft = document.text.indexOf('Left line 13');
    const firstRight = document.text.indexOf('Right line 0');
    expect(document.text.indexOf('A Study of Two Columns')).toBe(0);
    expect(lastLeft).toBeGreaterThan(0);
    expect(firstRight).toBeGreaterThan(lastLeft);
    expect(document.text).not.toContain(' | ');
  });

  it('joins a hyphenated PDF line end', async () => {
    const document = await parse(await twoColumnPdf(), 'columns.pdf');
    expect(document.text).toContain('hyphenated continuation word');
  });

  it('drops repeated PDF headers and page numbers', async () => {
    const document = await parse(await pagedPdf(3), 'report.pdf');
    expect(document.pages.map((page) => page.page)).toEqual([1, 2, 3]);
    expect(document.text).not.toContain('Confidential');
    expect(document.text.slice(document.pages[1]!.start, document.pages[1]!.end)).toBe(
      'Body text of page 2 talks about topic number 2 in detail.',
    );
  });

  it('keeps heading numbers at page tops', async () => {
    const pdf = await PDFDocument.create();
    const font = await pdf.embedFont(StandardFonts.Helvetica);
    const titles = ['Installing', 'Upgrading', 'Removing', 'Pinning'];
    for (const [index, title] of titles.entries()) {
      const page = pdf.addPage([612, 792]);
      // The section number and the title are separate text runs.
      page.drawText(`2.${index + 1}`, { x: 50, y: 750, size: 14, font });
      page.drawText(`${title} packages`, { x: 90, y: 750, size: 14, font });
      page.drawText(`Body text of page ${index + 1} explains ${title.toLowerCase()}.`, {
        x: 50,
        y: 600,
        size: 11,
        font,
      });
    }
    const document = await parse(await pdf.save(), 'numbered.pdf');
    expect(blockTexts(document, 'heading')).toEqual(
      titles.map((title, index) => `2.${index + 1} ${title} packages`),
    );
  });

  it('keeps printed PDF page labels', async () => {
    const pdf = await PDFDocument.create();
    const font = await pdf.embedFont(StandardFonts.Helvetica);
    for (let number = 1; number <= 4; number += 1) {
      const page = pdf.addPage([612, 792]);
      page.drawText(`Text on sheet ${number} of the booklet.`, { x: 50, y: 600, size: 11, font });
    }
    // Two roman-numbered front pages, then arabic numbers from 1.
    pdf.catalog.set(
      PDFName.of('PageLabels'),
      pdf.context.obj({ Nums: [0, { S: 'r' }, 2, { S: 'D', St: 1 }] }),
    );
    const document = await parse(await pdf.save(), 'booklet.pdf');
    expect(document.pages.map((page) => page.label)).toEqual(['i', 'ii', '1', '2']);

    const unlabelled = await parse(await pagedPdf(2), 'plain.pdf');
    expect(unlabelled.pages.map((page) => page.label)).toEqual([undefined, undefined]);
  });

  it('rejects a PDF over the page limit', async () => {
    const error = await parseError(await pagedPdf(12), 'long.pdf', { maxPages: 10 });
    expect(error.code).toBe('PARSE_LIMIT_EXCEEDED');
    expect(error.message).toContain('12 pages');
  });

  it('asks for OCR on a PDF without text', async () => {
    const bytes = await pagedPdf(2, false);
    if (await ocrAvailable()) {
      // The pages hold only a grey rectangle, so OCR runs and finds no text to index.
      const error = await parseError(bytes, 'scan.pdf');
      expect(error.code).toBe('EMPTY_DOCUMENT');
      expect(error.message).toContain('OCR');
      return;
    }
    const error = await parseError(bytes, 'scan.pdf');
    expect(error.code).toBe('NEEDS_OCR');
    expect(error.message).toContain('apt-get install tesseract-ocr');
  });

  it('reads a DOCX table with its header', async () => {
    const document = await parse(await tableDocx(), 'figures.docx');
    expect(document.mediaType).toBe(
      'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    );
    expect(blockTexts(document, 'heading')).toEqual(['Quarterly Figures', 'Closing Remarks']);
    expect(document.blocks.filter((block) => block.kind === 'heading').map((block) => block.level)).toEqual([
      1, 2,
    ]);
    expect(blockTexts(document, 'table')).toEqual([
      'Region | Revenue | Growth\nNorth | 120 | 5%\nSouth | 80 | -2%',
    ]);
    expect(document.blocks.find((block) => block.kind === 'table')?.header).toBe('Region | Revenue | Growth');
  });

  it('rejects a DOCX that inflates past the limit', async () => {
    const zip = new JSZip();
    zip.file(
      '[Content_Types].xml',
      '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
    );
    zip.file('word/document.xml', 'x'.repeat(3 * 1024 * 1024));
    const bytes = await zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE' });
    const error = await parseError(bytes, 'bomb.docx', { maxUnzippedMb: 1 });
    expect(error.code).toBe('PARSE_LIMIT_EXCEEDED');
  });

  it('reads content that contradicts its extension', async () => {
    const html = await parse('<!DOCTYPE html><html><body><p>Really a web page</p></body></html>', 'data.csv');
    expect(html.mediaType).toBe('text/html');
    expect(html.warnings[0]).toContain('content is HTML');
    const pdf = await parse(await pagedPdf(1), 'notes.txt');
    expect(pdf.mediaType).toBe('application/pdf');
    const text = await parse('Just some plain words, nothing more.', 'report.pdf');
    expect(text.mediaType).toBe('text/plain');
  });

  it('rejects binary content of unknown format', async () => {
    const bytes = Uint8Array.from({ length: 4096 }, (_, index) => (index * 7919) % 256);
    expect((await parseError(bytes, 'file.pdf')).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const png = Uint8Array.from([
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1, 0, 0,
      0, 1, 8, 2, 0, 0, 0,
    ]);
    const error = await parseError(png, 'photo.txt');
    expect(error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(error.message).toContain('image/png');
  });

  it('rejects deeply nested HTML', async () => {
    const html = `<html><body>${'<div>'.repeat(50_000)}deep${'</div>'.repeat(50_000)}</body></html>`;
    const error = await parseError(html, 'deep.html');
    expect(['PARSE_FAILED', 'PARSE_LIMIT_EXCEEDED']).toContain(error.code);
    expect(error.message).toMatch(/nest/);
  });

  it('rejects a malformed PDF', async () => {
    const error = await parseError('%PDF-1.7\n1 0 obj <<>> garbage without xref', 'broken.pdf');
    expect(error.code).toBe('PARSE_FAILED');
  });

  it('stops a parse that exceeds the time limit', async () => {
    const markdown = Array.from({ length: 20_000 }, (_, index) => `- item ${index} with *emphasis*`).join(
      '\n',
    );
    const error = await parseError(markdown, 'huge.md', { timeoutMs: 1 });
    expect(error.code).toBe('PARSE_LIMIT_EXCEEDED');
    expect((await parse('Still working afterwards.', 'after.txt')).text).toBe('Still working afterwards.');
  });

  it('runs under tsx outside vitest', async () => {
    // The command line registers tsx through its API (bin/docent.js); the worker must load there too.
    const script = `
      import { register } from 'tsx/esm/api';
      register();
      const { parseDocument } = await import(${JSON.stringify(new URL('./index.ts', import.meta.url).href)});
      const document = await parseDocument({ bytes: new TextEncoder().encode('# Hello\\n\\nFrom the CLI.'), filename: 'a.md' }, { timeoutMs: 60000, maxMemoryMb: 256 });
      console.log(JSON.stringify(document.blocks.map((block) => document.text.slice(block.start, block.end))));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url).pathname,
    });
    expect(JSON.parse(stdout)).toEqual(['Hello', 'From the CLI.']);
  });

  it('stops a parse that exceeds the memory limit', async () => {
    const csv = Array.from(
      { length: 400_000 },
      (_, index) => `${index},name ${index},value ${index},${index * 3}`,
    ).join('\n');
    const error = await parseError(csv, 'big.csv', { maxMemoryMb: 24 });
    expect(error.code).toBe('PARSE_LIMIT_EXCEEDED');
    expect((await parse('Still working afterwards.', 'after.txt')).text).toBe('Still working afterwards.');
  });
});
