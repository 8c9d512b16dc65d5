import path from 'node:path';
import { z } from 'zod';
import { DocentError } from './errors.ts';

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const fraction = z.coerce.number().min(0).max(1);

/**
 * Every setting Docent reads from the environment, with its default. This schema is the only
 * place defaults live; code receives the parsed, frozen `Config`.
 */
const configSchema = z
  .object({
    DOCENT_DATA_DIR: z.string().min(1).default('./data'),
    DOCENT_MODELS_DIR: z.string().min(1).default('./models'),
    DOCENT_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** `auto` writes readable log lines to a terminal and JSON lines otherwise. */
    DOCENT_LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),

    /** Chunk size and overlap are counted in tokens of `ingest/chunk/tokens.ts`, not characters. */
    DOCENT_CHUNK_SIZE: integer(16, 8192).default(200),
    DOCENT_CHUNK_OVERLAP: integer(0, 4096).default(30),

    /** `use-lite-windowed` (offline default), `use-lite` (first 128 tokens only), `transformers:<model directory or org/name under DOCENT_MODELS_DIR>` or `hash:<dimension>` (tests). */
    DOCENT_EMBEDDER: z.string().min(1).default('use-lite-windowed'),
    DOCENT_EMBED_BATCH_SIZE: integer(1, 1024).default(32),
    /** Pooling of `transformers:` embedders; `auto` reads the model's 1_Pooling/config.json, else CLS for bge and mean otherwise. */
    DOCENT_EMBED_POOLING: z.enum(['auto', 'mean', 'cls']).default('auto'),
    /** Query and passage prefixes of `transformers:` embedders; `auto` picks e5 or bge prefixes from the model name. */
    DOCENT_EMBED_PREFIX: z.enum(['auto', 'none', 'e5', 'bge']).default('auto'),
    /** Worker threads that run `use-lite` and `use-lite-windowed`, each with its own model copy; 1 runs it on the calling thread. */
    DOCENT_EMBED_THREADS: integer(1, 64).default(1),

    /**
     * Weighted fusion with a small dense weight is the default because the offline embedder
     * (use-lite-windowed) is much weaker than BM25 on technical text: on SciFact, RRF with equal
     * weight scored nDCG@10 0.51 against 0.69 for BM25 alone (docs/benchmarks.md).
     */
    DOCENT_FUSION: z.enum(['rrf', 'weighted']).default('weighted'),
    DOCENT_RRF_K: integer(1, 10_000).default(60),
    /** Weight of the dense side in weighted fusion; the sparse side gets 1 - alpha. */
    DOCENT_FUSION_ALPHA: fraction.default(0.2),
    DOCENT_FUSION_NORMALIZATION: z.enum(['minmax', 'zscore']).default('minmax'),
    /** Candidates taken from each retriever before fusion, as a multiple of topK. */
    DOCENT_CANDIDATE_MULTIPLIER: integer(1, 100).default(4),

    DOCENT_HNSW_M: integer(2, 128).default(16),
    DOCENT_HNSW_EF_CONSTRUCTION: integer(10, 2000).default(200),
    DOCENT_HNSW_EF_SEARCH: integer(10, 5000).default(100),

    /** `auto` uses an installed generative model when one is configured, else the extractive answerer. */
    DOCENT_GENERATOR: z.string().min(1).default('auto'),
    /** Weight file variant of the generative model: `q4` reads `onnx/model_q4.onnx`, `q8` reads `onnx/model_quantized.onnx`. */
    DOCENT_GENERATION_DTYPE: z
      .enum(['q4', 'q8', 'int8', 'uint8', 'bnb4', 'q4f16', 'fp16', 'fp32'])
      .default('q4'),
    DOCENT_GENERATION_MAX_NEW_TOKENS: integer(1, 8192).default(256),
    /** Token budget for prompt plus answer; capped by the model's max_position_embeddings. */
    DOCENT_GENERATION_CONTEXT_TOKENS: integer(256, 131_072).default(4096),
    /** Memory bound of the cross-request prefix KV cache, in MiB; 0 disables it. */
    DOCENT_PREFIX_CACHE_MB: integer(0, 65_536).default(512),
    /** Maximum draft tokens per prompt-lookup step; 0 turns prompt-lookup decoding off. */
    DOCENT_PROMPT_LOOKUP_TOKENS: integer(0, 64).default(10),
    /** Longest output n-gram searched for in the prompt when drafting. */
    DOCENT_PROMPT_LOOKUP_NGRAM: integer(1, 16).default(3),
    /** Requests waiting for the model beyond this many are rejected with BUSY. */
    DOCENT_GENERATION_QUEUE_SIZE: integer(0, 10_000).default(16),
    DOCENT_GENERATION_TIMEOUT_MS: integer(100, 3_600_000).default(120_000),
    /** onnxruntime intra-op threads; 0 lets onnxruntime choose. */
    DOCENT_GENERATION_THREADS: integer(0, 256).default(0),

    DOCENT_HOST: z.string().min(1).default('127.0.0.1'),
    DOCENT_PORT: integer(0, 65_535).default(8080),
    DOCENT_MAX_UPLOAD_BYTES: integer(1, 4 * 1024 ** 3).default(50 * 1024 * 1024),
    /** Largest JSON request body the API accepts, in bytes. */
    DOCENT_MAX_JSON_BYTES: integer(1024, 64 * 1024 ** 2).default(1024 * 1024),
    /** Requests per minute allowed for each API key; 0 turns rate limiting off. */
    DOCENT_RATE_LIMIT_PER_MINUTE: integer(0, 10_000_000).default(600),
    REDIS_URL: z.string().url().optional(),

    /** Prefix of every Redis key of the job queues, so several deployments can share one Redis. */
    DOCENT_QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/)
      .default('docent'),
    /** Runs of a job, the first included, before a transient error fails it. */
    DOCENT_QUEUE_ATTEMPTS: integer(1, 100).default(3),
    /** `ingest` jobs (parse, chunk, embed) that one server or worker process runs at once. */
    DOCENT_WORKER_CONCURRENCY: integer(1, 64).default(1),
    /** Delay before the first retry; each later retry waits twice as long as the previous one. */
    DOCENT_QUEUE_BACKOFF_MS: integer(0, 3_600_000).default(2000),
    /**
     * Lock period of running Redis jobs, in ms. A worker renews its lock every half period. The
     * stalled-job check runs once per period, so a killed worker's job runs again on another worker
     * one to three periods later. A worker whose event loop blocks for longer loses its running job.
     */
    DOCENT_QUEUE_LOCK_MS: z.coerce
      .number({ error: 'must be a whole number of milliseconds, e.g. 30000 (the default)' })
      .int({ error: 'must be a whole number of milliseconds, e.g. 30000 (the default)' })
      .min(1000, {
        error:
          'must be at least 1000 ms, because a shorter lock can expire between two renewals by a busy worker; set 1000 or more, e.g. 30000 (the default)',
      })
      .max(3_600_000, {
        error:
          "must be at most 3600000 ms (one hour), because a killed worker's job stays locked that long; set 3600000 or less, e.g. 30000 (the default)",
      })
      .default(30_000),
    /** How long shutdown waits for running jobs before handing them back to the queue for a later retry. */
    DOCENT_QUEUE_SHUTDOWN_TIMEOUT_MS: integer(0, 3_600_000).default(30_000),
    /** Lifetime of uploaded bytes and large job results stored in Redis for remote workers. */
    DOCENT_BLOB_TTL_SECONDS: integer(60, 90 * 86_400).default(7 * 86_400),
    /** Largest blob the Redis blob store accepts (Redis strings stop at 512 MiB). */
    DOCENT_BLOB_MAX_BYTES: integer(1, 512 * 1024 ** 2).default(256 * 1024 ** 2),

    DOCENT_PARSE_TIMEOUT_MS: integer(100, 3_600_000).default(120_000),
    DOCENT_PARSE_MAX_MEMORY_MB: integer(64, 65_536).default(1024),
    /** PDFs with more pages are rejected with PARSE_LIMIT_EXCEEDED. */
    DOCENT_PARSE_MAX_PAGES: integer(1, 1_000_000).default(5000),
    /** Total uncompressed size allowed for the entries of a DOCX (ZIP) file, in MiB; guards against ZIP bombs. */
    DOCENT_PARSE_MAX_UNZIPPED_MB: integer(1, 65_536).default(512),
    /** tesseract language packs for OCR of scanned PDFs, joined by `+`, e.g. `eng+deu`. */
    DOCENT_OCR_LANGUAGES: z
      .string()
      .regex(/^[A-Za-z_]+(?:\+[A-Za-z_]+)*$/)
      .default('eng'),

    HF_ENDPOINT: z.string().url().default('https://huggingface.co'),
  })
  .superRefine((value, context) => {
    if (value.DOCENT_CHUNK_OVERLAP >= value.DOCENT_CHUNK_SIZE) {
      context.addIssue({
        code: 'custom',
        path: ['DOCENT_CHUNK_OVERLAP'],
        message: `DOCENT_CHUNK_OVERLAP (${value.DOCENT_CHUNK_OVERLAP}) must be smaller than DOCENT_CHUNK_SIZE (${value.DOCENT_CHUNK_SIZE})`,
      });
    }
  });

