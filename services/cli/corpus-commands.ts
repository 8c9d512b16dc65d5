import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import cliProgress from 'cli-progress';
import { Option, type Command } from 'commander';
import { DocentError } from '../../core/errors.ts';
import type { MetadataFilter } from '../../index/store.ts';
import type { PageSpan } from '../../ingest/parse/types.ts';
import type { FusionMethod, SearchMode, SearchResult } from '../../retrieval/hybrid-retriever.ts';
import { startParse } from '../../ingest/pipeline.ts';
import { DEFAULT_COLLECTION, type Docent } from '../docent.ts';
import { withDocent } from './context.ts';
import { positiveInteger } from './options.ts';

const modeOption = () =>
  new Option('--mode <mode>', 'retrieval mode').choices(['hybrid', 'dense', 'sparse']).default('hybrid');
const fusionOption = () =>
  new Option('--fusion <method>', 'fusion of dense and sparse results (hybrid mode)').choices([
    'rrf',
    'weighted',
  ]);

export function registerCorpusCommands(program: Command): void {
  program
    .command('ingest')
    .description('Parse, chunk, embed and index files or folders (folders are read recursively)')
    .argument('<paths...>', 'files or folders to ingest')
    .option('-c, --collection <name>', 'collection to add the documents to', DEFAULT_COLLECTION)
    .option('--metadata <json>', 'JSON object stored with every document, usable in search filters')
    .action(async (paths: string[], options: { collection: string; metadata?: string }) => {
      const metadata = options.metadata === undefined ? {} : parseJsonObject(options.metadata, '--metadata');
      const files = paths.flatMap((entry) => listFiles(entry));
      if (files.length === 0)
        throw new DocentError('INVALID_ARGUMENT', `No files found in ${paths.join(', ')}`);
      await withDocent(async (docent) => {
        const failed = await ingestFiles(docent, files, options.collection, metadata);
        if (failed > 0) process.exitCode = 1;
      });
    });

  program
    .command('search')
    .description('Search a collection and print the best chunks')
    .argument('<query>', 'question or keywords')
    .option('-c, --collection <name>', 'collection to search', DEFAULT_COLLECTION)
    .addOption(modeOption())
    .addOption(fusionOption())
    .option('-k, --top-k <n>', 'number of results', positiveInteger, 5)
    .option('--filter <json>', 'document metadata filter, e.g. {"lang":"en"}')
    .option('--json', 'print results as JSON')
    .action(
      async (
        query: string,
        options: {
          collection: string;
          mode: SearchMode;
          fusion?: FusionMethod;
          topK: number;
          filter?: string;
          json?: boolean;
        },
      ) => {
        const filters =
          options.filter === undefined
            ? undefined
            : (parseJsonObject(options.filter, '--filter') as MetadataFilter);
        await withDocent(async (docent) => {
          const { results, timings } = await docent.search(query, {
            collection: options.collection,
            topK: options.topK,
            mode: options.mode,
            ...(options.fusion === undefined ? {} : { fusion: options.fusion }),
            ...(filters === undefined ? {} : { filters }),
          });
          if (options.json === true) {
            console.log(JSON.stringify({ results, timings }, null, 2));
            return;
          }
          if (results.length === 0 && filters !== undefined) {
            console.log(
              `No results with the filter ${JSON.stringify(filters)}. It matches the metadata given at ingest (docent ingest --metadata '{"lang":"en"}'); try without --filter to search every document.`,
            );
          } else if (results.length === 0) {
            console.log('No results.');
          }
          const pageName = pageNamer(docent);
          for (const result of results) printResult(result, pageName(result.documentId, result.page));
        });
      },
    );

  program
    .command('ask')
    .description('Answer a question from a collection, citing the chunks used')
    .argument('<question>', 'the question')
    .option('-c, --collection <name>', 'collection to search', DEFAULT_COLLECTION)
    .addOption(modeOption())
    .option('-k, --top-k <n>', 'number of chunks given to the answerer', positiveInteger, 5)
    .option('--json', 'print {answer, citations, mode} as JSON')
    .action(
      async (
        question: string,
        options: { collection: string; mode: SearchMode; topK: number; json?: boolean },
      ) => {
        await withDocent(async (docent) => {
          const { answer } = await docent.ask(question, {
            collection: options.collection,
            topK: options.topK,
            mode: options.mode,
          });
          const mode = answer.generator === 'extractive' ? 'extractive' : 'generative';
          if (options.json === true) {
            const citations = answer.citations.map(({ n, documentId, source, page, start, end, text }) => ({
              n,
              documentId,
              source,
              page,
              start,
              end,
              text,
            }));
            console.log(
              JSON.stringify(
                { answer: answer.answer, citations, mode, generator: answer.generator },
                null,
                2,
              ),
            );
            return;
          }
          console.log(answer.answer);
          if (answer.citations.length > 0) console.log('\nSources:');
          // A source quoted in several places is listed once, with one line per quoted span.
          let previous: number | undefined;
          const pageName = pageNamer(docent);
          const ordered = [...answer.citations].sort(
            (left, right) => left.n - right.n || left.start - right.start,
          );
          for (const citation of ordered) {
            if (citation.n !== previous) {
              const page = pageName(citation.documentId, citation.page);
              const where = page === '' ? citation.source : `${citation.source}, ${page}`;
              console.log(`[${citation.n}] ${where}`);
              previous = citation.n;
            }
            console.log(`    characters ${citation.start}-${citation.end}: "${oneLine(citation.text, 160)}"`);
          }
          console.log(`\nAnswered by: ${answer.generator}`);
        });
      },
    );

  program
    .command('delete')
    .description('Delete a document by id, or every document with this source name')
    .argument('<document>', 'document id or source file name')
    .option('-c, --collection <name>', 'collection of a source name', DEFAULT_COLLECTION)
    .action(async (target: string, options: { collection: string }) => {
      await withDocent((docent) => {
        const byId = docent.store.getDocument(target);
        const documents =
          byId !== undefined
            ? [byId]
            : docent.store.findDocumentsBySource(
                docent.store.requireCollection(options.collection).id,
                path.basename(target),
              );
        if (documents.length === 0) {
          throw new DocentError(
            'NOT_FOUND',
            `No document with id or source "${target}" in collection "${options.collection}". List them with \`docent list\`.`,
          );
        }
        for (const document of documents) {
          docent.deleteDocument(document.id);
          console.log(`Deleted ${document.id} (${document.source})`);
        }
      });
    });

  program
    .command('delete-collection')
    .description('Delete a collection with all its documents')
    .argument('<name>', 'collection name, as shown by `docent list`')
    .action(async (name: string) => {
      await withDocent((docent) => {
        const collection = docent.store.listCollections().find((entry) => entry.name === name);
        if (collection === undefined) {
          throw new DocentError(
            'NOT_FOUND',
            `No collection named "${name}". List the collections with \`docent list\`.`,
          );
        }
        docent.deleteCollection(name);
        console.log(`Deleted collection ${name} (${collection.documentCount} documents)`);
      });
    });

  program
    .command('list')
    .description('List collections and documents')
    .option('-c, --collection <name>', 'only this collection')
    .addOption(
      new Option('--status <status>', 'only documents in this state').choices([
        'queued',
        'processing',
        'indexed',
        'failed',
        'needs_ocr',
      ]),
    )
    .option('--json', 'print as JSON')
    .action(async (options: { collection?: string; status?: 'indexed'; json?: boolean }) => {
      await withDocent((docent) => {
        const collections = docent.store.listCollections();
        const documents = docent.store.listDocuments({
          ...(options.collection === undefined ? {} : { collection: options.collection }),
          ...(options.status === undefined ? {} : { status: options.status }),
        });
        if (options.json === true) {
          console.log(JSON.stringify({ collections, documents }, null, 2));
          return;
        }
        if (collections.length === 0) {
          console.log(
            `No collections in ${docent.config.dataDir} yet. Add documents with \`docent ingest <path>\`.`,
          );
          return;
        }
        for (const collection of collections) {
          console.log(
            `collection ${collection.name}: ${collection.documentCount} documents, ${collection.chunkCount} chunks, embedder ${collection.embedderId}`,
          );
        }
        for (const document of documents) {
          const error =
            document.errorMessage === null ? '' : ` (${document.errorCode}: ${document.errorMessage})`;
          const pages = document.pageCount === 0 ? '' : `, ${count(document.pageCount, 'page')}`;
          console.log(
            `${document.id}  ${document.status.padEnd(10)} ${document.collection}/${document.source}  ${count(document.chunkCount, 'chunk')}${pages}${error}`,
          );
        }
      });
    });
}

