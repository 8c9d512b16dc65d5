import path from 'node:path';
import { loadConfig } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import type { Docent } from '../docent.ts';
import { openDocent } from '../runtime.ts';

/**
 * Opens the engine for one command and closes it afterwards, so that dense indexes are saved
 * even when the command fails. Command-line runs log errors only unless DOCENT_LOG_LEVEL says
 * otherwise. With `dataSubfolder`, the engine uses that folder inside DOCENT_DATA_DIR, so
 * that benchmark collections stay apart from the user's documents.
 */
export async function withDocent<T>(
  run: (docent: Docent) => Promise<T> | T,
  options: { dataSubfolder?: string } = {},
): Promise<T> {
  const base = loadConfig();
  const config =
    options.dataSubfolder === undefined
      ? base
      : loadConfig({ ...process.env, DOCENT_DATA_DIR: path.join(base.dataDir, options.dataSubfolder) });
  const level = process.env.DOCENT_LOG_LEVEL === undefined ? 'error' : config.logLevel;
  const docent = await openDocent({ config, logger: createLogger(level, { format: config.logFormat }) });
  try {
    return await run(docent);
  } finally {
    await docent.close();
  }
}

/** Exits quietly when stdout is closed early, as in `docent search ... | head`. */
export function exitOnClosedPipe(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}
