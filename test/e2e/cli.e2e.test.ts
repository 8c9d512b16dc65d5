import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Citation as GeneratedCitation } from '../../generation/types.ts';
import { Store } from '../../index/store.ts';
import { openPdf } from '../../ingest/parse/pdf.ts';

// The `docent` command as a user runs it: a child process with DOCENT_DATA_DIR pointing at a
// fresh folder. The quick tests use the hash embedder; the Debian Reference test uses the
// offline default embedder, as the README's quick start does.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'bin', 'docent.js');
const DEBIAN_PDF = path.resolve(
  ROOT,
  '../shared/data/docs/debian/debian-reference/en/debian-reference.en.pdf',
);
const UPGRADE_QUESTION = 'How do I upgrade the whole system to a newer Debian release?';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function temporaryFolder(prefix: string): string {
  const folder = mkdtempSync(path.join(tmpdir(), prefix));
  folders.push(folder);
  return folder;
}

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function docent(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        cwd: ROOT,
        env: { ...process.env, DOCENT_LOG_LEVEL: 'error', ...env },
        timeout: timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        let code = 0;
        if (error !== null) code = typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function json<T>(run: Run): T {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as T;
}

/** A citation as `docent ask --json` prints it. */
type Citation = Omit<GeneratedCitation, 'chunkId'>;

/** Checks that every citation's text is its document's text at [start, end) and lies on its page. */
function expectCitationsMatchStore(dataDir: string, citations: readonly Citation[]): void {
  const store = Store.open(dataDir);
  try {
    for (const citation of citations) {
      const text = store.getDocumentText(citation.documentId) ?? '';
      expect(text.slice(citation.start, citation.end)).toBe(citation.text);
      if (citation.page === null) continue;
      const page = store.getDocumentPages(citation.documentId).find((span) => span.page === citation.page);
      expect(page).toBeDefined();
      expect(citation.start).toBeGreaterThanOrEqual(page!.start);
    }
  } finally {
    store.close();
  }
}

// Each command starts a Node.js process that loads the TypeScript sources. That took up to 10 s a
// command on a busy 2-core machine, so these tests get long time limits.
const CLI_TEST_TIMEOUT_MS = 300_000;

describe('docent command line', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const env = (dataDir: string) => ({ DOCENT_DATA_DIR: dataDir, DOCENT_EMBEDDER: 'hash:256' });

  it('prints usage and exits 2 for bad arguments', async () => {
    const dataDir = temporaryFolder('docent-cli-');
    const unknown = await docent(['frobnicate'], env(dataDir));
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    expect(unknown.stderr).toMatch(/--help/);

    const missing = await docent(['search'], env(dataDir));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing required argument 'query'/);

    const badMode = await docent(['search', 'apt', '--mode', 'fuzzy'], env(dataDir));
    expect(badMode.code).toBe(2);
    expect(badMode.stderr).toMatch(/hybrid, dense, sparse/);

    const badTopK = await docent(['search', 'apt', '--top-k', 'many'], env(dataDir));
    expect(badTopK.code).toBe(2);

    const version = await docent(['--version'], env(dataDir));
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('explains a bad setting or path', async () => {
    const dataDir = temporaryFolder('docent-cli-');
    const badEnv = await docent(['list'], { ...env(dataDir), DOCENT_CHUNK_SIZE: 'big' });
    expect(badEnv.code).not.toBe(0);
    expect(badEnv.stderr).toMatch(/DOCENT_CHUNK_SIZE/);

    const missingPath = await docent(['ingest', path.join(dataDir, 'no-such-file.pdf')], env(dataDir));
    expect(missingPath.code).toBe(1);
    expect(missingPath.stderr).toMatch(/no-such-file\.pdf/);
  });

  it('ingests, searches, answers, lists and deletes', async () => {
    const dataDir = temporaryFolder('docent-cli-');
    const files = temporaryFolder('docent-cli-files-');
    writeFileSync(
      path.join(files, 'lighthouse.md'),
      '# Lighthouse\n\nThe lighthouse keeper polishes the Fresnel lens every morning at six.\n',
    );
    mkdirSync(path.join(files, 'nested'));
    writeFileSync(
      path.join(files, 'nested', 'harbour.txt'),
      'The harbour master opens the lock gates two hours before high tide.\n',
    );

    expect(await docent(['list'], env(dataDir))).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/No collections/) as unknown,
    });

    const ingest = await docent(['ingest', files, '--collection', 'coast'], env(dataDir));
    expect(ingest.code).toBe(0);
    expect(ingest.stderr).toMatch(/lighthouse\.md/);
    expect(ingest.stderr).toMatch(/harbour\.txt/);

    const search = json<{ results: Array<{ source: string; sparseRank: number | null }> }>(
      await docent(['search', 'Fresnel lens', '--collection', 'coast', '--json'], env(dataDir)),
    );
    expect(search.results[0]?.source).toBe('lighthouse.md');
    expect(search.results[0]?.sparseRank).toBe(1);

    const sparse = json<{ results: Array<{ source: string }> }>(
      await docent(
        ['search', 'lock gates', '--collection', 'coast', '--mode', 'sparse', '--json'],
        env(dataDir),
      ),
    );
    expect(sparse.results.map((result) => result.source)).toEqual(['harbour.txt']);

    const filtered = await docent(
      ['search', 'lock gates', '--collection', 'coast', '--filter', '{"lang":"fr"}'],
      env(dataDir),
    );
    expect(filtered.code).toBe(0);
    expect(filtered.stdout).toContain('No results with the filter {"lang":"fr"}');
    expect(filtered.stdout).toContain('--metadata');

    const reply = json<{ answer: string; citations: Citation[]; mode: string }>(
      await docent(
        [
          'ask',
          'When does the lighthouse keeper polish the Fresnel lens?',
          '--collection',
          'coast',
          '--json',
        ],
        env(dataDir),
      ),
    );
    expect(reply.mode).toBe('extractive');
    expect(reply.answer).toMatch(/six/);
    expect(reply.citations[0]?.source).toBe('lighthouse.md');
    expectCitationsMatchStore(dataDir, reply.citations);

    const listed = await docent(['list'], env(dataDir));
    expect(listed.stdout).toMatch(/collection coast: 2 documents/);

    const deleted = await docent(['delete', 'harbour.txt', '--collection', 'coast'], env(dataDir));
    expect(deleted.code).toBe(0);
    const afterDelete = json<{ results: unknown[] }>(
      await docent(['search', 'lock gates', '--collection', 'coast', '--json'], env(dataDir)),
    );
    expect(afterDelete.results.every((result) => JSON.stringify(result).includes('lighthouse'))).toBe(true);

    const notFound = await docent(['delete', 'harbour.txt', '--collection', 'coast'], env(dataDir));
    expect(notFound.code).toBe(1);
    expect(notFound.stderr).toMatch(/No document with id or source "harbour\.txt"/);

    const dropped = await docent(['delete-collection', 'coast'], env(dataDir));
    expect(dropped.code).toBe(0);
    expect((await docent(['list'], env(dataDir))).stdout).toMatch(/No collections/);
    const droppedAgain = await docent(['delete-collection', 'coast'], env(dataDir));
    expect(droppedAgain.code).toBe(1);
    expect(droppedAgain.stderr).toMatch(/No collection named "coast"/);
  });

  it('evaluates retrieval on a BEIR folder', async () => {
    const dataDir = temporaryFolder('docent-cli-');
    const beir = temporaryFolder('docent-beir-');
    const corpus = [
      { _id: 'd1', title: 'Tides', text: 'Spring tides follow the new and full moon.' },
      { _id: 'd2', title: 'Lenses', text: 'A Fresnel lens focuses the lighthouse beam.' },
      { _id: 'd3', title: 'Gates', text: 'Lock gates hold water in the harbour basin.' },
    ];
    writeFileSync(path.join(beir, 'corpus.jsonl'), corpus.map((entry) => JSON.stringify(entry)).join('\n'));
    writeFileSync(
      path.join(beir, 'queries.jsonl'),
      [
        { _id: 'q1', text: 'which lens focuses a lighthouse beam' },
        { _id: 'q2', text: 'when are spring tides' },
      ]
        .map((entry) => JSON.stringify(entry))
        .join('\n'),
    );
    mkdirSync(path.join(beir, 'qrels'));
    writeFileSync(path.join(beir, 'qrels', 'test.tsv'), 'query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\td1\t1\n');

    const report = json<Record<string, { ndcg10: number; recall100: number; mrr10: number }>>(
      await docent(['eval', 'retrieval', beir, '--json'], env(dataDir)),
    );
    expect(report.sparse).toEqual({ ndcg10: 1, recall100: 1, mrr10: 1 });
    for (const key of ['dense', 'hybrid', 'hybridWeighted']) {
      expect(report[key]?.recall100).toBe(1);
    }

    const missing = await docent(['eval', 'retrieval', dataDir], env(dataDir));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/corpus\.jsonl not found/);
  });
});

