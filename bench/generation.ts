import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { CausalLm } from '../generation/llm/causal-lm.ts';
import { Decoder, type DecodeOptions, type DecodeStats } from '../generation/llm/decode.ts';
import { PrefixCache, commonPrefixLength } from '../generation/llm/prefix-cache.ts';
import { buildPrompt, SYSTEM_PROMPT, type PromptTokenizer } from '../generation/llm/prompt.ts';
import { argmax } from '../generation/llm/sampling.ts';
import type { ConversationTurn, SourceChunk } from '../generation/types.ts';
import { buildTinyCausalLm } from '../test/fixtures/tiny-causal-lm.ts';

export interface GenerationBenchOptions {
  /** SQuAD-format file whose paragraphs become sources; defaults to ../shared/data/xquad/xquad.en.json. */
  readonly dataFile?: string;
  /** Number of questions for the prompt-lookup comparison. */
  readonly prompts?: number;
  /** Number of three-turn conversations for the prefix-cache measurement. */
  readonly conversations?: number;
  readonly maxNewTokens?: number;
  readonly draftTokens?: number;
  readonly ngram?: number;
  /** Receives the printed table; defaults to console.log. */
  readonly print?: (line: string) => void;
}

export interface GenerationBenchReport {
  readonly machine: string;
  readonly model: string;
  readonly promptLookup: {
    readonly prompts: number;
    readonly generatedTokens: number;
    readonly plainPassesPerToken: number;
    readonly lookupPassesPerToken: number;
    /** plain passes / lookup passes; the goal is at least 1.5. */
    readonly passReduction: number;
    readonly acceptanceRate: number;
    readonly identicalOutputs: boolean;
    readonly plainTokensPerSecond: number;
    readonly lookupTokensPerSecond: number;
  };
  readonly prefixCache: {
    readonly conversations: number;
    /** Prompt tokens of turns 2 and 3 that also began an earlier sequence of the conversation. */
    readonly repeatedPrefixTokens: number;
    readonly savedPrefillTokens: number;
    /** saved / repeated; the goal is at least 0.8. */
    readonly savedShare: number;
    readonly promptTokens: number;
    readonly prefillTokens: number;
  };
  readonly loopOverhead: {
    readonly tokens: number;
    readonly directMsPerToken: number;
    readonly decoderMsPerToken: number;
    /** decoder / direct - 1. */
    readonly overhead: number;
  };
  readonly batching: {
    readonly contextTokens: number;
    readonly sequentialMsPerStep: number;
    readonly batchedMsPerStep: number;
    /** sequential / batched time for two decode steps. */
    readonly speedup: number;
  };
}

interface Case {
  readonly question: string;
  readonly sources: SourceChunk[];
}

const DEFAULT_DATA = path.resolve('../shared/data/xquad/xquad.en.json');

/**
 * Measures the decode loop on the tiny copy fixture with RAG prompts built from a SQuAD-format
 * file, each with the question's own paragraph first and two other paragraphs after it.
 * Reports forward passes per token with and without prompt lookup, prefill saved by the prefix
 * cache over three-turn conversations, the loop's overhead against calling onnxruntime directly,
 * and whether a batch of two decode steps beats two single steps. The fixture copies its first
 * source, so its pass reduction is an upper bound for real models, which copy less.
 */
