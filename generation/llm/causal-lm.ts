import { readFile, access } from 'node:fs/promises';
import path from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { AutoTokenizer, env, type PreTrainedTokenizer } from '@huggingface/transformers';
import { DocentError } from '../../core/errors.ts';
import { KvCache, type KvLayout } from './kv-cache.ts';
import type { ChatMessage, PromptTokenizer } from './prompt.ts';
import { dtypeFileSuffix, type GenerationDtype } from './dtypes.ts';

export { dtypeFileSuffix, type GenerationDtype } from './dtypes.ts';

export interface CausalLmOptions {
  readonly dtype: GenerationDtype;
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose. */
  readonly threads?: number;
}

/** Logits of the new positions of one forward pass, row by row. */
export interface Logits {
  readonly rows: number;
  readonly vocabSize: number;
  /** Float32 logits of row `index` (0 is the first new token). */
  row(index: number): Float32Array;
}

export interface ForwardResult {
  readonly logits: Logits;
  /** The input cache extended by the new tokens. */
  readonly cache: KvCache;
}

interface ModelConfigJson {
  num_hidden_layers?: number;
  num_attention_heads?: number;
  num_key_value_heads?: number;
  hidden_size?: number;
  head_dim?: number;
  vocab_size?: number;
  max_position_embeddings?: number;
  eos_token_id?: number | number[] | null;
  text_config?: ModelConfigJson;
}

/**
 * A decoder-only language model exported to ONNX, run through onnxruntime-node with the KV cache
 * under the caller's control. Expects the inputs `input_ids`, `attention_mask`, optional
 * `position_ids` and `past_key_values.N.key/value`, and the outputs `logits` and
 * `present.N.key/value`, as in Transformers.js-compatible exports. Batch size is 1.
 */
export class CausalLm implements PromptTokenizer {
  readonly tokenizer: PreTrainedTokenizer;
  readonly layout: KvLayout;
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly eosTokenIds: ReadonlySet<number>;
  /** Strings that tokenize to special tokens, from tokenizer.json `added_tokens`. */
  readonly specialTokens: readonly string[];
  readonly directory: string;
  private readonly session: InferenceSession;
  private readonly hasPositionIds: boolean;
  /** Name of the input that limits logits to the last positions, when the export has one. */
  private readonly logitsToKeepInput: string | undefined;
  /** Template from chat_template.jinja when tokenizer_config.json has none. */
  private readonly chatTemplate: string | undefined;

  private constructor(fields: {
    session: InferenceSession;
    tokenizer: PreTrainedTokenizer;
    layout: KvLayout;
    vocabSize: number;
    maxPositions: number;
    eosTokenIds: ReadonlySet<number>;
    specialTokens: readonly string[];
    directory: string;
    chatTemplate: string | undefined;
  }) {
    this.session = fields.session;
    this.tokenizer = fields.tokenizer;
    this.layout = fields.layout;
    this.vocabSize = fields.vocabSize;
    this.maxPositions = fields.maxPositions;
    this.eosTokenIds = fields.eosTokenIds;
    this.specialTokens = fields.specialTokens;
    this.directory = fields.directory;
    this.hasPositionIds = fields.session.inputNames.includes('position_ids');
    this.logitsToKeepInput = fields.session.inputNames.find(
      (name) => name === 'num_logits_to_keep' || name === 'logits_to_keep',
    );
    this.chatTemplate = fields.chatTemplate;
  }

  /**
   * Loads a model directory in the Transformers.js layout. Never touches the network. Raises
   * MODEL_NOT_FOUND when a file is missing and INVALID_ARGUMENT when the export lacks a KV cache.
   */
  static async load(directory: string, options: CausalLmOptions): Promise<CausalLm> {
    const modelFile = path.join(directory, 'onnx', `model${dtypeFileSuffix[options.dtype]}.onnx`);
    for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) {
      await assertReadable(path.join(directory, file), directory);
    }
    await assertReadable(
      modelFile,
      directory,
      `; set DOCENT_GENERATION_DTYPE to a variant present in ${path.join(directory, 'onnx')}`,
    );