/** Formats a count with its noun, e.g. `1 chunk`, `3 chunks`. */
function count(value: number, noun: string): string {
  return `${value} ${noun}${value === 1 ? '' : 's'}`;
}

/** Interval of the progress lines printed when stderr is not a terminal. */
const PLAIN_PROGRESS_MS = 10_000;

async function ingestFiles(
  docent: Parameters<Parameters<typeof withDocent>[0]>[0],
  files: readonly string[],
  collection: string,
  metadata: Record<string, unknown>,
): Promise<number> {
  const interactive = process.stderr.isTTY;
  const bar = interactive
    ? new cliProgress.SingleBar(
        {
          format: 'ingest [{bar}] {value}/{total} files | {chunks} chunks | {rate} chunks/s | {file} {step}',
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(files.length, 0, { chunks: 0, rate: '0', file: '', step: '' });

  const started = performance.now();
  let lastLine = started;
  let chunks = 0;
  let failed = 0;
  let duplicates = 0;
  // The next file is parsed (in a worker thread) while the current one is embedded.
  const startParsing = (file: string | undefined) => {
    if (file === undefined) return undefined;
    try {
      const bytes = readFileSync(file);
      return { bytes, parsed: startParse({ bytes, filename: path.basename(file) }, docent.config.parsing) };
    } catch (error) {
      return { error: error instanceof Error ? error : new Error(String(error)) };
    }
  };
  let upcoming = startParsing(files[0]);
  for (const [index, file] of files.entries()) {
    const source = path.basename(file);
    const current = upcoming;
    upcoming = startParsing(files[index + 1]);
    bar?.update(index, { file: source });
    let outcome;
    try {
      if (current === undefined || 'error' in current)
        throw current?.error ?? new Error(`${file} could not be read`);
      outcome = await docent.ingest(
        { bytes: current.bytes, parsed: current.parsed, source, collection, metadata },
        (progress) => {
          const done = chunks + progress.done;
          const rate = (done / Math.max((performance.now() - started) / 1000, 1e-3)).toFixed(1);
          const step =
            progress.stage === 'embed'
              ? `(embedding ${progress.done}/${progress.total})`
              : `(${progress.stage})`;
          bar?.update(index, { chunks: done, rate, file: source, step });
          // Off a terminal, a line every PLAIN_PROGRESS_MS shows that a long file is still moving.
          if (
            !interactive &&
            progress.stage === 'embed' &&
            performance.now() - lastLine >= PLAIN_PROGRESS_MS
          ) {
            lastLine = performance.now();
            console.error(`embedding ${file}: ${progress.done}/${progress.total} chunks, ${rate} chunks/s`);
          }
        },
      );
    } catch (error) {
      failed += 1;
      const message = error instanceof Error ? error.message : String(error);
      log(bar, `failed  ${file}: ${message}`);
      continue;
    }
    const { document, duplicate } = outcome;
    const seconds = (performance.now() - started) / 1000;
    if (document.status === 'indexed') {
      if (duplicate) duplicates += 1;
      else chunks += document.chunkCount;
      if (!interactive) {
        console.error(
          `${duplicate ? 'unchanged' : 'indexed'} ${file}: ${document.chunkCount} chunks, ${document.pageCount} pages (document ${document.id})`,
        );
      }
    } else {
      failed += 1;
      log(
        bar,
        `failed  ${file}: ${document.errorCode ?? 'error'}: ${document.errorMessage ?? 'unknown error'}`,
      );
    }
    bar?.update(index + 1, { chunks, rate: (chunks / Math.max(seconds, 1e-3)).toFixed(1), step: '' });
  }
  bar?.stop();

  const seconds = (performance.now() - started) / 1000;
  console.log(
    `Ingested ${files.length - failed - duplicates} of ${files.length} files into "${collection}": ${chunks} chunks in ${seconds.toFixed(1)} s` +
      `${duplicates > 0 ? `, ${duplicates} unchanged` : ''}${failed > 0 ? `, ${failed} failed` : ''}.`,
  );
  return failed;
}

function log(bar: cliProgress.SingleBar | undefined, line: string): void {
  if (bar === undefined) {
    console.error(line);
    return;
  }
  process.stderr.write(`\r\x1b[K${line}\n`);
}

function listFiles(entry: string): string[] {
  let stats;
  try {
    stats = statSync(entry);
  } catch {
    throw new DocentError('NOT_FOUND', `${entry} not found: give an existing file or folder`);
  }
  if (stats.isFile()) return [entry];
  if (!stats.isDirectory()) return [];
  return readdirSync(entry)
    .filter((name) => !name.startsWith('.'))
    .sort()
    .flatMap((name) => listFiles(path.join(entry, name)));
}

function parseJsonObject(text: string, option: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DocentError('INVALID_ARGUMENT', `${option} must be a JSON object, got ${JSON.stringify(text)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DocentError('INVALID_ARGUMENT', `${option} must be a JSON object, got ${JSON.stringify(text)}`);
  }
  return value as Record<string, unknown>;
}

/**
 * Returns a function that names a page as `page 83`, or `page 83 (printed 55)` when the PDF
 * prints another number on it. Each document's pages are read once.
 */
function pageNamer(docent: Docent): (documentId: string, page: number | null) => string {
  const pagesByDocument = new Map<string, PageSpan[]>();
  return (documentId, page) => {
    if (page === null) return '';
    let pages = pagesByDocument.get(documentId);
    if (pages === undefined) {
      pages = docent.store.getDocumentPages(documentId);
      pagesByDocument.set(documentId, pages);
    }
    const label = pages.find((span) => span.page === page)?.label;
    return label === undefined ? `page ${page}` : `page ${page} (printed ${label})`;
  };
}

function printResult(result: SearchResult, pageName: string): void {
  const page = pageName === '' ? '' : ` ${pageName}`;
  const ranks = `dense ${result.denseRank ?? '-'}, sparse ${result.sparseRank ?? '-'}`;
  console.log(
    `${result.rank}. ${result.source}${page} [${result.start}-${result.end}] score ${result.score.toFixed(4)} (${ranks})`,
  );
  if (result.headingPath.length > 0) console.log(`   ${result.headingPath.join(' > ')}`);
  console.log(`   ${oneLine(result.text, 300)}\n`);
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
