import type { Command } from 'commander';
import { evaluateRetrieval, formatRetrievalReport } from '../../eval/retrieval.ts';
import { withDocent } from './context.ts';
import { positiveInteger } from './options.ts';

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
          onProgress: (progress) => {
            if (process.stderr.isTTY)
              process.stderr.write(`\rindexing ${progress.done}/${progress.total} documents`);
          },
        });
        if (process.stderr.isTTY) process.stderr.write('\n');
        if (options.json === true) {
          console.log(JSON.stringify(report, null, 2));
          return;
        }
        console.log(formatRetrievalReport(report, docent.embedder.id));
      });
    });
}
