import { loadConfig } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import type { Docent } from '../docent.ts';
import { openDocent } from '../runtime.ts';

/**
 * Opens the engine for one command and closes it afterwards, so that dense indexes are saved
 * even when the command fails. Command-line runs log errors only unless DOCENT_LOG_LEVEL says otherwise.
 */
export async function withDocent<T>(run: (docent: Docent) => Promise<T> | T): Promise<T> {
  const config = loadConfig();
  const level = process.env.DOCENT_LOG_LEVEL === undefined ? 'error' : config.logLevel;
  const docent = await openDocent({ config, logger: createLogger(level) });
  try {
    return await run(docent);
  } finally {
    await docent.close();
  }
}
