import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  AutoModel,
  AutoTokenizer,
  env,
  type PreTrainedModel,
  type PreTrainedTokenizer,
  type Tensor,
} from '@huggingface/transformers';
import { DocentError } from '../../core/errors.ts';
import { BaseEmbedder } from './base-embedder.ts';
import type { EmbeddingKind } from './embedder.ts';

export type Pooling = 'mean' | 'cls';

/** Text put before queries and before documents; e5 and bge models were trained with these. */
export interface Prefixes {
  readonly query: string;
  readonly document: string;
}

export const PREFIXES = {
  none: { query: '', document: '' },
  e5: { query: 'query: ', document: 'passage: ' },
  bge: { query: 'Represent this sentence for searching relevant passages: ', document: '' },
} as const satisfies Record<string, Prefixes>;

export interface TransformersEmbedderOptions {
  /** Absolute path of the model directory (config.json, tokenizer.json, onnx/model*.onnx). */
  readonly modelDirectory: string;
  /** Name in the embedder id `transformers:<name>`, as the user wrote it in the spec. */
  readonly name: string;
  readonly batchSize: number;
  readonly pooling: Pooling | 'auto';
  readonly prefix: keyof typeof PREFIXES | 'auto';
}

/** ONNX weight files of the Transformers.js layout, in order of preference, with their dtype. */
const ONNX_VARIANTS = [
  { file: 'model.onnx', dtype: 'fp32' },
  { file: 'model_quantized.onnx', dtype: 'q8' },
  { file: 'model_int8.onnx', dtype: 'int8' },
  { file: 'model_uint8.onnx', dtype: 'uint8' },
  { file: 'model_fp16.onnx', dtype: 'fp16' },
  { file: 'model_q4.onnx', dtype: 'q4' },
] as const;

/** Maximum input length in tokens when neither the tokenizer nor config.json sets one. */
const DEFAULT_MAX_TOKENS = 512;

/**
 * Feature-extraction embedder for a local ONNX model in the Transformers.js layout. It never
 * downloads: remote models are disabled and only the given directory is read. The last hidden
 * state is mean- or CLS-pooled, inputs are truncated to the model's maximum length.
 */
export class TransformersEmbedder extends BaseEmbedder {
  readonly id: string;
  readonly pooling: Pooling;
  readonly prefixes: Prefixes;
  readonly maxTokens: number;
  private model: PreTrainedModel | undefined;
  private hiddenSize: number;

  private constructor(
    options: TransformersEmbedderOptions,
    private readonly tokenizer: PreTrainedTokenizer,
    model: PreTrainedModel,
    settings: { dimension: number; pooling: Pooling; prefixes: Prefixes; maxTokens: number },
  ) {
    super(options.batchSize);
    this.id = `transformers:${options.name}`;
    this.model = model;
    this.hiddenSize = settings.dimension;
    this.pooling = settings.pooling;
    this.prefixes = settings.prefixes;
    this.maxTokens = settings.maxTokens;
  }

