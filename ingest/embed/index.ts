import type { Config } from '../../core/config.ts';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { DocentError } from '../../core/errors.ts';
import type { Embedder } from './embedder.ts';
import { HashEmbedder } from './hash-embedder.ts';

export type { Embedder, EmbeddingKind } from './embedder.ts';
export { CachedEmbedder } from './cached-embedder.ts';
export { LruEmbeddingCache, hashText, type EmbeddingCache } from './embedding-cache.ts';
export { HashEmbedder } from './hash-embedder.ts';

export type PoolingMode = 'auto' | 'mean' | 'cls';
export type PrefixMode = 'auto' | 'none' | 'e5' | 'bge';

export interface CreateEmbedderOptions {
  /** Directory that `transformers:<org/name>` specs resolve against (DOCENT_MODELS_DIR). */
  readonly modelsDir: string;
  /** Texts per model call (DOCENT_EMBED_BATCH_SIZE). */
  readonly batchSize: number;
  /** Worker threads of `use-lite` (DOCENT_EMBED_THREADS); 1 runs it on the calling thread. */
  readonly threads?: number;
  /** Pooling of Transformers.js models; `auto` reads the model's sentence-transformers pooling config. */
  readonly pooling?: PoolingMode;
  /** Query and passage prefixes of Transformers.js models; `auto` picks them from the model name. */
  readonly prefix?: PrefixMode;
}

const SPEC_HELP =
  "Use 'use-lite-windowed', 'use-lite', 'hash:<dimension>' or 'transformers:<model directory or org/name under DOCENT_MODELS_DIR>'.";

/**
 * Creates the embedder that a spec names (the DOCENT_EMBEDDER setting):
 * - `use-lite-windowed`: Universal Sentence Encoder lite, offline, 512 dimensions, reading the
 *   whole text in windows of 128 tokens.
 * - `use-lite`: the same model reading only the first 128 tokens of each text, about twice as
 *   fast on 200-token chunks.
 * - `transformers:<dir | org/name>`: a local ONNX model in the Transformers.js layout. An
 *   `org/name` resolves under `modelsDir`. An absolute, `./` or `../` path is used as it is.
 * - `hash:<dimension>`: feature hashing, for tests and benchmarks.
 *
 * Throws DocentError INVALID_ARGUMENT for a malformed spec and MODEL_NOT_FOUND when the model
 * directory does not exist or lacks config.json.
 */
export async function createEmbedder(spec: string, options: CreateEmbedderOptions): Promise<Embedder> {
  const trimmed = spec.trim();
  if (trimmed === 'use-lite' || trimmed === 'use-lite-windowed') {
    const threads = options.threads ?? 1;
    const windowed = trimmed === 'use-lite-windowed';
    if (threads > 1) {
      const { ThreadedUseLiteEmbedder } = await import('./use-lite/threaded-use-lite-embedder.ts');
      return ThreadedUseLiteEmbedder.load({ batchSize: options.batchSize, threads, windowed });
    }
    const { UseLiteEmbedder } = await import('./use-lite/use-lite-embedder.ts');
    return UseLiteEmbedder.load({ batchSize: options.batchSize, windowed });
  }

  if (trimmed.startsWith('hash:')) {
    const value = trimmed.slice('hash:'.length);
    const dimension = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(dimension)) {
      throw new DocentError(
        'INVALID_ARGUMENT',
        `Embedder spec ${JSON.stringify(spec)} has an invalid dimension ${JSON.stringify(value)}; use an integer, e.g. hash:256.`,
      );
    }
    return new HashEmbedder({ dimension, batchSize: options.batchSize });
  }

  if (trimmed.startsWith('transformers:')) {
    const name = trimmed.slice('transformers:'.length);
    if (name === '') {
      throw new DocentError(
        'INVALID_ARGUMENT',
        `Embedder spec ${JSON.stringify(spec)} names no model. ${SPEC_HELP}`,
      );
    }
    const modelDirectory = resolveModelDirectory(name, options.modelsDir);
    const { TransformersEmbedder } = await import('./transformers-embedder.ts');
    return TransformersEmbedder.load({
      modelDirectory,
      name,
      batchSize: options.batchSize,
      pooling: options.pooling ?? 'auto',
      prefix: options.prefix ?? 'auto',
    });
  }

  throw new DocentError('INVALID_ARGUMENT', `Unknown embedder spec ${JSON.stringify(spec)}. ${SPEC_HELP}`);
}

function resolveModelDirectory(name: string, modelsDir: string): string {
  const isPath = path.isAbsolute(name) || name.startsWith('./') || name.startsWith('../');
  const directory = isPath ? path.resolve(name) : path.resolve(modelsDir, name);
  if (!isPath && path.relative(path.resolve(modelsDir), directory).startsWith('..')) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      `Model name ${JSON.stringify(name)} points outside DOCENT_MODELS_DIR (${modelsDir}); use org/name or an absolute path.`,
    );
  }
  if (!existsSync(directory) || !statSync(directory).isDirectory()) {
    throw new DocentError(
      'MODEL_NOT_FOUND',
      `Embedding model directory ${directory} does not exist. Download the model there (Transformers.js layout: config.json, tokenizer.json, onnx/model.onnx) or set DOCENT_MODELS_DIR to the folder that contains ${name}.`,
    );
  }
  if (!existsSync(path.join(directory, 'config.json'))) {
    throw new DocentError(
      'MODEL_NOT_FOUND',
      `Embedding model directory ${directory} has no config.json; it must be in the Transformers.js layout (config.json, tokenizer.json, tokenizer_config.json, onnx/model.onnx).`,
    );
  }
  return directory;
}

/** Creates the embedder named by `spec` with the embedder settings of `config`. */
export function createConfiguredEmbedder(spec: string, config: Config): Promise<Embedder> {
  return createEmbedder(spec, {
    modelsDir: config.modelsDir,
    batchSize: config.embedder.batchSize,
    threads: config.embedder.threads,
    pooling: config.embedder.pooling,
    prefix: config.embedder.prefix,
  });
}