    const config = JSON.parse(await readFile(path.join(directory, 'config.json'), 'utf8')) as ModelConfigJson;
    const textConfig = config.text_config ?? config;
    const generationConfig = await readJsonIfPresent(path.join(directory, 'generation_config.json'));

    env.allowRemoteModels = false;
    const tokenizer = await AutoTokenizer.from_pretrained(path.resolve(directory), {
      local_files_only: true,
    });
    const tokenizerConfig = JSON.parse(
      await readFile(path.join(directory, 'tokenizer_config.json'), 'utf8'),
    ) as { chat_template?: unknown };
    // Newer repositories keep the template in its own file, which the tokenizer loader does not read.
    const chatTemplate =
      tokenizerConfig.chat_template === undefined
        ? await readTextIfPresent(path.join(directory, 'chat_template.jinja'))
        : undefined;
    if (tokenizerConfig.chat_template === undefined && chatTemplate === undefined) {
      throw new DocentError(
        'INVALID_ARGUMENT',
        `${directory} has no chat template (tokenizer_config.json chat_template or chat_template.jinja); use an instruction-tuned model.`,
      );
    }

    const sessionOptions: InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
    };
    if (options.threads !== undefined && options.threads > 0)
      sessionOptions.intraOpNumThreads = options.threads;
    const session = await InferenceSession.create(modelFile, sessionOptions);

    const layout = kvLayout(session, textConfig, modelFile);
    const eosTokenIds = new Set<number>([
      ...idList(generationConfig?.['eos_token_id']),
      ...idList(textConfig.eos_token_id),
      ...idList(config.eos_token_id),
    ]);
    const vocabSize = textConfig.vocab_size ?? 0;
    const tokenizerJson = JSON.parse(await readFile(path.join(directory, 'tokenizer.json'), 'utf8')) as {
      added_tokens?: { content: string; special?: boolean }[];
    };
    const specialTokens = (tokenizerJson.added_tokens ?? [])
      .filter((token) => token.special === true)
      .map((token) => token.content);
    return new CausalLm({
      session,
      tokenizer,
      layout,
      vocabSize,
      maxPositions: textConfig.max_position_embeddings ?? 2048,
      eosTokenIds,
      specialTokens,
      directory,
      chatTemplate,
    });
  }

  /** Renders messages with the model's chat template and an assistant header, then tokenizes. */
  encodeChat(messages: readonly ChatMessage[]): number[] {
    let text: string;
    try {
      text = this.renderChat(messages);
    } catch (error) {
      throw new DocentError(
        'INTERNAL',
        `The chat template of ${this.directory} failed: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
        },
      );
    }
    // The template already wrote any BOS token, so the tokenizer must not add a second one.
    return this.tokenizer.encode(text, { add_special_tokens: false });
  }

  private renderChat(messages: readonly ChatMessage[]): string {
    return this.tokenizer.apply_chat_template(
      messages.map((message) => ({ role: message.role, content: message.content })),
      {
        tokenize: false,
        add_generation_prompt: true,
        ...(this.chatTemplate === undefined ? {} : { chat_template: this.chatTemplate }),
      },
    );
  }

  encodeText(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false });
  }

  emptyCache(): KvCache {
    return KvCache.empty(this.layout);
  }

  /**
   * Runs the model on `tokens` after the tokens held in `cache`. With `lastLogitsOnly`, exports
   * that have a `num_logits_to_keep` input return the last row only; others return every row.
   */
  async forward(
    tokens: readonly number[],
    cache: KvCache,
    options: { lastLogitsOnly?: boolean } = {},
  ): Promise<ForwardResult> {
    const count = tokens.length;
    const total = cache.length + count;
    const feeds: Record<string, Tensor> = {
      input_ids: new Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, count]),
      attention_mask: new Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
    };
    if (this.hasPositionIds) {
      const positions = new BigInt64Array(count);
      for (let i = 0; i < count; i++) positions[i] = BigInt(cache.length + i);
      feeds['position_ids'] = new Tensor('int64', positions, [1, count]);
    }
    if (this.logitsToKeepInput !== undefined) {
      feeds[this.logitsToKeepInput] = new Tensor(
        'int64',
        BigInt64Array.of(options.lastLogitsOnly === true ? 1n : BigInt(count)),
        [],
      );
    }
    for (let layer = 0; layer < this.layout.layers; layer++) {
      feeds[`past_key_values.${layer}.key`] = cache.tensors[layer * 2] as Tensor;
      feeds[`past_key_values.${layer}.value`] = cache.tensors[layer * 2 + 1] as Tensor;
    }

    // NOTE: every pass returns the whole KV cache as new `present` tensors that onnxruntime-node
    // copies into JavaScript memory, a cost that grows with context length. Not measured on a real model.
    const outputs = await this.session.run(feeds);

    const present: Tensor[] = [];
    for (let layer = 0; layer < this.layout.layers; layer++) {
      present.push(outputs[`present.${layer}.key`] as Tensor, outputs[`present.${layer}.value`] as Tensor);
    }
    const logitsTensor = outputs['logits'] as Tensor;
    return { logits: logitRows(logitsTensor, count), cache: KvCache.fromPresent(this.layout, present) };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

async function assertReadable(file: string, directory: string, hint = ''): Promise<void> {
  try {
    await access(file);
  } catch (error) {
    throw new DocentError(
      'MODEL_NOT_FOUND',
      `Model file ${file} is missing in ${directory}${hint}; run \`docent models pull\` to install the model.`,
      {
        cause: error,
      },
    );
  }
}

