import { createHash } from 'node:crypto';
import type { PreparedDocument } from '../index/store.ts';
import { chunkDocument, type Chunk, type ChunkingOptions } from './chunk/chunker.ts';
import type { Embedder } from './embed/embedder.ts';
import { parseDocument } from './parse/index.ts';
import type { ParsedDocument, ParseInput } from './parse/types.ts';

export interface IngestProgress {
  readonly stage: 'parse' | 'chunk' | 'embed';
  /** Chunks embedded so far; 0 before the embed stage. */
  readonly done: number;
  readonly total: number;
}

export interface PrepareOptions {
  readonly embedder: Embedder;
  readonly chunking: ChunkingOptions;
  readonly parseLimits: { readonly timeoutMs: number; readonly maxMemoryMb: number };
  /** Texts embedded per progress report; the embedder batches further inside. */
  readonly progressBatch?: number;
  readonly onProgress?: (progress: IngestProgress) => void;
  readonly signal?: AbortSignal;
  /** A parse of this same input already started, e.g. while the previous file was being embedded. */
  readonly parsed?: Promise<ParsedDocument>;
}

/**
 * Parses, chunks and embeds one file. This is the heavy, side-effect-free half of ingest: it
 * may run in any process, and its result is written by the index owner with
 * `Store.applyPrepared`.
 */
export async function prepareDocument(input: ParseInput, options: PrepareOptions): Promise<PreparedDocument> {
  options.onProgress?.({ stage: 'parse', done: 0, total: 0 });
  const parsed = await (options.parsed ?? parseDocument(input, options.parseLimits));
  options.signal?.throwIfAborted();

  options.onProgress?.({ stage: 'chunk', done: 0, total: 0 });
  const chunks = chunkDocument(parsed, options.chunking);

  const texts = chunks.map((chunk) => embeddingText(chunk, parsed.title));
  const embeddings = await embedInSteps(options.embedder, texts, options);

  return {
    mediaType: parsed.mediaType,
    title: parsed.title,
    text: parsed.text,
    pages: parsed.pages,
    warnings: parsed.warnings,
    chunks,
    embedderId: options.embedder.id,
    dimension: options.embedder.dimension,
    embeddings,
  };
}

/** Embeds texts a slice at a time so that progress can be reported between slices. */
export async function embedInSteps(
  embedder: Embedder,
  texts: readonly string[],
  options: Pick<PrepareOptions, 'progressBatch' | 'onProgress' | 'signal'>,
): Promise<Float32Array[]> {
  const step = options.progressBatch ?? 64;
  const vectors: Float32Array[] = [];
  options.onProgress?.({ stage: 'embed', done: 0, total: texts.length });
  for (let start = 0; start < texts.length; start += step) {
    options.signal?.throwIfAborted();
    vectors.push(...(await embedder.embed(texts.slice(start, start + step), 'document')));
    options.onProgress?.({ stage: 'embed', done: vectors.length, total: texts.length });
  }
  return vectors;
}

/**
 * The text embedded for a chunk: the document title (when the parser found one), the heading
 * path and table header, then the chunk text.
 */
export function embeddingText(
  chunk: Pick<Chunk, 'context' | 'text'>,
  title: string | null | undefined,
): string {
  return [title ?? '', chunk.context, chunk.text].filter((part) => part.trim() !== '').join('\n');
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Starts parsing a file ahead of time. The returned promise never causes an unhandled
 * rejection while it waits; awaiting it still raises the parse error.
 */
export function startParse(
  input: ParseInput,
  limits: PrepareOptions['parseLimits'],
): Promise<ParsedDocument> {
  const parsed = parseDocument(input, limits);
  parsed.catch(() => undefined);
  return parsed;
}
