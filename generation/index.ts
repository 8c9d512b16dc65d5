import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import { ExtractiveGenerator } from './extractive/extractive-generator.ts';
import { createGenerator } from './llm/index.ts';
import type { Generator } from './types.ts';

/**
 * Returns the answer generator for this configuration: the generative model named by
 * DOCENT_GENERATOR when it is installed, the extractive answerer otherwise.
 */
export async function createAnswerGenerator(config: Config, logger: Logger): Promise<Generator> {
  const choice = await createGenerator(config, { logger });
  if (choice.kind === 'llm') return choice.generator;
  logger.debug({ reason: choice.reason }, 'Answering with the extractive answerer');
  return new ExtractiveGenerator();
}
