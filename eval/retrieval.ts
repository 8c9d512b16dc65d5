import { createReadStream, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { DocentError } from '../core/errors.ts';
import { chunkDocument } from '../ingest/chunk/chunker.ts';
import { embedInSteps, embeddingText, sha256Hex, type IngestProgress } from '../ingest/pipeline.ts';
import type { Block } from '../ingest/parse/types.ts';
import type { FusionMethod, SearchMode } from '../retrieval/hybrid-retriever.ts';
import type { Docent } from '../services/docent.ts';
import { mean, mrrAtK, ndcgAtK, recallAtK, type Judgments } from './metrics.ts';

export interface RetrievalScores {
  readonly ndcg10: number;
  readonly recall100: number;
  readonly mrr10: number;
}

export interface RetrievalReport {
  readonly queries: number;
  readonly documents: number;
  readonly sparse: RetrievalScores;
  readonly dense: RetrievalScores;
  readonly hybrid: RetrievalScores;
  readonly hybridWeighted: RetrievalScores;
}

interface CorpusEntry {
  readonly id: string;
  readonly title: string;
  readonly text: string;
}

/** Reads a BEIR folder: corpus.jsonl, queries.jsonl and qrels/test.tsv. */
export async function readBeirFolder(folder: string): Promise<{
  corpus: CorpusEntry[];
  queries: Map<string, string>;
  qrels: Map<string, Map<string, number>>;
}> {
  for (const file of ['corpus.jsonl', 'queries.jsonl', path.join('qrels', 'test.tsv')]) {
    if (!existsSync(path.join(folder, file))) {
      throw new DocentError(
        'INVALID_ARGUMENT',
        `${path.join(folder, file)} not found: give a folder in BEIR layout (corpus.jsonl, queries.jsonl, qrels/test.tsv)`,
      );
    }
  }

  const corpus: CorpusEntry[] = [];
  for await (const record of readJsonLines(path.join(folder, 'corpus.jsonl'))) {
    corpus.push({
      id: String(record._id),
      title: textField(record.title),
      text: textField(record.text),
    });
  }
  const queries = new Map<string, string>();
  for await (const record of readJsonLines(path.join(folder, 'queries.jsonl')))
    queries.set(String(record._id), textField(record.text));

  const qrels = new Map<string, Map<string, number>>();
  const lines = readFileSync(path.join(folder, 'qrels', 'test.tsv'), 'utf8')
    .split('\n')
    .slice(1);
  for (const line of lines) {
    const [queryId, corpusId, score] = line.trim().split('\t');
    if (queryId === undefined || corpusId === undefined || score === undefined) continue;
    const judgments = qrels.get(queryId) ?? new Map<string, number>();
    judgments.set(corpusId, Number(score));
    qrels.set(queryId, judgments);
  }
  return { corpus, queries, qrels };
}

function textField(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

async function* readJsonLines(file: string): AsyncGenerator<Record<string, unknown>> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() !== '') yield JSON.parse(line) as Record<string, unknown>;
  }
}

/**
 * Indexes a BEIR corpus into `collection` (one document per corpus entry, its id kept in
 * metadata as `beirId`), skipping entries already indexed, so repeated runs reuse the work.
 */
export async function indexCorpus(
  docent: Docent,
  corpus: readonly CorpusEntry[],
  collection: string,
  onProgress?: (progress: IngestProgress) => void,
): Promise<void> {
  const embedder = docent.embedderFor(docent.ensureCollection(collection));
  const batchSize = 256;
  for (let start = 0; start < corpus.length; start += batchSize) {
    const batch = corpus.slice(start, start + batchSize).map((entry) => {
      const text = entry.title === '' ? entry.text : `${entry.title}\n\n${entry.text}`;
      const bytes = new TextEncoder().encode(text);
      const blocks: Block[] =
        entry.title === '' ? [] : [{ kind: 'heading', level: 1, start: 0, end: entry.title.length }];
      if (entry.title !== '')
        blocks.push({ kind: 'paragraph', start: entry.title.length + 2, end: text.length });
      return { entry, text, bytes, blocks };
    });
    const fresh = batch.flatMap((item) => {
      const accepted = docent.accept({
        bytes: item.bytes,
        source: `${item.entry.id}.txt`,
        collection,
        metadata: { beirId: item.entry.id },
      });
      return accepted.duplicate && accepted.document.status === 'indexed'
        ? []
        : [{ ...item, documentId: accepted.document.id }];
    });
    if (fresh.length === 0) continue;

    const chunked = fresh.map((item) => ({
      item,
      chunks: chunkDocument(
        { text: item.text, mediaType: 'text/plain', pages: [], blocks: item.blocks, warnings: [] },
        docent.config.chunking,
      ),
    }));
    const texts = chunked.flatMap(({ chunks }) => chunks.map((chunk) => embeddingText(chunk, undefined)));
    const vectors = await embedInSteps(embedder, texts, {});

    let offset = 0;
    for (const { item, chunks } of chunked) {
      docent.apply(item.documentId, {
        mediaType: 'text/plain',
        title: item.entry.title === '' ? undefined : item.entry.title,
        text: item.text,
        pages: [],
        warnings: [],
        chunks,
        embedderId: embedder.id,
        dimension: embedder.dimension,
        embeddings: vectors.slice(offset, offset + chunks.length),
      });
      offset += chunks.length;
    }
    onProgress?.({ stage: 'embed', done: Math.min(start + batchSize, corpus.length), total: corpus.length });
  }
  docent.flush();
}

