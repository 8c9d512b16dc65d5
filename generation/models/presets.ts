import type { GenerationDtype } from '../llm/dtypes.ts';

export interface ModelPreset {
  /** Short name for `docent models pull <name>`. */
  readonly name: string;
  /** Repository id on the Hugging Face hub, also the directory under DOCENT_MODELS_DIR. */
  readonly id: string;
  /** Weight variant pulled by default. */
  readonly dtype: GenerationDtype;
  readonly description: string;
}

/**
 * Small instruction-tuned models with ONNX exports in the Transformers.js layout. Preference
 * order for `DOCENT_GENERATOR=auto` when several are installed.
 * NOTE: the repositories' file lists and dtype variants are unverified because this machine
 * cannot reach the hub. `pullModel` names the available variants when a file is missing.
 */
export const MODEL_PRESETS: readonly ModelPreset[] = [
  {
    name: 'qwen2.5-0.5b',
    id: 'onnx-community/Qwen2.5-0.5B-Instruct',
    dtype: 'q4',
    description: 'Qwen2.5 0.5B Instruct, 4-bit weights; multilingual, 32k context',
  },
  {
    name: 'gemma-3-270m',
    id: 'onnx-community/gemma-3-270m-it-ONNX',
    dtype: 'q4',
    description: 'Gemma 3 270M instruction-tuned, 4-bit weights; the smallest preset',
  },
  {
    name: 'smollm2-360m',
    id: 'HuggingFaceTB/SmolLM2-360M-Instruct',
    dtype: 'q4',
    description: 'SmolLM2 360M Instruct, 4-bit weights; English',
  },
];

/** Resolves a preset name or an `org/name` id; raises nothing, unknown names are taken as ids. */
export function resolvePreset(nameOrId: string): {
  id: string;
  dtype: GenerationDtype | undefined;
  preset: ModelPreset | undefined;
} {
  const preset = MODEL_PRESETS.find((item) => item.name === nameOrId || item.id === nameOrId);
  return { id: preset?.id ?? nameOrId, dtype: preset?.dtype, preset };
}
