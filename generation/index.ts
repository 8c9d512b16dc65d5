import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import { ExtractiveGenerator } from './extractive/extractive-generator.ts';
import type { Generator } from './types.ts';

/**
 * Returns the answer generator for this configuration: a generative model when one is
 * installed and configured, the extractive answerer otherwise.
 */
export function createAnswerGenerator(config: Config, logger: Logger): Promise<Generator> {
  // TODO: return the local language model generator when DOCENT_GENERATOR names an installed model.
  logger.debug({ generator: config.generator }, 'Using the extractive answerer');
  return Promise.resolve(new ExtractiveGenerator());
}