describe.skipIf(!existsSync(DEBIAN_PDF))(
  'docent on the Debian Reference PDF with the default embedder (needs ../shared/data)',
  () => {
    it('answers the upgrade question with page citations', async () => {
      const dataDir = temporaryFolder('docent-cli-debian-');
      const env = { DOCENT_DATA_DIR: dataDir };
      const ingest = await docent(['ingest', DEBIAN_PDF], env, 1_500_000);
      expect(ingest.code).toBe(0);

      const reply = json<{ answer: string; citations: Citation[]; mode: string }>(
        await docent(['ask', UPGRADE_QUESTION, '--json'], env),
      );
      expect(reply.answer).toMatch(/sources\.list/);
      expect(reply.answer).toMatch(/dist-upgrade|full-upgrade/);
      expect(reply.citations.length).toBeGreaterThan(0);
      expectCitationsMatchStore(dataDir, reply.citations);

      // The manual's body pages carry printed numbers 28 lower than their place in the file.
      const search = await docent(['search', 'system wide upgrade', '--mode', 'sparse', '-k', '1'], env);
      const [, page, printed] = /page (\d+) \(printed (\d+)\)/.exec(search.stdout) ?? [];
      expect(Number(page) - Number(printed), search.stdout).toBe(28);

      // The cited text must be on the cited page of the PDF, read here with pdf.js alone, without Docent's parser.
      const pdf = await openPdf(new Uint8Array(readFileSync(DEBIAN_PDF)));
      try {
        for (const citation of reply.citations) {
          expect(citation.page).not.toBeNull();
          const page = await pdf.getPage(citation.page!);
          const content = await page.getTextContent();
          const pageText = compact(content.items.map((item) => ('str' in item ? item.str : '')).join(''));
          const cited = compact(citation.text);
          const probe = cited.slice(0, Math.min(cited.length, 40));
          expect(pageText, `citation [${citation.n}] on page ${citation.page}`).toContain(probe);
        }
      } finally {
        await pdf.destroy();
      }
    }, 1_200_000);
  },
);

/** Drops whitespace and hyphens, which PDF line breaks and hyphenation move around. */
function compact(text: string): string {
  return text.replace(/[\s\u00AD-]+/g, '');
}
