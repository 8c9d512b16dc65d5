import { loadConfig } from '../../core/config.ts';
import { assertNotBlank } from './blank.ts';
import type { ContentLimits } from './parse-bytes.ts';
import type { ParsedDocument, ParseInput } from './types.ts';
import { ParseWorkerPool } from './worker-pool.ts';

export type { Block, BlockKind, PageSpan, ParsedDocument, ParseInput } from './types.ts';

/**
 * Limits for one parse: `Config['parsing']` fits. Fields left out take their value from the
 * configuration (`loadConfig().parsing`).
 */
export interface ParseLimits {
  /**
   * Wall-clock time for the parse, in milliseconds, counted from when a worker takes the document
   * (waiting for a free worker excluded, a new worker's start-up included).
   */
  readonly timeoutMs: number;
  /** Maximum V8 heap of the parsing worker, in MiB. */
  readonly maxMemoryMb: number;
  readonly maxPages?: number;
  readonly maxUnzippedMb?: number;
  readonly ocrLanguages?: string;
}

/**
 * Parses one uploaded file into text, page spans and blocks. The format is detected from the
 * content (the file name and declared type are hints). Parsing runs in a pooled worker thread with
 * a heap limit and a timeout, so a parser that throws, hangs or exhausts memory fails this document
 * only.
 *
 * Raises DocentError with EMPTY_DOCUMENT (checked first), UNSUPPORTED_MEDIA_TYPE,
 * ENCRYPTED_DOCUMENT, NEEDS_OCR, UNDECODABLE_TEXT, PARSE_FAILED or PARSE_LIMIT_EXCEEDED.
 */
export async function parseDocument(input: ParseInput, limits: ParseLimits): Promise<ParsedDocument> {
  assertNotBlank(input.bytes, input.filename);

  const plainInput: ParseInput = {
    bytes: input.bytes,
    filename: input.filename,
    ...(input.declaredType === undefined ? {} : { declaredType: input.declaredType }),
  };

  let pool = pools.get(limits.maxMemoryMb);
  if (pool === undefined) {
    pool = new ParseWorkerPool(limits.maxMemoryMb);
    pools.set(limits.maxMemoryMb, pool);
  }
  return await pool.parse(plainInput, contentLimits(limits), limits.timeoutMs);
}

/** Stops the idle parsing workers, e.g. after a test file. Idle workers do not keep the process alive anyway. */
export async function closeParseWorkers(): Promise<void> {
  const closing = [...pools.values()].map((pool) => pool.close());
  pools.clear();
  await Promise.all(closing);
}

/** One pool per heap limit, because a worker's heap limit is fixed when it starts. */
const pools = new Map<number, ParseWorkerPool>();

function contentLimits(limits: ParseLimits): ContentLimits {
  if (
    limits.maxPages !== undefined &&
    limits.maxUnzippedMb !== undefined &&
    limits.ocrLanguages !== undefined
  ) {
    return {
      maxPages: limits.maxPages,
      maxUnzippedMb: limits.maxUnzippedMb,
      ocrLanguages: limits.ocrLanguages,
    };
  }
  const configured = loadConfig().parsing;
  return {
    maxPages: limits.maxPages ?? configured.maxPages,
    maxUnzippedMb: limits.maxUnzippedMb ?? configured.maxUnzippedMb,
    ocrLanguages: limits.ocrLanguages ?? configured.ocrLanguages,
  };
}
