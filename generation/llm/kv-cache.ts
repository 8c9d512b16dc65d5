import { Tensor } from 'onnxruntime-node';

/** Shape of a decoder's KV cache: one key and one value tensor [1, kvHeads, length, headDim] per layer. */
export interface KvLayout {
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Element type of the cache tensors; float16 elements are kept as their raw 16-bit patterns. */
  readonly type: 'float32' | 'float16';
}

type CacheData = Float32Array | Uint16Array;

/**
 * The key and value tensors of every layer for the first `length` tokens of a sequence (batch 1).
 * Instances are immutable: `truncate` and the model's forward pass return new caches, so a cache
 * stored in the prefix cache can be shared between requests.
 */
export class KvCache {
  readonly layout: KvLayout;
  readonly length: number;
  /** `past_key_values.N.key/value` tensors in layer order: key 0, value 0, key 1, value 1, ... */
  readonly tensors: readonly Tensor[];

  private constructor(layout: KvLayout, length: number, tensors: readonly Tensor[]) {
    this.layout = layout;
    this.length = length;
    this.tensors = tensors;
  }

  static empty(layout: KvLayout): KvCache {
    const tensors: Tensor[] = [];
    for (let i = 0; i < layout.layers * 2; i++) {
      const data = layout.type === 'float32' ? new Float32Array(0) : new Uint16Array(0);
      tensors.push(new Tensor(layout.type, data, [1, layout.kvHeads, 0, layout.headDim]));
    }
    return new KvCache(layout, 0, tensors);
  }

  /** Wraps the `present.N.key/value` outputs of a forward pass; all must have the same length. */
  static fromPresent(layout: KvLayout, tensors: readonly Tensor[]): KvCache {
    const length = tensors[0]?.dims[2];
    if (length === undefined || tensors.length !== layout.layers * 2) {
      throw new Error(`expected ${layout.layers * 2} present tensors, got ${tensors.length}`);
    }
    return new KvCache(layout, length, tensors);
  }

  /** Bytes held by the cache tensors. */
  get byteLength(): number {
    const bytesPerElement = this.layout.type === 'float32' ? 4 : 2;
    return this.layout.layers * 2 * this.layout.kvHeads * this.length * this.layout.headDim * bytesPerElement;
  }

  /**
   * Returns a cache holding only the first `length` tokens: the rollback after rejected draft
   * tokens and the cut of a shared prefix. Copies, because the sequence axis is not the outermost.
   */
  truncate(length: number): KvCache {
    if (length === this.length) return this;
    if (length < 0 || length > this.length) {
      throw new RangeError(`cannot truncate a KV cache of ${this.length} tokens to ${length}`);
    }
    const { kvHeads, headDim } = this.layout;
    const tensors = this.tensors.map((tensor) => {
      const source = tensor.data as CacheData;
      const target =
        source instanceof Float32Array
          ? new Float32Array(kvHeads * length * headDim)
          : new Uint16Array(kvHeads * length * headDim);
      for (let head = 0; head < kvHeads; head++) {
        const from = head * this.length * headDim;
        target.set(source.subarray(from, from + length * headDim), head * length * headDim);
      }
      return new Tensor(this.layout.type, target, [1, kvHeads, length, headDim]);
    });
    return new KvCache(this.layout, length, tensors);
  }
}