type RawConfig = z.infer<typeof configSchema>;

export interface Config {
  readonly dataDir: string;
  readonly modelsDir: string;
  readonly logLevel: RawConfig['DOCENT_LOG_LEVEL'];
  readonly logFormat: RawConfig['DOCENT_LOG_FORMAT'];
  readonly chunking: { readonly chunkSize: number; readonly chunkOverlap: number };
  readonly embedder: {
    readonly spec: string;
    readonly batchSize: number;
    readonly pooling: RawConfig['DOCENT_EMBED_POOLING'];
    readonly prefix: RawConfig['DOCENT_EMBED_PREFIX'];
    readonly threads: number;
  };
  readonly fusion: {
    readonly method: RawConfig['DOCENT_FUSION'];
    readonly rrfK: number;
    readonly alpha: number;
    readonly normalization: RawConfig['DOCENT_FUSION_NORMALIZATION'];
    readonly candidateMultiplier: number;
  };
  readonly hnsw: { readonly m: number; readonly efConstruction: number; readonly efSearch: number };
  readonly generator: string;
  readonly generation: {
    readonly dtype: RawConfig['DOCENT_GENERATION_DTYPE'];
    readonly maxNewTokens: number;
    readonly contextTokens: number;
    readonly prefixCacheBytes: number;
    readonly promptLookupTokens: number;
    readonly promptLookupNgram: number;
    readonly queueSize: number;
    readonly timeoutMs: number;
    readonly threads: number;
  };
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly maxUploadBytes: number;
    readonly maxJsonBytes: number;
    readonly rateLimitPerMinute: number;
  };
  readonly redisUrl: string | undefined;
  readonly queue: {
    readonly prefix: string;
    readonly attempts: number;
    readonly workerConcurrency: number;
    readonly backoffMs: number;
    readonly lockMs: number;
    readonly shutdownTimeoutMs: number;
    readonly blobTtlSeconds: number;
    readonly blobMaxBytes: number;
  };
  readonly parsing: {
    readonly timeoutMs: number;
    readonly maxMemoryMb: number;
    readonly maxPages: number;
    readonly maxUnzippedMb: number;
    readonly ocrLanguages: string;
  };
  readonly hfEndpoint: string;
}

