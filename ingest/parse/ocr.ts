import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { PDFDocumentProxy } from 'pdfjs-dist/legacy/build/pdf.mjs';
import { DocumentBuilder } from './document-builder.ts';
import type { ParsedDocument } from './types.ts';

const run = promisify(execFile);

/** Rendering resolution for OCR; tesseract reads body text best at about 300 dots per inch. */
const OCR_DPI = 300;

let available: Promise<boolean> | undefined;

/** Checks once per process whether a `tesseract` executable is on PATH. */
export function ocrAvailable(): Promise<boolean> {
  available ??= run('tesseract', ['--version'], { timeout: 10_000 }).then(
    () => true,
    () => false,
  );
  return available;
}

/**
 * Reads every page of a PDF without a text layer with tesseract, one paragraph block per
 * blank-line-separated stretch of recognised text. `languages` is tesseract's `-l` value, e.g.
 * `eng+deu`; the language packs must be installed.
 */
export async function ocrPdfPages(pdf: PDFDocumentProxy, languages: string): Promise<ParsedDocument> {
  const builder = new DocumentBuilder();
  for (let number = 1; number <= pdf.numPages; number += 1) {
    builder.startPage(number);
    for (const paragraph of splitParagraphs(await recognisePage(pdf, number, languages)))
      builder.addBlock('paragraph', paragraph);
    builder.endPage();
  }
  builder.warn(
    'The PDF has no text layer; its text was recognised with tesseract OCR and may contain recognition errors.',
  );
  return builder.build('application/pdf');
}

/** Renders one page with pdf.js (on @napi-rs/canvas) at 300 dpi and returns tesseract's text for it. */
export async function recognisePage(
  pdf: PDFDocumentProxy,
  number: number,
  languages: string,
): Promise<string> {
  const directory = await mkdtemp(path.join(tmpdir(), 'docent-ocr-'));
  try {
    const image = path.join(directory, `page-${number}.png`);
    await writeFile(image, await renderPage(pdf, number));
    const { stdout } = await run('tesseract', [image, 'stdout', '-l', languages], {
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

export function splitParagraphs(text: string): string[] {
  return text
    .split(/\n\s*\n/)
    .map((paragraph) => paragraph.trim())
    .filter((paragraph) => paragraph !== '');
}

interface NodeCanvas {
  toBuffer(mime: 'image/png'): Buffer;
}

export async function renderPage(pdf: PDFDocumentProxy, number: number): Promise<Buffer> {
  const page = await pdf.getPage(number);
  try {
    const viewport = page.getViewport({ scale: OCR_DPI / 72 });
    const factory = pdf.canvasFactory as {
      create(width: number, height: number): { canvas: NodeCanvas; context: CanvasRenderingContext2D };
    };
    const { canvas, context } = factory.create(Math.ceil(viewport.width), Math.ceil(viewport.height));
    await page.render({ canvas: canvas as unknown as HTMLCanvasElement, canvasContext: context, viewport })
      .promise;
    return canvas.toBuffer('image/png');
  } finally {
    page.cleanup();
  }
}
