import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Nodes } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmFromMarkdown } from 'mdast-util-gfm';
import { gfm } from 'micromark-extension-gfm';
import { loadConfig } from '../core/config.ts';
import { isDocentError } from '../core/errors.ts';
import { parseDocument, type ParseLimits } from '../ingest/parse/index.ts';
import { mean } from './metrics.ts';

/** Scores of one document's extracted text against its expected Markdown conversion. */
export interface DocumentParsingScore {
  readonly format: string;
  readonly file: string;
  /** Share of expected tokens found in the extracted text (multiset intersection). */
  readonly recall: number;
  /** Share of extracted tokens that are expected. */
  readonly precision: number;
  /** Longest common subsequence of the two token sequences over the expected token count. */
  readonly order: number;
  /** Expected table rows (two or more non-empty cells) whose cells all appear on one extracted line. */
  readonly tableRows: number;
  readonly tableRowsIntact: number;
  /** Adjacent cells of an expected row whose text was glued into one token, e.g. `TotalAmount`. */
  readonly mergedCells: number;
  readonly expectedTokens: number;
  readonly extractedTokens: number;
  /** The DocentError code when parsing failed; the scores are then 0. */
  readonly error?: string;
}

export interface FormatParsingSummary {
  readonly format: string;
  readonly documents: number;
  readonly failed: number;
  readonly recall: number;
  readonly precision: number;
  readonly order: number;
  readonly tableRows: number;
  readonly tableRowsIntact: number;
  readonly mergedCells: number;
}

export interface ParsingReport {
  readonly folder: string;
  readonly documents: readonly DocumentParsingScore[];
  readonly formats: readonly FormatParsingSummary[];
}

/** Token sequences longer than this are cut before the quadratic order computation. */
const MAX_ORDER_TOKENS = 12_000;

/**
 * Parses every document under `<folder>/<format>/sources/` that has an expected conversion at
 * `<folder>/<format>/groundtruth/<file name>.md` or `<file name without extension>.md`, and scores
 * the extracted text against the expected Markdown with its syntax stripped (the docling test data
 * has this layout). Documents without an expected conversion are skipped.
 */
