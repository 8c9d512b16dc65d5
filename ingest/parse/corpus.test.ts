import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isDocentError, type ErrorCode } from '../../core/errors.ts';
import { markdownToText, tokenize } from '../../eval/parsing.ts';
import { closeParseWorkers, parseDocument, type ParseLimits, type ParsedDocument } from './index.ts';
import { ocrAvailable } from './ocr.ts';
import { expectValidOffsets } from './test-support.ts';

const documentsDirectory = path.resolve(import.meta.dirname, '../../../shared/data/docs');
const unstructured = path.join(documentsDirectory, 'unstructured');
const docling = path.join(documentsDirectory, 'docling');

const limits: ParseLimits = {
  timeoutMs: 120_000,
  maxMemoryMb: 1024,
  maxPages: 5000,
  maxUnzippedMb: 512,
  ocrLanguages: 'eng',
};

const tesseract = await ocrAvailable();

/** Files that must fail, with the error they must fail with. */
const expectedErrors: Record<string, ErrorCode> = {
  'empty.txt': 'EMPTY_DOCUMENT',
  'fake-text-all-whitespace.txt': 'EMPTY_DOCUMENT',
  'password.pdf': 'ENCRYPTED_DOCUMENT',
  'example_image_01.png': 'UNSUPPORTED_MEDIA_TYPE',
  ...(tesseract ? {} : { 'single_table.pdf': 'NEEDS_OCR' as const }),
};

/** Text that must appear in the extracted text of a file, and text that must not. */
const expectedText: Record<string, { contains: string[]; excludes?: string[] }> = {
  'fake-text.txt': {
    contains: ['This is a test document to use for unit tests.', 'Hamburgers are delicious'],
  },
  'fake-text-utf-16-le.txt': { contains: ['This is a test document to use for unit tests.'] },
  'fake-text-utf-16-be.txt': { contains: ['This is a test document to use for unit tests.'] },
  'fake-text-utf-32.txt': { contains: ['This is a test document to use for unit tests.'] },
  'fake-html-cp1252.html': { contains: ['Das war köstlich!', '15,50 €', 'El niño comió paella'] },
  'example-with-scripts.html': { contains: [], excludes: ['function(', 'var '] },
  'fake-html-with-footer-and-header.html': { contains: [] },
  'csv-with-escaped-commas.csv': { contains: [] },
  'copy-protected.pdf': { contains: ['LayoutParser'] },
  'UDHR_first_article_all.txt': {
    contains: ['All human beings are born free and equal in dignity and rights.'],
  },
  'eng_spa_mult.docx': {
    contains: ['All human beings are born free', 'Todos los seres humanos nacen libres'],
  },
  'simplified_chinese.from-commit-06100c45c.pdf': { contains: ['中华人民共和国国务院侨务办公室'] },
  'korean-text-with-tables.pdf': { contains: ['할인점 | 이마트, 이마트트레이더스, 롯데마트, 홈플러스'] },
  'multi-column-2p.pdf': { contains: [], excludes: [' | '] },
  'docx_comments.docx': {
    contains: ['This is the first paragraph'],
    excludes: ['sample reviewer comment', 'Anonymous feedback'],
  },
  'Strict.docx': { contains: ['Some text'] },
  'unit_test_headers_numbered.docx': { contains: ['1.2.1. Section 1.2.3', '- 2.3.1. Hardware Constraints'] },
  'equations.docx': { contains: ['a^{2}+b^{2}=c^{2}'] },
};

/** Documents whose expected conversion contains content Docent does not extract, with the reason. */
const lowRecallExpected: Record<string, string> = {
  'drawingml.docx': 'the expected text includes the data table behind a chart',
};

/** Minimum token recall against the expected Markdown for every other document with one. */
const MIN_RECALL = 0.8;

function listFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(directory, entry.name))
    .sort();
}

async function parseOrError(file: string): Promise<ParsedDocument | ErrorCode> {
  try {
    return await parseDocument({ bytes: readFileSync(file), filename: path.basename(file) }, limits);
  } catch (error) {
    if (!isDocentError(error)) throw error;
    expect(error.code, `${path.basename(file)}: ${error.message}`).not.toBe('INTERNAL');
    return error.code;
  }
}

afterAll(async () => {
  await closeParseWorkers();
});

describe.skipIf(!existsSync(unstructured))(`unstructured documents (needs ${unstructured})`, () => {
  for (const file of existsSync(unstructured) ? listFiles(unstructured) : []) {
    const name = path.basename(file);
    it(`parses ${name}`, async () => {
      const result = await parseOrError(file);
      const expectedError = expectedErrors[name];
      if (expectedError !== undefined) {
        expect(result).toBe(expectedError);
        return;
      }
      if (typeof result === 'string') throw new Error(`${name} failed with ${result}`);

      expectValidOffsets(result);
      expect(result.text.trim().length).toBeGreaterThan(0);
      for (const text of expectedText[name]?.contains ?? []) expect(result.text).toContain(text);
      for (const text of expectedText[name]?.excludes ?? []) expect(result.text).not.toContain(text);
    });
  }
});

describe.skipIf(!existsSync(docling))(`docling documents (needs ${docling})`, () => {
  const formats = existsSync(docling)
    ? readdirSync(docling).filter((format) => existsSync(path.join(docling, format, 'sources')))
    : [];
  for (const format of formats) {
    for (const file of listFiles(path.join(docling, format, 'sources'))) {
      const name = path.basename(file);
      it(`parses ${format}/${name}`, async () => {
        const result = await parseOrError(file);
        const expectedError = expectedErrors[name];
        if (expectedError !== undefined) {
          expect(result).toBe(expectedError);
          return;
        }
        if (typeof result === 'string') throw new Error(`${name} failed with ${result}`);
        expectValidOffsets(result);
        for (const text of expectedText[name]?.contains ?? []) expect(result.text).toContain(text);
        for (const text of expectedText[name]?.excludes ?? []) expect(result.text).not.toContain(text);

        const groundTruth = [`${name}.md`, `${path.parse(name).name}.md`]
          .map((candidate) => path.join(docling, format, 'groundtruth', candidate))
          .find((candidate) => existsSync(candidate));
        if (groundTruth === undefined || lowRecallExpected[name] !== undefined) return;
        const expected = tokenize(markdownToText(readFileSync(groundTruth, 'utf8')).text);
        const extracted = new Map<string, number>();
        for (const token of tokenize(result.text)) extracted.set(token, (extracted.get(token) ?? 0) + 1);
        let found = 0;
        for (const token of expected) {
          const count = extracted.get(token) ?? 0;
          if (count > 0) {
            found += 1;
            extracted.set(token, count - 1);
          }
        }
        expect(
          found / Math.max(1, expected.length),
          `token recall of ${format}/${name}`,
        ).toBeGreaterThanOrEqual(MIN_RECALL);
      });
    }
  }
});
