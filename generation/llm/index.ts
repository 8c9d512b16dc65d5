import type { Config } from '../../core/config.ts';
import type { Logger } from '../../core/logger.ts';
import { listModels, type InstalledModel } from '../models/list.ts';
import { resolvePreset } from '../models/presets.ts';
import type { Scheduler } from '../scheduler.ts';
import { LlmGenerator } from './llm-generator.ts';

export { LlmGenerator, type LlmGeneratorOptions, type LlmRequestStats } from './llm-generator.ts';
export type { GenerationDtype } from './dtypes.ts';

export type GeneratorChoice =
  | { readonly kind: 'llm'; readonly generator: LlmGenerator; readonly model: InstalledModel }
  | { readonly kind: 'none'; readonly reason: string };

/**
 * Picks and loads the generative model named by DOCENT_GENERATOR: `auto` takes the installed model
 * (the first preset in preference order when several are installed), `org/name`,
 * `transformers:org/name` or a preset name take that model. Returns `none` with the reason when
 * the setting is `extractive` or no matching model with the configured dtype is installed, so the
 * caller falls back to the extractive answerer. Loading errors of an installed model propagate.
 */
export async function createGenerator(
  config: Config,
  options: { logger?: Logger; scheduler?: Scheduler } = {},
): Promise<GeneratorChoice> {
  const spec = config.generator.trim();
  if (spec === 'extractive') return { kind: 'none', reason: 'DOCENT_GENERATOR is extractive' };

  const dtype = config.generation.dtype;
  const all = await listModels(config.modelsDir);
  const installed = all.filter((model) => model.dtypes.includes(dtype));
  const others = all
    .filter((model) => !model.dtypes.includes(dtype))
    .map((model) => `${model.id} (${model.dtypes.join(', ')})`);
  const otherHint =
    others.length === 0
      ? ''
      : `; installed with other dtypes: ${others.join('; ')}, see DOCENT_GENERATION_DTYPE`;
  let model: InstalledModel | undefined;
  if (spec === 'auto') {
    model = installed[0];
    if (model === undefined) {
      return {
        kind: 'none',
        reason: `no generative model with ${dtype} weights is installed in ${config.modelsDir}; run \`docent models pull qwen2.5-0.5b\`${otherHint}`,
      };
    }
  } else {
    const id = resolvePreset(spec.replace(/^transformers:/, '')).id;
    model = installed.find((candidate) => candidate.id === id);
    if (model === undefined) {
      return {
        kind: 'none',
        reason: `model ${id} with ${dtype} weights is not installed in ${config.modelsDir}; run \`docent models pull ${id}\`${otherHint}`,
      };
    }
  }

  // Loaded on demand: onnxruntime and Transformers.js take seconds to import.
  const { CausalLm } = await import('./causal-lm.ts');
  const causalLm = await CausalLm.load(model.directory, { dtype, threads: config.generation.threads });
  const generator = new LlmGenerator({
    model: causalLm,
    modelId: model.id,
    settings: config.generation,
    ...(options.scheduler === undefined ? {} : { scheduler: options.scheduler }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  options.logger?.info(
    { generator: generator.id, dtype, directory: model.directory },
    'generative model loaded',
  );
  return { kind: 'llm', generator, model };
}
