import { parentPort, workerData } from 'node:worker_threads';
import { toDocentError } from '../../core/errors.ts';
import { parseBytes, type ContentLimits } from './parse-bytes.ts';
import type { ParseInput } from './types.ts';

export interface WorkerRequest {
  readonly input: ParseInput;
  readonly limits: ContentLimits;
}

export type WorkerResponse =
  | { readonly ok: true; readonly document: import('./types.ts').ParsedDocument }
  | {
      readonly ok: false;
      readonly code: string;
      readonly message: string;
      readonly details?: Record<string, unknown>;
    };

const request = workerData as WorkerRequest;

try {
  const document = await parseBytes(request.input, request.limits);
  parentPort?.postMessage({ ok: true, document } satisfies WorkerResponse);
} catch (error) {
  const failure = toDocentError(error, 'PARSE_FAILED');
  const response: WorkerResponse = {
    ok: false,
    code: failure.code,
    message: failure.message,
    ...(failure.details === undefined ? {} : { details: failure.details }),
  };
  parentPort?.postMessage(response);
}