/**
 * Measures nDCG@10, recall@100 and MRR@10 of sparse, dense and hybrid retrieval (both fusion
 * methods) on a BEIR folder. A document's rank is the rank of its best chunk.
 */
export async function evaluateRetrieval(
  docent: Docent,
  folder: string,
  options: { limit?: number; onProgress?: (progress: IngestProgress) => void } = {},
): Promise<RetrievalReport> {
  const { corpus, queries, qrels } = await readBeirFolder(folder);
  const collection = `beir-${sha256Hex(new TextEncoder().encode(path.resolve(folder))).slice(0, 12)}`;
  await indexCorpus(docent, corpus, collection, options.onProgress);

  const judged = [...qrels.keys()].filter((id) => queries.has(id)).slice(0, options.limit ?? Infinity);
  const runs: Array<{
    key: keyof Omit<RetrievalReport, 'queries' | 'documents'>;
    mode: SearchMode;
    fusion: FusionMethod;
  }> = [
    { key: 'sparse', mode: 'sparse', fusion: 'rrf' },
    { key: 'dense', mode: 'dense', fusion: 'rrf' },
    { key: 'hybrid', mode: 'hybrid', fusion: 'rrf' },
    { key: 'hybridWeighted', mode: 'hybrid', fusion: 'weighted' },
  ];

  const scores = Object.fromEntries(
    runs.map((run) => [
      run.key,
      { ndcg10: [] as number[], recall100: [] as number[], mrr10: [] as number[] },
    ]),
  );
  for (const queryId of judged) {
    const query = queries.get(queryId) ?? '';
    const judgments: Judgments = qrels.get(queryId) ?? new Map();
    for (const run of runs) {
      const { results } = await docent.search(query, {
        collection,
        topK: 100,
        mode: run.mode,
        fusion: run.fusion,
      });
      const ranked = uniqueInOrder(results.map((result) => String(result.metadata.beirId)));
      const bucket = scores[run.key];
      if (bucket === undefined) continue;
      bucket.ndcg10.push(ndcgAtK(ranked, judgments, 10));
      bucket.recall100.push(recallAtK(ranked, judgments, 100));
      bucket.mrr10.push(mrrAtK(ranked, judgments, 10));
    }
  }

  const summary = (key: string): RetrievalScores => {
    const bucket = scores[key];
    return {
      ndcg10: mean(bucket?.ndcg10 ?? []),
      recall100: mean(bucket?.recall100 ?? []),
      mrr10: mean(bucket?.mrr10 ?? []),
    };
  };
  return {
    queries: judged.length,
    documents: corpus.length,
    sparse: summary('sparse'),
    dense: summary('dense'),
    hybrid: summary('hybrid'),
    hybridWeighted: summary('hybridWeighted'),
  };
}

function uniqueInOrder(values: readonly string[]): string[] {
  return [...new Set(values)];
}

export function formatRetrievalReport(report: RetrievalReport, embedderId: string): string {
  const row = (name: string, scores: RetrievalScores): string =>
    `| ${name.padEnd(24)} | ${scores.ndcg10.toFixed(3)} | ${scores.recall100.toFixed(3)} | ${scores.mrr10.toFixed(3)} |`;
  return [
    `${report.queries} queries, ${report.documents} documents, embedder ${embedderId}`,
    '| retriever                | nDCG@10 | recall@100 | MRR@10 |',
    '| ------------------------ | ------- | ---------- | ------ |',
    row('sparse (FTS5 BM25)', report.sparse),
    row('dense (HNSW)', report.dense),
    row('hybrid, RRF', report.hybrid),
    row('hybrid, weighted', report.hybridWeighted),
  ].join('\n');
}
