import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../core/config.ts';
import { errorCodeOf, errorMessageOf } from './queue/job-queue.ts';
import type { Embedder } from '../ingest/embed/embedder.ts';
import { createConfiguredEmbedder } from '../ingest/embed/index.ts';
import { prepareDocument } from '../ingest/pipeline.ts';
import { encodePrepared } from './prepared-codec.ts';
import type { PrepareThreadRequest, PrepareThreadResponse } from './prepare-thread.ts';

// Runs inside a worker thread: parses, chunks and embeds one document at a time, so that the
// embedder's synchronous compute does not block the event loop of the server or worker.

const config = (workerData as { config: Config }).config;
const port = parentPort;
if (port === null) throw new Error('prepare-thread-worker must run in a worker thread');

const embedders = new Map<string, Promise<Embedder>>();
const controllers = new Map<number, AbortController>();

function load(spec: string): Promise<Embedder> {
  let embedder = embedders.get(spec);
  if (embedder === undefined) {
    embedder = createConfiguredEmbedder(spec, config);
    embedder.catch(() => embedders.delete(spec));
    embedders.set(spec, embedder);
  }
  return embedder;
}

/** Returns the configured embedder when its id matches (ids need not be valid specs), else the id as a spec. */
async function embedderFor(id: string | undefined): Promise<Embedder> {
  const configured = await load(config.embedder.spec);
  if (id === undefined || id === configured.id) return configured;
  return load(id);
}

function send(response: PrepareThreadResponse, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(response, transfer);
}

async function prepare(request: Extract<PrepareThreadRequest, { type: 'prepare' }>): Promise<void> {
  const controller = new AbortController();
  controllers.set(request.id, controller);
  try {
    const embedder = await embedderFor(request.embedder);
    const prepared = await prepareDocument(
      {
        bytes: request.bytes,
        filename: request.filename,
        ...(request.declaredType === undefined ? {} : { declaredType: request.declaredType }),
      },
      {
        embedder,
        chunking: config.chunking,
        parseLimits: config.parsing,
        signal: controller.signal,
        onProgress: (progress) => {
          if (progress.stage === 'embed') {
            send({ type: 'progress', id: request.id, done: progress.done, total: progress.total });
          }
        },
      },
    );
    const encoded = encodePrepared(prepared);
    const buffer = encoded.buffer.slice(
      encoded.byteOffset,
      encoded.byteOffset + encoded.byteLength,
    ) as ArrayBuffer;
    send({ type: 'done', id: request.id, encoded: buffer, chunks: prepared.chunks.length }, [buffer]);
  } catch (error) {
    send({ type: 'error', id: request.id, code: errorCodeOf(error), message: errorMessageOf(error) });
  } finally {
    controllers.delete(request.id);
  }
}

port.on('message', (request: PrepareThreadRequest) => {
  if (request.type === 'cancel') {
    controllers.get(request.id)?.abort(new Error('cancelled'));
    return;
  }
  void prepare(request);
});
