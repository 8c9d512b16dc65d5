import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Creates the process logger. Logs go to stderr so that command output on stdout stays
 * parseable (for example `docent ask --json`).
 */
export function createLogger(level: string, name = 'docent'): Logger {
  return pino(
    {
      name,
      level,
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', 'apiKey', '*.apiKey', 'key', '*.token'],
        censor: '[redacted]',
      },
    },
    pino.destination({ dest: 2, sync: true }),
  );
}

/** A logger that discards everything, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
