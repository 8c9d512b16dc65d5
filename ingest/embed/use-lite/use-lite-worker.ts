import { parentPort, workerData } from 'node:worker_threads';
import { toDocentError } from '../../../core/errors.ts';
import { UseLiteEmbedder } from './use-lite-embedder.ts';

export interface UseLiteWorkerData {
  readonly batchSize: number;
  readonly windowed: boolean;
}

export interface UseLiteWorkerRequest {
  readonly id: number;
  readonly texts: readonly string[];
}

/** The first message of a worker is `ready` or `failed`; each request gets one `vectors` or `error`. */
export type UseLiteWorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'failed'; readonly code: string; readonly message: string }
  | { readonly type: 'vectors'; readonly id: number; readonly data: Float32Array }
  | { readonly type: 'error'; readonly id: number; readonly code: string; readonly message: string };

const port = parentPort;
if (port === null) throw new Error('use-lite-worker.ts must run in a worker thread.');
const { batchSize, windowed } = workerData as UseLiteWorkerData;

try {
  const embedder = await UseLiteEmbedder.load({ batchSize, windowed });
  port.on('message', (request: UseLiteWorkerRequest) => {
    embedder.embed(request.texts, 'document').then(
      (vectors) => {
        // One flat buffer, transferred instead of copied.
        const data = new Float32Array(vectors.length * embedder.dimension);
        vectors.forEach((vector, i) => {
          data.set(vector, i * embedder.dimension);
        });
        const message: UseLiteWorkerMessage = { type: 'vectors', id: request.id, data };
        port.postMessage(message, [data.buffer]);
      },
      (error: unknown) => {
        const { code, message } = toDocentError(error);
        port.postMessage({ type: 'error', id: request.id, code, message } satisfies UseLiteWorkerMessage);
      },
    );
  });
  port.postMessage({ type: 'ready' } satisfies UseLiteWorkerMessage);
} catch (error) {
  const { code, message } = toDocentError(error);
  port.postMessage({ type: 'failed', code, message } satisfies UseLiteWorkerMessage);
}
