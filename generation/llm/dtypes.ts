import type { Config } from '../../core/config.ts';

// Kept apart from causal-lm.ts so that listing and pulling models does not load onnxruntime.

export type GenerationDtype = Config['generation']['dtype'];

/** Weight file names of the Transformers.js layout, by dtype. */
export const dtypeFileSuffix: Record<GenerationDtype, string> = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
};
