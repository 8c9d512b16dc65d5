import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PDFDocument, rgb, StandardFonts } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePdf } from './pdf.ts';
import { expectValidOffsets } from './test-support.ts';

// A stand-in `tesseract` on PATH checks the wiring (detection at run time, rendering, reading
// stdout) without the real engine. It prints the size of the image it was given.
const fakeTesseract = `#!/bin/sh
if [ "$1" = "--version" ]; then echo "tesseract 5.0.0 (stand-in)"; exit 0; fi
echo "Recognised text of $(basename "$1")"
echo
echo "Language $4, image of $(wc -c < "$1") bytes"
`;

let directory: string;
const originalPath = process.env.PATH;

beforeAll(async () => {
  directory = await mkdtemp(path.join(tmpdir(), 'docent-fake-tesseract-'));
  await writeFile(path.join(directory, 'tesseract'), fakeTesseract);
  await chmod(path.join(directory, 'tesseract'), 0o755);
  process.env.PATH = `${directory}${path.delimiter}${originalPath ?? ''}`;
});

afterAll(async () => {
  process.env.PATH = originalPath;
  await rm(directory, { recursive: true, force: true });
});

async function pdfWithPages(textPerPage: (string | undefined)[]): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  for (const text of textPerPage) {
    const page = pdf.addPage([300, 400]);
    page.drawRectangle({ x: 50, y: 50, width: 200, height: 100, color: rgb(0.1, 0.1, 0.1) });
    if (text !== undefined) page.drawText(text, { x: 20, y: 350, size: 10, font });
  }
  return pdf.save();
}

describe('OCR of PDFs', () => {
  it('reads a scanned PDF with tesseract', async () => {
    const document = await parsePdf(await pdfWithPages([undefined, undefined]), {
      maxPages: 10,
      ocrLanguages: 'eng+deu',
    });
    expectValidOffsets(document);
    expect(document.pages.map((page) => page.page)).toEqual([1, 2]);
    expect(document.text).toContain('Recognised text of page-1.png');
    expect(document.text).toContain('Recognised text of page-2.png');
    expect(document.text).toContain('Language eng+deu');
    expect(document.warnings.join(' ')).toContain('tesseract OCR');
  });

  it('reads only the pages without text', async () => {
    const text = 'This page has a proper text layer with enough characters.';
    const document = await parsePdf(await pdfWithPages([text, undefined]), {
      maxPages: 10,
      ocrLanguages: 'eng',
    });
    expectValidOffsets(document);
    expect(document.text.slice(document.pages[0]!.start, document.pages[0]!.end)).toBe(text);
    expect(document.text.slice(document.pages[1]!.start, document.pages[1]!.end)).toContain(
      'Recognised text of page-2.png',
    );
    expect(document.text).not.toContain('page-1.png');
  });
});