export async function evaluateParsing(
  folder: string,
  limits: ParseLimits = loadConfig().parsing,
): Promise<ParsingReport> {
  const documents: DocumentParsingScore[] = [];
  const formats = (await readdir(folder, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

  for (const format of formats) {
    const sources = path.join(folder, format, 'sources');
    if (!existsSync(sources)) continue;
    for (const file of (await readdir(sources)).sort()) {
      const expectedPath = groundTruthPath(folder, format, file);
      if (expectedPath === undefined) continue;
      const expected = markdownToText(await readFile(expectedPath, 'utf8'));
      const bytes = await readFile(path.join(sources, file));
      documents.push(await scoreDocument(format, file, bytes, expected, limits));
    }
  }
  return { folder, documents, formats: summarise(documents) };
}

async function scoreDocument(
  format: string,
  file: string,
  bytes: Uint8Array,
  expected: ExpectedText,
  limits: ParseLimits,
): Promise<DocumentParsingScore> {
  const expectedTokens = tokenize(expected.text);
  try {
    const parsed = await parseDocument({ bytes, filename: file }, limits);
    const extractedTokens = tokenize(parsed.text);
    const matched = multisetIntersection(expectedTokens, extractedTokens);
    const rows = scoreTableRows(expected.tableRows, parsed.text, new Set(expectedTokens));
    return {
      format,
      file,
      recall: expectedTokens.length === 0 ? 1 : matched / expectedTokens.length,
      precision: extractedTokens.length === 0 ? 0 : matched / extractedTokens.length,
      order:
        expectedTokens.length === 0
          ? 1
          : longestCommonSubsequence(expectedTokens, extractedTokens) /
            Math.min(expectedTokens.length, MAX_ORDER_TOKENS),
      tableRows: rows.total,
      tableRowsIntact: rows.intact,
      mergedCells: rows.merged,
      expectedTokens: expectedTokens.length,
      extractedTokens: extractedTokens.length,
    };
  } catch (error) {
    if (!isDocentError(error)) throw error;
    return {
      format,
      file,
      recall: 0,
      precision: 0,
      order: 0,
      tableRows: expected.tableRows.length,
      tableRowsIntact: 0,
      mergedCells: 0,
      expectedTokens: expectedTokens.length,
      extractedTokens: 0,
      error: error.code,
    };
  }
}

function groundTruthPath(folder: string, format: string, file: string): string | undefined {
  const directory = path.join(folder, format, 'groundtruth');
  const candidates = [`${file}.md`, `${path.parse(file).name}.md`];
  return candidates.map((name) => path.join(directory, name)).find((candidate) => existsSync(candidate));
}

function summarise(documents: readonly DocumentParsingScore[]): FormatParsingSummary[] {
  const formats = [...new Set(documents.map((document) => document.format))];
  return formats.map((format) => {
    const ofFormat = documents.filter((document) => document.format === format);
    return {
      format,
      documents: ofFormat.length,
      failed: ofFormat.filter((document) => document.error !== undefined).length,
      recall: mean(ofFormat.map((document) => document.recall)),
      precision: mean(ofFormat.map((document) => document.precision)),
      order: mean(ofFormat.map((document) => document.order)),
      tableRows: ofFormat.reduce((sum, document) => sum + document.tableRows, 0),
      tableRowsIntact: ofFormat.reduce((sum, document) => sum + document.tableRowsIntact, 0),
      mergedCells: ofFormat.reduce((sum, document) => sum + document.mergedCells, 0),
    };
  });
}

/** Formats the report as Markdown: one row per format with mean scores, then the weakest documents. */
export function formatParsingReport(report: ParsingReport, weakest = 10): string {
  const number = (value: number): string => value.toFixed(3);
  const lines = [
    `Parsing quality on ${report.folder} (token recall, precision and order against the expected Markdown)`,
    '',
    '| format | documents | failed | recall | precision | order | table rows intact | merged cells |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...report.formats.map(
      (summary) =>
        `| ${summary.format} | ${summary.documents} | ${summary.failed} | ${number(summary.recall)} | ${number(summary.precision)} | ${number(summary.order)} | ${summary.tableRowsIntact}/${summary.tableRows} | ${summary.mergedCells} |`,
    ),
  ];

  const worst = [...report.documents].sort((a, b) => a.recall - b.recall).slice(0, weakest);
  if (worst.length > 0) {
    lines.push(
      '',
      `Lowest recall (${worst.length} documents):`,
      '',
      '| document | recall | precision | order | error |',
      '| --- | ---: | ---: | ---: | --- |',
    );
    for (const document of worst) {
      lines.push(
        `| ${document.format}/${document.file} | ${number(document.recall)} | ${number(document.precision)} | ${number(document.order)} | ${document.error ?? ''} |`,
      );
    }
  }
  return lines.join('\n');
}

interface ExpectedText {
  readonly text: string;
  /** Cells of each expected table row, syntax stripped. */
  readonly tableRows: readonly (readonly string[])[];
}

/**
 * Strips Markdown syntax from an expected conversion: text of headings, paragraphs, lists, table
 * cells and code, without link targets, emphasis markers or HTML comments (such as `<!-- image -->`).
 */
export function markdownToText(markdown: string): ExpectedText {
  const tree = fromMarkdown(markdown, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] });
  const parts: string[] = [];
  const tableRows: string[][] = [];

  const collect = (node: Nodes): string => {
    switch (node.type) {
      case 'text':
      case 'inlineCode':
      case 'code':
        return node.value;
      case 'html':
        return node.value.replace(/<!--[\s\S]*?-->/g, ' ').replace(/<[^>]+>/g, ' ');
      case 'image':
        return node.alt ?? '';
      case 'break':
        return '\n';
      case 'table':
        for (const row of node.children) tableRows.push(row.children.map((cell) => collect(cell).trim()));
        return node.children.map((row) => row.children.map((cell) => collect(cell)).join(' | ')).join('\n');
      default:
        return 'children' in node ? node.children.map((child) => collect(child)).join(' ') : '';
    }
  };
  for (const node of tree.children) parts.push(collect(node));
  return { text: parts.join('\n\n'), tableRows };
}

