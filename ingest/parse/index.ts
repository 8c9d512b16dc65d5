import { Worker } from 'node:worker_threads';
import { loadConfig } from '../../core/config.ts';
import { DocentError, type ErrorCode } from '../../core/errors.ts';
import { assertNotBlank } from './blank.ts';
import type { ContentLimits } from './parse-bytes.ts';
import type { WorkerRequest, WorkerResponse } from './parse-worker.ts';
import type { ParsedDocument, ParseInput } from './types.ts';

export type { Block, BlockKind, PageSpan, ParsedDocument, ParseInput } from './types.ts';

/**
 * Limits for one parse: `Config['parsing']` fits. Fields left out take their value from the
 * configuration (`loadConfig().parsing`).
 */
export interface ParseLimits {
  /** Wall-clock time for the whole parse, in milliseconds, including the worker's start-up. */
  readonly timeoutMs: number;
  /** Maximum V8 heap of the parsing worker, in MiB. */
  readonly maxMemoryMb: number;
  readonly maxPages?: number;
  readonly maxUnzippedMb?: number;
  readonly ocrLanguages?: string;
}

/**
 * Parses one uploaded file into text, page spans and blocks. The format is detected from the
 * content (the file name and declared type are hints). Parsing runs in a worker thread with a heap
 * limit and a timeout, so a parser that throws, hangs or exhausts memory fails this document only.
 *
 * Raises DocentError with EMPTY_DOCUMENT (checked first), UNSUPPORTED_MEDIA_TYPE,
 * ENCRYPTED_DOCUMENT, NEEDS_OCR, UNDECODABLE_TEXT, PARSE_FAILED or PARSE_LIMIT_EXCEEDED.
 */
export async function parseDocument(input: ParseInput, limits: ParseLimits): Promise<ParsedDocument> {
  assertNotBlank(input.bytes, input.filename);

  const request: WorkerRequest = {
    input: {
      bytes: input.bytes,
      filename: input.filename,
      ...(input.declaredType === undefined ? {} : { declaredType: input.declaredType }),
    },
    limits: contentLimits(limits),
  };
  return runWorker(request, limits);
}

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

function runWorker(request: WorkerRequest, limits: ParseLimits): Promise<ParsedDocument> {
  const { filename } = request.input;
  return new Promise<ParsedDocument>((resolve, reject) => {
    const worker = new Worker(new URL('./parse-worker-entry.mjs', import.meta.url), {
      workerData: request,
      resourceLimits: {
        maxOldGenerationSizeMb: limits.maxMemoryMb,
        maxYoungGenerationSizeMb: Math.min(64, Math.max(8, Math.floor(limits.maxMemoryMb / 8))),
      },
    });

    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
      void worker.terminate();
    };
    const fail = (code: ErrorCode, message: string, cause?: unknown): void => {
      settle(() => reject(new DocentError(code, message, cause === undefined ? undefined : { cause })));
    };

    const timer = setTimeout(() => {
      fail(
        'PARSE_LIMIT_EXCEEDED',
        `Parsing "${filename}" took longer than ${limits.timeoutMs} ms and was stopped. Split the file or raise DOCENT_PARSE_TIMEOUT_MS.`,
      );
    }, limits.timeoutMs);

    worker.once('message', (response: WorkerResponse) => {
      if (response.ok) settle(() => resolve(response.document));
      else
        settle(() =>
          reject(
            new DocentError(
              response.code as ErrorCode,
              response.message,
              response.details === undefined ? undefined : { details: response.details },
            ),
          ),
        );
    });
    worker.once('error', (error: Error & { code?: string }) => {
      if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        fail(
          'PARSE_LIMIT_EXCEEDED',
          `Parsing "${filename}" needed more than ${limits.maxMemoryMb} MiB of memory and was stopped. Split the file or raise DOCENT_PARSE_MAX_MEMORY_MB.`,
          error,
        );
      } else {
        fail('PARSE_FAILED', `Parsing "${filename}" failed: ${error.message}`, error);
      }
    });
    worker.once('exit', (exitCode) => {
      fail('PARSE_FAILED', `The parser for "${filename}" stopped (exit code ${exitCode}) without a result.`);
    });
  });
}