async function readTextIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function readJsonIfPresent(file: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function idList(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  if (Array.isArray(value)) return value.filter((item): item is number => typeof item === 'number');
  return [];
}

function kvLayout(session: InferenceSession, config: ModelConfigJson, modelFile: string): KvLayout {
  const pastNames = session.inputNames.filter((name) => /^past_key_values\.\d+\.key$/.test(name));
  if (
    pastNames.length === 0 ||
    !session.outputNames.includes('present.0.key') ||
    !session.outputNames.includes('logits')
  ) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      `${modelFile} has no past_key_values inputs, present outputs or logits; export the model with a KV cache (Transformers.js "text-generation-with-past").`,
    );
  }
  const metadata = session.inputMetadata.find((item) => item.name === 'past_key_values.0.key');
  const type = metadata?.isTensor === true && metadata.type === 'float16' ? 'float16' : 'float32';
  const heads = config.num_attention_heads ?? 1;
  const shape = metadata?.isTensor === true ? metadata.shape : [];
  const kvHeads = typeof shape[1] === 'number' ? shape[1] : (config.num_key_value_heads ?? heads);
  const headDim =
    typeof shape[3] === 'number'
      ? shape[3]
      : (config.head_dim ?? Math.floor((config.hidden_size ?? 0) / heads));
  if (headDim <= 0)
    throw new DocentError(
      'INVALID_ARGUMENT',
      `${modelFile}: cannot tell the KV head size; config.json needs head_dim or hidden_size.`,
    );
  return { layers: pastNames.length, kvHeads, headDim, type };
}

function logitRows(tensor: Tensor, rows: number): Logits {
  const dims = tensor.dims;
  const vocabSize = dims[dims.length - 1] ?? 0;
  const keptRows = dims.length === 3 ? (dims[1] ?? rows) : rows;
  const data = tensor.data as Float32Array | Uint16Array;
  return {
    rows: keptRows,
    vocabSize,
    row(index: number): Float32Array {
      const start = index * vocabSize;
      if (data instanceof Float32Array) return data.subarray(start, start + vocabSize);
      return float16ToFloat32(data.subarray(start, start + vocabSize));
    },
  };
}

function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i] ?? 0;
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) out[i] = sign * 2 ** -14 * (fraction / 1024);
    else if (exponent === 31) out[i] = fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else out[i] = sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return out;
}