/**
 * Parses the environment once into a frozen Config. Raises INVALID_ARGUMENT naming every
 * invalid variable and its value.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(
    Object.entries(env).filter(
      ([key, value]) =>
        (key.startsWith('DOCENT_') || key === 'REDIS_URL' || key === 'HF_ENDPOINT') && value !== '',
    ),
  );
  const parsed = configSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      const value = present[name];
      return `${name}${value === undefined ? '' : ` (${JSON.stringify(value)})`}: ${issue.message}`;
    });
    throw new DocentError('INVALID_ARGUMENT', `Invalid configuration. ${problems.join('; ')}`);
  }
  const raw = parsed.data;

  return deepFreeze({
    dataDir: path.resolve(raw.DOCENT_DATA_DIR),
    modelsDir: path.resolve(raw.DOCENT_MODELS_DIR),
    logLevel: raw.DOCENT_LOG_LEVEL,
    logFormat: raw.DOCENT_LOG_FORMAT,
    chunking: { chunkSize: raw.DOCENT_CHUNK_SIZE, chunkOverlap: raw.DOCENT_CHUNK_OVERLAP },
    embedder: {
      spec: raw.DOCENT_EMBEDDER,
      batchSize: raw.DOCENT_EMBED_BATCH_SIZE,
      pooling: raw.DOCENT_EMBED_POOLING,
      prefix: raw.DOCENT_EMBED_PREFIX,
      threads: raw.DOCENT_EMBED_THREADS,
    },
    fusion: {
      method: raw.DOCENT_FUSION,
      rrfK: raw.DOCENT_RRF_K,
      alpha: raw.DOCENT_FUSION_ALPHA,
      normalization: raw.DOCENT_FUSION_NORMALIZATION,
      candidateMultiplier: raw.DOCENT_CANDIDATE_MULTIPLIER,
    },
    hnsw: {
      m: raw.DOCENT_HNSW_M,
      efConstruction: raw.DOCENT_HNSW_EF_CONSTRUCTION,
      efSearch: raw.DOCENT_HNSW_EF_SEARCH,
    },
    generator: raw.DOCENT_GENERATOR,
    generation: {
      dtype: raw.DOCENT_GENERATION_DTYPE,
      maxNewTokens: raw.DOCENT_GENERATION_MAX_NEW_TOKENS,
      contextTokens: raw.DOCENT_GENERATION_CONTEXT_TOKENS,
      prefixCacheBytes: raw.DOCENT_PREFIX_CACHE_MB * 1024 * 1024,
      promptLookupTokens: raw.DOCENT_PROMPT_LOOKUP_TOKENS,
      promptLookupNgram: raw.DOCENT_PROMPT_LOOKUP_NGRAM,
      queueSize: raw.DOCENT_GENERATION_QUEUE_SIZE,
      timeoutMs: raw.DOCENT_GENERATION_TIMEOUT_MS,
      threads: raw.DOCENT_GENERATION_THREADS,
    },
    server: {
      host: raw.DOCENT_HOST,
      port: raw.DOCENT_PORT,
      maxUploadBytes: raw.DOCENT_MAX_UPLOAD_BYTES,
      maxJsonBytes: raw.DOCENT_MAX_JSON_BYTES,
      rateLimitPerMinute: raw.DOCENT_RATE_LIMIT_PER_MINUTE,
    },
    redisUrl: raw.REDIS_URL,
    queue: {
      prefix: raw.DOCENT_QUEUE_PREFIX,
      attempts: raw.DOCENT_QUEUE_ATTEMPTS,
      workerConcurrency: raw.DOCENT_WORKER_CONCURRENCY,
      backoffMs: raw.DOCENT_QUEUE_BACKOFF_MS,
      lockMs: raw.DOCENT_QUEUE_LOCK_MS,
      shutdownTimeoutMs: raw.DOCENT_QUEUE_SHUTDOWN_TIMEOUT_MS,
      blobTtlSeconds: raw.DOCENT_BLOB_TTL_SECONDS,
      blobMaxBytes: raw.DOCENT_BLOB_MAX_BYTES,
    },
    parsing: {
      timeoutMs: raw.DOCENT_PARSE_TIMEOUT_MS,
      maxMemoryMb: raw.DOCENT_PARSE_MAX_MEMORY_MB,
      maxPages: raw.DOCENT_PARSE_MAX_PAGES,
      maxUnzippedMb: raw.DOCENT_PARSE_MAX_UNZIPPED_MB,
      ocrLanguages: raw.DOCENT_OCR_LANGUAGES,
    },
    hfEndpoint: raw.HF_ENDPOINT,
  });
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === 'object') deepFreeze(child as object);
  }
  return Object.freeze(value);
}
