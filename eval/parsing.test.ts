import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { closeParseWorkers } from '../ingest/parse/index.ts';
import {
  evaluateParsing,
  formatParsingReport,
  longestCommonSubsequence,
  markdownToText,
  tokenize,
} from './parsing.ts';

const limits = { timeoutMs: 60_000, maxMemoryMb: 256, maxPages: 100, maxUnzippedMb: 64, ocrLanguages: 'eng' };

afterAll(async () => {
  await closeParseWorkers();
});

describe('tokenize', () => {
  it('lower-cases words and drops punctuation', () => {
    expect(tokenize('Hello, World! It’s 2024.')).toEqual(['hello', 'world', 'it', 's', '2024']);
  });

  it('splits Chinese and Korean into characters', () => {
    expect(tokenize('中文 abc한국')).toEqual(['中', '文', 'abc', '한', '국']);
  });
});

describe('markdownToText', () => {
  it('strips syntax and collects table rows', () => {
    const expected = markdownToText(
      '# Title\n\nSome **bold** [link](https://x.org).\n\n<!-- image -->\n\n| A | B |\n|---|---|\n| 1 | 2 |\n',
    );
    expect(tokenize(expected.text)).toEqual(['title', 'some', 'bold', 'link', 'a', 'b', '1', '2']);
    expect(expected.tableRows).toEqual([
      ['A', 'B'],
      ['1', '2'],
    ]);
  });
});

describe('longestCommonSubsequence', () => {
  it('counts tokens in common order', () => {
    expect(longestCommonSubsequence(['a', 'b', 'c', 'd'], ['b', 'a', 'c', 'x', 'd'])).toBe(3);
    expect(longestCommonSubsequence([], ['a'])).toBe(0);
  });
});

describe('evaluateParsing', () => {
  const folder = path.join(tmpdir(), `docent-parsing-eval-${process.pid}`);

  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('scores a folder of documents', async () => {
    await mkdir(path.join(folder, 'md', 'sources'), { recursive: true });
    await mkdir(path.join(folder, 'md', 'groundtruth'), { recursive: true });
    await mkdir(path.join(folder, 'csv', 'sources'), { recursive: true });
    await mkdir(path.join(folder, 'csv', 'groundtruth'), { recursive: true });
    await writeFile(path.join(folder, 'md', 'sources', 'a.md'), '# Alpha\n\nBeta gamma.\n');
    await writeFile(path.join(folder, 'md', 'groundtruth', 'a.md.md'), '# Alpha\n\nBeta gamma delta.\n');
    await writeFile(path.join(folder, 'md', 'sources', 'unscored.md'), '# No expected conversion\n');
    await writeFile(path.join(folder, 'csv', 'sources', 't.csv'), 'x,y\n1,2\n');
    await writeFile(path.join(folder, 'csv', 'groundtruth', 't.md'), '| x | y |\n|---|---|\n| 1 | 2 |\n');

    const report = await evaluateParsing(folder, limits);

    expect(report.documents.map((document) => `${document.format}/${document.file}`)).toEqual([
      'csv/t.csv',
      'md/a.md',
    ]);
    const markdown = report.documents.find((document) => document.format === 'md')!;
    expect(markdown.recall).toBeCloseTo(3 / 4);
    expect(markdown.precision).toBe(1);
    expect(markdown.order).toBeCloseTo(3 / 4);
    const csv = report.formats.find((summary) => summary.format === 'csv')!;
    expect(csv.recall).toBe(1);
    expect(csv.tableRowsIntact).toBe(2);
    expect(formatParsingReport(report)).toContain('| md | 1 | 0 | 0.750 | 1.000 | 0.750 | 0/0 | 0 |');
  });

  it('records a failed document', async () => {
    const failing = await mkdtemp(path.join(tmpdir(), 'docent-parsing-eval-failure-'));
    try {
      await mkdir(path.join(failing, 'txt', 'sources'), { recursive: true });
      await mkdir(path.join(failing, 'txt', 'groundtruth'), { recursive: true });
      await writeFile(path.join(failing, 'txt', 'sources', 'empty.txt'), '   ');
      await writeFile(path.join(failing, 'txt', 'groundtruth', 'empty.md'), 'Something expected');
      const report = await evaluateParsing(failing, limits);
      expect(report.documents[0]).toMatchObject({ recall: 0, error: 'EMPTY_DOCUMENT' });
      expect(report.formats[0]).toMatchObject({ documents: 1, failed: 1 });
    } finally {
      await rm(failing, { recursive: true, force: true });
    }
  });
});
