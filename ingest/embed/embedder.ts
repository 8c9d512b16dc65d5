/** Whether a text is a search query or a stored passage; some models embed the two differently. */
export type EmbeddingKind = 'query' | 'document';

/**
 * Turns texts into unit-length vectors. Implementations batch internally and return one
 * vector per input text, in order.
 */
export interface Embedder {
  /** Stable id stored with every embedding, e.g. `use-lite` or `transformers:Xenova/bge-small-en-v1.5`. */
  readonly id: string;
  readonly dimension: number;
  embed(texts: readonly string[], kind: EmbeddingKind): Promise<Float32Array[]>;
  close(): Promise<void>;
}
