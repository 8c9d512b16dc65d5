import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../core/config.ts';
import { sha256Hex } from '../../ingest/pipeline.ts';
import {
  createStandaloneSearch,
  evaluateAnswers,
  formatAnswerReport,
  loadSquad,
  type AnswerSearch,
} from '../../eval/answers.ts';
import { evaluateParsing, formatParsingReport } from '../../eval/parsing.ts';
import { evaluateRetrieval, formatRetrievalReport, indexCorpus } from '../../eval/retrieval.ts';
import { toSourceChunks } from '../docent.ts';
import { withDocent } from './context.ts';
import { positiveInteger } from './options.ts';

/** Benchmark collections live in this folder inside DOCENT_DATA_DIR, apart from the user's documents. */
const EVAL_DATA = { dataSubfolder: 'eval' };

const progressLine = (label: string) => (done: number, total: number) => {
  if (process.stderr.isTTY) process.stderr.write(`\r${label} ${done}/${total}`);
};

export function registerEvalCommands(program: Command): void {
  const evaluate = program
    .command('eval')
    .description('Measure retrieval, parsing and answer quality on public benchmarks');

  evaluate
    .command('retrieval')
    .description('nDCG@10, recall@100 and MRR@10 of sparse, dense and hybrid search on a BEIR folder')
    .argument('<beir-folder>', 'folder with corpus.jsonl, queries.jsonl and qrels/test.tsv')
    .option('--limit <n>', 'evaluate only the first n judged queries', positiveInteger)
    .option('--json', 'print {sparse, dense, hybrid, hybridWeighted} scores as JSON')
    .action(async (folder: string, options: { limit?: number; json?: boolean }) => {
      await withDocent(async (docent) => {
        const report = await evaluateRetrieval(docent, folder, {
          ...(options.limit === undefined ? {} : { limit: options.limit }),
          onProgress: (progress) => progressLine('indexing documents')(progress.done, progress.total),
        });
        if (process.stderr.isTTY) process.stderr.write('\n');
        console.log(
          options.json === true
            ? JSON.stringify(report, null, 2)
            : formatRetrievalReport(report, docent.embedder.id),
        );
      }, EVAL_DATA);
    });

  evaluate
    .command('parsing')
    .description('Token recall, precision and order of extracted text against expected Markdown conversions')
    .argument('<folder>', 'folder with <format>/sources/* and <format>/groundtruth/*.md')
    .option('--json', 'print the full report as JSON')
    .action(async (folder: string, options: { json?: boolean }) => {
      const report = await evaluateParsing(folder, loadConfig().parsing);
      console.log(options.json === true ? JSON.stringify(report, null, 2) : formatParsingReport(report));
    });

  evaluate
    .command('answers')
    .description('Gold-answer containment, token F1, citation precision and refusals on a SQuAD v1.1 file')
    .argument('<squad-json>', 'SQuAD v1.1 JSON file, e.g. XQuAD')
    .option('--limit <n>', 'evaluate at most n questions, spread over the file', positiveInteger)
    .option('-k, --top-k <n>', 'chunks given to the answerer', positiveInteger, 5)
    .option('--withhold', 'also ask each question with its paragraph removed, to measure refusals')
    .option('--standalone', 'search with an in-memory BM25 index instead of the hybrid retriever')
    .option('--json', 'print the report as JSON')
    .action(
      async (
        file: string,
        options: { limit?: number; topK: number; withhold?: boolean; standalone?: boolean; json?: boolean },
      ) => {
        await withDocent(async (docent) => {
          const { paragraphs } = await loadSquad(file);
          let search: AnswerSearch;
          if (options.standalone === true) {
            search = createStandaloneSearch(paragraphs);
          } else {
            const collection = `squad-${sha256Hex(new TextEncoder().encode(path.resolve(file))).slice(0, 12)}`;
            // Paragraphs are indexed without their article title, so that chunk text stays a span of the paragraph.
            await indexCorpus(
              docent,
              paragraphs.map((paragraph) => ({ id: paragraph.id, title: '', text: paragraph.context })),
              collection,
            );
            search = async (question, topK) =>
              toSourceChunks((await docent.search(question, { collection, topK })).results);
          }
          const generator = docent.generator;
          if (generator === undefined) throw new Error('No answer generator is configured');
          const report = await evaluateAnswers(file, {
            search,
            generator,
            topK: options.topK,
            ...(options.limit === undefined ? {} : { limit: options.limit }),
            ...(options.withhold === true ? { withhold: true } : {}),
            onProgress: progressLine('questions'),
          });
          if (process.stderr.isTTY) process.stderr.write('\n');
          console.log(options.json === true ? JSON.stringify(report, null, 2) : formatAnswerReport(report));
        }, EVAL_DATA);
      },
    );
}
