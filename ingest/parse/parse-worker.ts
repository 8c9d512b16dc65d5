import { parentPort } from 'node:worker_threads';
import { toDocentError } from '../../core/errors.ts';
import { parseBytes, type ContentLimits } from './parse-bytes.ts';
import type { ParsedDocument, ParseInput } from './types.ts';

export interface WorkerRequest {
  readonly id: number;
  readonly input: ParseInput;
  readonly limits: ContentLimits;
}

export type WorkerResponse =
  | { readonly id: number; readonly ok: true; readonly document: ParsedDocument }
  | {
      readonly id: number;
      readonly ok: false;
      readonly code: string;
      readonly message: string;
      readonly details?: Record<string, unknown>;
    };

if (parentPort === null) throw new Error('parse-worker.ts must run in a worker thread');
const port = parentPort;

// One request at a time: the pool sends the next request only after this worker replied.
port.on('message', (request: WorkerRequest) => {
  void handle(request).then((response) => port.postMessage(response));
});

async function handle(request: WorkerRequest): Promise<WorkerResponse> {
  try {
    const document = await parseBytes(request.input, request.limits);
    return { id: request.id, ok: true, document };
  } catch (error) {
    const failure = toDocentError(error, 'PARSE_FAILED');
    return {
      id: request.id,
      ok: false,
      code: failure.code,
      message: failure.message,
      ...(failure.details === undefined ? {} : { details: failure.details }),
    };
  }
}
