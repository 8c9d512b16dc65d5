import type { PreparedDocument } from '../index/store.ts';

interface EncodedPrepared extends Omit<PreparedDocument, 'embeddings'> {
  readonly embeddings: string;
}

/**
 * Encodes a prepared document as JSON, its embeddings as base64 of their float32 bytes, to pass
 * it between processes and threads.
 */
export function encodePrepared(prepared: PreparedDocument): Uint8Array {
  const packed = new Float32Array(prepared.embeddings.length * prepared.dimension);
  prepared.embeddings.forEach((vector, index) => packed.set(vector, index * prepared.dimension));
  const encoded: EncodedPrepared = {
    ...prepared,
    embeddings: Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength).toString('base64'),
  };
  return Buffer.from(JSON.stringify(encoded));
}

export function decodePrepared(bytes: Uint8Array): PreparedDocument {
  const encoded = JSON.parse(Buffer.from(bytes).toString('utf8')) as EncodedPrepared;
  const raw = Buffer.from(encoded.embeddings, 'base64');
  // Copy into a fresh buffer: the base64 decode may not be 4-byte aligned.
  const packed = new Float32Array(new Uint8Array(raw).buffer);
  const embeddings: Float32Array[] = [];
  for (let index = 0; index < encoded.chunks.length; index++) {
    embeddings.push(packed.slice(index * encoded.dimension, (index + 1) * encoded.dimension));
  }
  return { ...encoded, embeddings };
}
