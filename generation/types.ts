/** A retrieved chunk handed to an answerer, in rank order. `n` is its 1-based source number. */
export interface SourceChunk {
  readonly n: number;
  readonly chunkId: number;
  readonly documentId: string;
  readonly source: string;
  readonly page: number | null;
  /** Character offsets of the chunk in the document's extracted text. */
  readonly start: number;
  readonly end: number;
  readonly text: string;
  readonly headingPath: readonly string[];
  /** Fused retrieval score, higher is better. */
  readonly score: number;
}

/** A cited span: `text` equals the document text between `start` and `end`. */
export interface Citation {
  readonly n: number;
  readonly chunkId: number;
  readonly documentId: string;
  readonly source: string;
  readonly page: number | null;
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

export interface ConversationTurn {
  readonly role: 'user' | 'assistant';
  readonly content: string;
}

export interface GenerationRequest {
  readonly question: string;
  readonly sources: readonly SourceChunk[];
  readonly history?: readonly ConversationTurn[];
  readonly maxNewTokens?: number;
  readonly temperature?: number;
  readonly topP?: number;
  readonly stopSequences?: readonly string[];
  readonly signal?: AbortSignal;
}

export interface GenerationUsage {
  readonly promptTokens: number;
  /** Prompt tokens actually run through the model; lower than promptTokens when the prefix cache hit. */
  readonly prefillTokens: number;
  readonly generatedTokens: number;
  readonly forwardPasses: number;
  readonly timeToFirstTokenMs: number;
  readonly tokensPerSecond: number;
}

export interface Answer {
  readonly answer: string;
  readonly citations: readonly Citation[];
  /** True when the documents did not support an answer and the answer says so. */
  readonly refused: boolean;
  /** Which generator produced the answer, e.g. `extractive` or `transformers:onnx-community/Qwen2.5-0.5B-Instruct`. */
  readonly generator: string;
  readonly usage: GenerationUsage;
}

export type GenerationEvent =
  | { readonly type: 'token'; readonly text: string }
  | { readonly type: 'citation'; readonly citation: Citation }
  | { readonly type: 'done'; readonly answer: Answer };

/** Produces a cited answer from ranked sources. */
export interface Generator {
  readonly id: string;
  /** Streams token and citation events, ending with exactly one `done` event. */
  stream(request: GenerationRequest): AsyncIterable<GenerationEvent>;
  close(): Promise<void>;
}

/** The fixed text of an answer when the documents do not contain one. */
export const NOT_IN_DOCUMENTS = 'The documents do not contain an answer to this question.';
