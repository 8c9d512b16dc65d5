import { loadConfig, type Config } from '../core/config.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { createConfiguredEmbedder } from '../ingest/embed/index.ts';
import { createAnswerGenerator } from '../generation/index.ts';
import { Docent } from './docent.ts';

/** Opens the engine with the configured embedder and answer generator. */
export async function openDocent(options: { config?: Config; logger?: Logger } = {}): Promise<Docent> {
  const config = options.config ?? loadConfig();
  const logger = options.logger ?? createLogger(config.logLevel, { format: config.logFormat });
  const generator = await createAnswerGenerator(config, logger);
  return Docent.open({
    config,
    logger,
    createEmbedder: (spec) => createConfiguredEmbedder(spec, config),
    generator,
  });
}