  /** Loads tokenizer and ONNX model from `modelDirectory`; throws MODEL_NOT_FOUND when files are missing. */
  static async load(options: TransformersEmbedderOptions): Promise<TransformersEmbedder> {
    const directory = options.modelDirectory;
    const variant = ONNX_VARIANTS.find((candidate) =>
      existsSync(path.join(directory, 'onnx', candidate.file)),
    );
    if (variant === undefined) {
      throw new DocentError(
        'MODEL_NOT_FOUND',
        `No ONNX model in ${path.join(directory, 'onnx')}; expected one of ${ONNX_VARIANTS.map((candidate) => candidate.file).join(', ')}.`,
      );
    }
    for (const file of ['tokenizer.json', 'tokenizer_config.json']) {
      if (!existsSync(path.join(directory, file))) {
        throw new DocentError(
          'MODEL_NOT_FOUND',
          `Embedding model directory ${directory} has no ${file}; it must be in the Transformers.js layout.`,
        );
      }
    }

    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = path.dirname(directory);
    // A path that is not a Hub model id is read as it is, so no other model directory can match.
    const modelId = path.resolve(directory);
    let tokenizer: PreTrainedTokenizer;
    let model: PreTrainedModel;
    try {
      tokenizer = await AutoTokenizer.from_pretrained(modelId, { local_files_only: true });
      model = await AutoModel.from_pretrained(modelId, {
        local_files_only: true,
        dtype: variant.dtype,
        device: 'cpu',
      });
    } catch (error) {
      throw new DocentError(
        'MODEL_NOT_FOUND',
        `Loading the embedding model in ${directory} failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }

    const config = readJson(path.join(directory, 'config.json'));
    const settings = {
      dimension:
        numberField(config, 'hidden_size') ??
        numberField(config, 'd_model') ??
        numberField(config, 'dim') ??
        0,
      pooling: options.pooling === 'auto' ? detectPooling(directory, options.name) : options.pooling,
      prefixes: PREFIXES[options.prefix === 'auto' ? detectPrefix(options.name) : options.prefix],
      maxTokens: maxInputTokens(tokenizer, config),
    };
    const embedder = new TransformersEmbedder(options, tokenizer, model, settings);
    if (settings.dimension <= 0) {
      // config.json has no hidden size, so one forward pass measures it.
      const [probe] = await embedder.forward(['dimension probe'], 'document');
      embedder.hiddenSize = probe?.length ?? 0;
    }
    return embedder;
  }

  get dimension(): number {
    return this.hiddenSize;
  }

  protected async embedBatch(texts: readonly string[], kind: EmbeddingKind): Promise<Float32Array[]> {
    return this.forward(texts, kind);
  }

  override async close(): Promise<void> {
    await this.model?.dispose();
    this.model = undefined;
  }

  private async forward(texts: readonly string[], kind: EmbeddingKind): Promise<Float32Array[]> {
    const model = this.model;
    if (model === undefined)
      throw new DocentError(
        'INVALID_ARGUMENT',
        `The embedder ${this.id} was closed; create a new one with createEmbedder.`,
      );

    const prefix = kind === 'query' ? this.prefixes.query : this.prefixes.document;
    const inputs = this.tokenizer(
      texts.map((text) => prefix + text),
      { padding: true, truncation: true, max_length: this.maxTokens },
    );
    const outputs = (await model(inputs)) as Record<string, Tensor | undefined>;
    const hidden = outputs['last_hidden_state'] ?? outputs['token_embeddings'];
    if (hidden === undefined) {
      throw new DocentError(
        'INTERNAL',
        `Model ${this.id} has no last_hidden_state output; outputs are ${Object.keys(outputs).join(', ')}.`,
      );
    }
    return pool(hidden, inputs.attention_mask, this.pooling);
  }
}

/** Pools a [batch, sequence, hidden] tensor into one vector per row, skipping padding in mean pooling. */
function pool(hidden: Tensor, attentionMask: Tensor, pooling: Pooling): Float32Array[] {
  const [batchSize = 0, sequenceLength = 0, hiddenSize = 0] = hidden.dims;
  const data = hidden.data as Float32Array;
  const mask = attentionMask.data as BigInt64Array;
  const vectors: Float32Array[] = [];

  for (let row = 0; row < batchSize; row++) {
    const rowOffset = row * sequenceLength * hiddenSize;
    if (pooling === 'cls') {
      vectors.push(data.slice(rowOffset, rowOffset + hiddenSize));
      continue;
    }
    const vector = new Float32Array(hiddenSize);
    let count = 0;
    for (let position = 0; position < sequenceLength; position++) {
      if (Number(mask[row * sequenceLength + position] ?? 0n) === 0) continue;
      count++;
      const offset = rowOffset + position * hiddenSize;
      for (let k = 0; k < hiddenSize; k++) vector[k] = (vector[k] ?? 0) + (data[offset + k] ?? 0);
    }
    if (count > 0) for (let k = 0; k < hiddenSize; k++) vector[k] = (vector[k] ?? 0) / count;
    vectors.push(vector);
  }
  return vectors;
}

/**
 * Reads the sentence-transformers pooling config (`1_Pooling/config.json`) when the directory has
 * one; otherwise bge models pool the CLS token and all others take the mean.
 */
function detectPooling(directory: string, name: string): Pooling {
  const poolingConfigPath = path.join(directory, '1_Pooling', 'config.json');
  if (existsSync(poolingConfigPath)) {
    const poolingConfig = readJson(poolingConfigPath);
    if (poolingConfig['pooling_mode_cls_token'] === true) return 'cls';
    if (poolingConfig['pooling_mode_mean_tokens'] === true) return 'mean';
  }
  return /bge/i.test(name) ? 'cls' : 'mean';
}

function detectPrefix(name: string): keyof typeof PREFIXES {
  if (/(^|[/_-])e5([_-]|$)/i.test(name)) return 'e5';
  // The English bge v1.5 models expect the instruction on queries; bge-m3 expects none.
  if (/bge-(small|base|large)-en/i.test(name)) return 'bge';
  return 'none';
}

function maxInputTokens(tokenizer: PreTrainedTokenizer, config: Record<string, unknown>): number {
  const limits = [tokenizer.model_max_length as unknown, config['max_position_embeddings']].filter(
    (value): value is number =>
      typeof value === 'number' && Number.isFinite(value) && value > 0 && value < 1_000_000,
  );
  return limits.length > 0 ? Math.min(...limits) : DEFAULT_MAX_TOKENS;
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

function numberField(object: Record<string, unknown>, key: string): number | undefined {
  const value = object[key];
  return typeof value === 'number' ? value : undefined;
}