export async function runGenerationBench(
  options: GenerationBenchOptions = {},
): Promise<GenerationBenchReport> {
  const print = options.print ?? ((line: string) => console.log(line));
  const dataFile = options.dataFile ?? DEFAULT_DATA;
  if (!existsSync(dataFile))
    throw new Error(`${dataFile} is missing; pass dataFile or provide ../shared/data.`);
  const maxNewTokens = options.maxNewTokens ?? 256;
  const lookup = { maxDraftTokens: options.draftTokens ?? 10, maxNgram: options.ngram ?? 3 };
  const cases = loadCases(dataFile);

  const directory = await mkdtemp(path.join(os.tmpdir(), 'docent-bench-generation-'));
  try {
    const corpus = [
      SYSTEM_PROMPT,
      ...cases.flatMap((item) => [
        item.question,
        ...(item.sources[0] === undefined ? [] : [item.sources[0].text]),
      ]),
    ];
    const fixture = await buildTinyCausalLm({
      modelsDir: directory,
      id: 'bench/copy',
      corpus,
      behaviour: { kind: 'copy' },
      variants: ['q4'],
    });
    const model = await CausalLm.load(fixture.directory, { dtype: 'q4' });
    const tokenizer: PromptTokenizer = model;
    const budget = { contextTokens: 4096, answerTokens: maxNewTokens };

    const promptLookup = await measurePromptLookup(
      model,
      tokenizer,
      cases.slice(0, options.prompts ?? 40),
      budget,
      maxNewTokens,
      lookup,
    );
    const prefixCache = await measurePrefixCache(
      model,
      tokenizer,
      cases,
      options.conversations ?? 10,
      budget,
      maxNewTokens,
    );
    const firstPrompt = buildPrompt({ ...(cases[0] as Case), history: [] }, tokenizer, budget).tokens;
    const loopOverhead = await measureOverhead(
      model,
      path.join(fixture.directory, 'onnx', 'model_q4.onnx'),
      firstPrompt,
      maxNewTokens,
    );
    const batching = await measureBatching(
      path.join(fixture.directory, 'onnx', 'model_q4.onnx'),
      model,
      firstPrompt,
    );
    await model.close();

    const report: GenerationBenchReport = {
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node.js ${process.version}`,
      model: `tiny copy fixture (q4, vocabulary ${fixture.vocabSize})`,
      promptLookup,
      prefixCache,
      loopOverhead,
      batching,
    };
    printReport(report, print);
    return report;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

function loadCases(file: string): Case[] {
  const data = JSON.parse(readFileSync(file, 'utf8')) as {
    data: { title?: string; paragraphs: { context: string; qas: { question: string }[] }[] }[];
  };
  const paragraphs = data.data.flatMap((article) =>
    article.paragraphs.map((paragraph) => ({ ...paragraph, title: article.title ?? '' })),
  );
  const chunk = (n: number, index: number): SourceChunk => {
    const paragraph = paragraphs[index % paragraphs.length];
    const text = paragraph?.context ?? '';
    return {
      n,
      chunkId: index,
      documentId: paragraph?.title ?? String(index),
      source: `${paragraph?.title ?? 'xquad'}.txt`,
      page: null,
      start: 0,
      end: text.length,
      text,
      headingPath: [],
      score: 1 / n,
    };
  };
  return paragraphs.map((paragraph, index) => ({
    question: paragraph.qas[0]?.question ?? 'What is this about?',
    sources: [chunk(1, index), chunk(2, index + 11), chunk(3, index + 23)],
  }));
}

async function decode(
  model: CausalLm,
  prompt: number[],
  options: Partial<DecodeOptions>,
): Promise<{ tokens: number[]; stats: DecodeStats }> {
  const decoder = new Decoder(model, {
    maxNewTokens: 256,
    sampling: { temperature: 0, topP: 1, random: Math.random },
    ...options,
  });
  const tokens: number[] = [];
  for await (const group of decoder.run(prompt)) tokens.push(...group);
  return { tokens, stats: decoder.stats() };
}

async function measurePromptLookup(
  model: CausalLm,
  tokenizer: PromptTokenizer,
  cases: readonly Case[],
  budget: { contextTokens: number; answerTokens: number },
  maxNewTokens: number,
  lookup: { maxDraftTokens: number; maxNgram: number },
): Promise<GenerationBenchReport['promptLookup']> {
  let generated = 0;
  let plainPasses = 0;
  let lookupPasses = 0;
  let drafted = 0;
  let accepted = 0;
  let plainMs = 0;
  let lookupMs = 0;
  let identical = true;
  for (const item of cases) {
    const prompt = buildPrompt({ ...item, history: [] }, tokenizer, budget).tokens;
    const plain = await decode(model, prompt, { maxNewTokens });
    const drafted_ = await decode(model, prompt, { maxNewTokens, promptLookup: lookup });
    identical &&=
      plain.tokens.length === drafted_.tokens.length &&
      plain.tokens.every((token, i) => token === drafted_.tokens[i]);
    generated += plain.stats.generatedTokens;
    // Count decode passes only: both runs share the one prefill pass.
    plainPasses += plain.stats.forwardPasses - 1;
    lookupPasses += drafted_.stats.forwardPasses - 1;
    drafted += drafted_.stats.draftedTokens;
    accepted += drafted_.stats.acceptedDraftTokens;
    plainMs += plain.stats.durationMs - plain.stats.timeToFirstTokenMs;
    lookupMs += drafted_.stats.durationMs - drafted_.stats.timeToFirstTokenMs;
  }
  return {
    prompts: cases.length,
    generatedTokens: generated,
    plainPassesPerToken: plainPasses / generated,
    lookupPassesPerToken: lookupPasses / generated,
    passReduction: plainPasses / lookupPasses,
    acceptanceRate: drafted === 0 ? 0 : accepted / drafted,
    identicalOutputs: identical,
    plainTokensPerSecond: (generated / plainMs) * 1000,
    lookupTokensPerSecond: (generated / lookupMs) * 1000,
  };
}

async function measurePrefixCache(
  model: CausalLm,
  tokenizer: PromptTokenizer,
  cases: readonly Case[],
  conversations: number,
  budget: { contextTokens: number; answerTokens: number },
  maxNewTokens: number,
): Promise<GenerationBenchReport['prefixCache']> {
  let repeated = 0;
  let saved = 0;
  let promptTokens = 0;
  let prefillTokens = 0;
  for (let c = 0; c < conversations; c++) {
    // A fresh cache per conversation, so only the conversation's own earlier turns can hit.
    const cache = new PrefixCache(256 * 1024 * 1024);
    const history: ConversationTurn[] = [];
    const earlier: number[][] = [];
    for (let turn = 0; turn < 3; turn++) {
      const item = cases[(c * 3 + turn) % cases.length] as Case;
      const prompt = buildPrompt({ ...item, history }, tokenizer, budget).tokens;
      const result = await decode(model, prompt, { maxNewTokens, prefixCache: cache });
      if (turn > 0) {
        repeated += Math.max(...earlier.map((sequence) => commonPrefixLength(sequence, prompt)));
        saved += prompt.length - result.stats.prefillTokens;
        promptTokens += prompt.length;
        prefillTokens += result.stats.prefillTokens;
      }
      earlier.push([...prompt, ...result.tokens]);
      history.push(
        { role: 'user', content: item.question },
        { role: 'assistant', content: model.tokenizer.decode(result.tokens, { skip_special_tokens: true }) },
      );
    }
  }
  return {
    conversations,
    repeatedPrefixTokens: repeated,
    savedPrefillTokens: saved,
    savedShare: repeated === 0 ? 0 : saved / repeated,
    promptTokens,
    prefillTokens,
  };
}

/** Greedy decoding with onnxruntime alone: the lower bound the Decoder is compared with. */
async function directGreedy(
  session: InferenceSession,
  model: CausalLm,
  prompt: number[],
  maxNewTokens: number,
): Promise<{ tokens: number; ms: number }> {
  const { layers, kvHeads, headDim } = model.layout;
  const past: Record<string, Tensor> = {};
  for (let layer = 0; layer < layers; layer++) {
    past[`past_key_values.${layer}.key`] = new Tensor('float32', new Float32Array(0), [
      1,
      kvHeads,
      0,
      headDim,
    ]);
    past[`past_key_values.${layer}.value`] = new Tensor('float32', new Float32Array(0), [
      1,
      kvHeads,
      0,
      headDim,
    ]);
  }
  let input = prompt;
  let length = 0;
  let tokens = 0;
  let startedAt = 0;
  for (let step = 0; step <= maxNewTokens; step++) {
    const n = input.length;
    const outputs = await session.run({
      ...past,
      input_ids: new Tensor('int64', BigInt64Array.from(input, BigInt), [1, n]),
      attention_mask: new Tensor('int64', new BigInt64Array(length + n).fill(1n), [1, length + n]),
      position_ids: new Tensor(
        'int64',
        BigInt64Array.from({ length: n }, (_, i) => BigInt(length + i)),
        [1, n],
      ),
    });
    const logits = outputs['logits'] as Tensor;
    const vocab = logits.dims[2] ?? 0;
    const next = argmax((logits.data as Float32Array).subarray((n - 1) * vocab, n * vocab));
    for (let layer = 0; layer < layers; layer++) {
      past[`past_key_values.${layer}.key`] = outputs[`present.${layer}.key`] as Tensor;
      past[`past_key_values.${layer}.value`] = outputs[`present.${layer}.value`] as Tensor;
    }
    if (step === 0) startedAt = performance.now();
    length += n;
    if (model.eosTokenIds.has(next) || step === maxNewTokens) break;
    tokens++;
    input = [next];
  }
  return { tokens, ms: performance.now() - startedAt };
}

async function measureOverhead(
  model: CausalLm,
  modelFile: string,
  prompt: number[],
  maxNewTokens: number,
): Promise<GenerationBenchReport['loopOverhead']> {
  const session = await InferenceSession.create(modelFile, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
  });
  const directTimes: number[] = [];
  const decoderTimes: number[] = [];
  let tokens = 0;
  // Alternate which loop runs first and take medians, so noise on a shared machine hits both alike.
  for (let round = 0; round < 9; round++) {
    const runDirect = async () => {
      const direct = await directGreedy(session, model, prompt, maxNewTokens);
      directTimes.push(direct.ms / direct.tokens);
      tokens = direct.tokens;
    };
    const runDecoder = async () => {
      const ours = await decode(model, prompt, { maxNewTokens });
      decoderTimes.push((ours.stats.durationMs - ours.stats.timeToFirstTokenMs) / ours.stats.generatedTokens);
    };
    if (round % 2 === 0) {
      await runDirect();
      await runDecoder();
    } else {
      await runDecoder();
      await runDirect();
    }
  }
  await session.release();

  const directMsPerToken = median(directTimes);
  const decoderMsPerToken = median(decoderTimes);
  return { tokens, directMsPerToken, decoderMsPerToken, overhead: decoderMsPerToken / directMsPerToken - 1 };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Times one decode step for two sequences run one after the other against one batch of two. */
async function measureBatching(
  modelFile: string,
  model: CausalLm,
  prompt: number[],
): Promise<GenerationBenchReport['batching']> {
  const session = await InferenceSession.create(modelFile, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
  });
  const prefill = await model.forward(prompt, model.emptyCache());
  const cache = prefill.cache;
  const length = cache.length;
  const step = (batch: number) => {
    const feeds: Record<string, Tensor> = {
      input_ids: new Tensor('int64', new BigInt64Array(batch).fill(BigInt(prompt[prompt.length - 1] ?? 0)), [
        batch,
        1,
      ]),
      attention_mask: new Tensor('int64', new BigInt64Array(batch * (length + 1)).fill(1n), [
        batch,
        length + 1,
      ]),
      position_ids: new Tensor('int64', new BigInt64Array(batch).fill(BigInt(length)), [batch, 1]),
    };
    cache.tensors.forEach((tensor, index) => {
      const data = tensor.data as Float32Array;
      const repeated = new Float32Array(data.length * batch);
      for (let b = 0; b < batch; b++) repeated.set(data, b * data.length);
      const layer = Math.floor(index / 2);
      feeds[`past_key_values.${layer}.${index % 2 === 0 ? 'key' : 'value'}`] = new Tensor(
        'float32',
        repeated,
        [batch, ...tensor.dims.slice(1)],
      );
    });
    return feeds;
  };
  const single = step(1);
  const double = step(2);
  const sequential: number[] = [];
  const batched: number[] = [];
  const timeSequential = async () => {
    const start = performance.now();
    await session.run(single);
    await session.run(single);
    sequential.push(performance.now() - start);
  };
  const timeBatched = async () => {
    const start = performance.now();
    await session.run(double);
    batched.push(performance.now() - start);
  };
  for (let round = 0; round < 200; round++) {
    if (round % 2 === 0) {
      await timeSequential();
      await timeBatched();
    } else {
      await timeBatched();
      await timeSequential();
    }
  }
  await session.release();

  const sequentialMs = median(sequential);
  const batchedMs = median(batched);
  return {
    contextTokens: length,
    sequentialMsPerStep: sequentialMs,
    batchedMsPerStep: batchedMs,
    speedup: sequentialMs / batchedMs,
  };
}

function printReport(report: GenerationBenchReport, print: (line: string) => void): void {
  const f = (value: number, digits = 2) => value.toFixed(digits);
  const { promptLookup: lookup, prefixCache: prefix, loopOverhead: loop, batching } = report;
  print(`Machine: ${report.machine}; model: ${report.model}\n`);
  print('| measure | value |\n| --- | --- |');

  print(`| prompts (RAG, 3 sources each) | ${lookup.prompts} |`);
  print(`| generated tokens | ${lookup.generatedTokens} |`);
  print(`| forward passes per token, plain | ${f(lookup.plainPassesPerToken, 3)} |`);
  print(`| forward passes per token, prompt lookup | ${f(lookup.lookupPassesPerToken, 3)} |`);
  print(`| pass reduction (goal ≥ 1.5×) | ${f(lookup.passReduction)}× |`);
  print(`| draft acceptance rate | ${f(lookup.acceptanceRate * 100, 1)} % |`);
  print(`| outputs token-identical | ${lookup.identicalOutputs ? 'yes' : 'NO'} |`);
  print(
    `| decode tokens/s, plain / prompt lookup | ${f(lookup.plainTokensPerSecond, 0)} / ${f(lookup.lookupTokensPerSecond, 0)} |`,
  );

  print(
    `| prefix cache: repeated prefix tokens, turns 2-3 of ${prefix.conversations} conversations | ${prefix.repeatedPrefixTokens} |`,
  );
  print(
    `| prefix cache: prefill tokens saved (goal ≥ 80 %) | ${prefix.savedPrefillTokens} (${f(prefix.savedShare * 100, 1)} %) |`,
  );
  print(
    `| prefix cache: prefill / prompt tokens, turns 2-3 | ${prefix.prefillTokens} / ${prefix.promptTokens} |`,
  );

  print(
    `| loop ms/token, onnxruntime alone / Decoder | ${f(loop.directMsPerToken, 3)} / ${f(loop.decoderMsPerToken, 3)} |`,
  );
  print(`| loop overhead | ${f(loop.overhead * 100, 1)} % |`);

  print(
    `| two decode steps at ${batching.contextTokens} tokens, sequential / batch of 2 (ms) | ${f(batching.sequentialMsPerStep, 3)} / ${f(batching.batchedMsPerStep, 3)} (${f(batching.speedup)}×) |`,
  );
}

// `npx tsx bench/generation.ts` runs the benchmark on its own.
if (import.meta.url === pathToFileURL(path.resolve(process.argv[1] ?? '')).href) {
  await runGenerationBench();
}