// Hangul syllables are split too, because converters disagree on where Korean lines break words.
const CJK_CHARACTER = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]/u;

/** Lower-cased runs of letters, marks and digits; each Chinese, Japanese or Korean character is its own token. */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  for (const match of text
    .normalize('NFKC')
    .toLowerCase()
    .matchAll(/[\p{L}\p{M}\p{N}]+/gu)) {
    const word = match[0];
    if (CJK_CHARACTER.test(word)) tokens.push(...splitCjk(word));
    else tokens.push(word);
  }
  return tokens;
}

function splitCjk(word: string): string[] {
  const tokens: string[] = [];
  let run = '';
  for (const character of word) {
    if (CJK_CHARACTER.test(character)) {
      if (run !== '') tokens.push(run);
      run = '';
      tokens.push(character);
    } else run += character;
  }
  if (run !== '') tokens.push(run);
  return tokens;
}

function multisetIntersection(left: readonly string[], right: readonly string[]): number {
  const counts = new Map<string, number>();
  for (const token of right) counts.set(token, (counts.get(token) ?? 0) + 1);
  let matched = 0;
  for (const token of left) {
    const count = counts.get(token) ?? 0;
    if (count > 0) {
      matched += 1;
      counts.set(token, count - 1);
    }
  }
  return matched;
}

/** Length of the longest common subsequence, in O(n·m) time and O(m) memory, on the first MAX_ORDER_TOKENS tokens. */
export function longestCommonSubsequence(left: readonly string[], right: readonly string[]): number {
  const a = left.slice(0, MAX_ORDER_TOKENS);
  const b = right.slice(0, MAX_ORDER_TOKENS * 2);
  const ids = new Map<string, number>();
  const encode = (tokens: readonly string[]): Int32Array =>
    Int32Array.from(tokens, (token) => ids.get(token) ?? (ids.set(token, ids.size), ids.size - 1));
  const x = encode(a);
  const y = encode(b);
  let previous = new Int32Array(y.length + 1);
  let current = new Int32Array(y.length + 1);
  for (let i = 1; i <= x.length; i += 1) {
    const token = x[i - 1];
    for (let j = 1; j <= y.length; j += 1) {
      current[j] = token === y[j - 1] ? previous[j - 1]! + 1 : Math.max(previous[j]!, current[j - 1]!);
    }
    [previous, current] = [current, previous];
  }
  return previous[y.length]!;
}

function scoreTableRows(
  rows: readonly (readonly string[])[],
  extracted: string,
  expectedVocabulary: ReadonlySet<string>,
): { total: number; intact: number; merged: number } {
  const lines = extracted.split('\n').map((line) => new Set(tokenize(line)));
  const extractedVocabulary = new Set(tokenize(extracted));
  let total = 0;
  let intact = 0;
  let merged = 0;

  for (const row of rows) {
    const cells = row.map((cell) => tokenize(cell)).filter((tokens) => tokens.length > 0);
    if (cells.length < 2) continue;
    total += 1;
    if (lines.some((line) => cells.every((tokens) => tokens.every((token) => line.has(token))))) intact += 1;
    for (let index = 1; index < cells.length; index += 1) {
      const glued = `${cells[index - 1]!.at(-1)!}${cells[index]![0]!}`;
      if (extractedVocabulary.has(glued) && !expectedVocabulary.has(glued)) merged += 1;
    }
  }
  return { total, intact, merged };
}
