import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Format of log lines: `json` (pino's own), `pretty` (readable), or `auto` (pretty on a terminal). */
export type LogFormat = 'auto' | 'json' | 'pretty';

const LEVEL_LABELS: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** Fields that the readable format shows in their own place or leaves out. */
const FRAME_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name', 'err']);

/**
 * Creates the process logger. Logs go to stderr so that command output on stdout stays
 * parseable (for example `docent ask --json`).
 */
export function createLogger(level: string, options: { name?: string; format?: LogFormat } = {}): Logger {
  const format = options.format ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY);
  const destination: DestinationStream = pretty
    ? { write: (line: string) => process.stderr.write(formatLogLine(line)) }
    : pino.destination({ dest: 2, sync: true });
  return pino(
    {
      name: options.name ?? 'docent',
      level,
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', 'apiKey', '*.apiKey', 'key', '*.token'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/**
 * Turns one pino JSON line into `HH:MM:SS LEVEL message key=value ...`, with the stack of a
 * logged error on the lines below. A line that is not a JSON object is returned as it is.
 */
export function formatLogLine(line: string): string {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return line;
  const fields = record as Record<string, unknown>;

  const time =
    typeof fields.time === 'number' ? new Date(fields.time).toISOString().slice(11, 19) : '--:--:--';
  const level =
    typeof fields.level === 'number' ? (LEVEL_LABELS[fields.level] ?? String(fields.level)) : 'INFO';
  const message = typeof fields.msg === 'string' ? fields.msg : '';
  const extra = Object.entries(fields)
    .filter(([key]) => !FRAME_FIELDS.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);

  const err = fields.err as { message?: unknown; stack?: unknown } | undefined;
  if (typeof err?.message === 'string') extra.push(`err=${JSON.stringify(err.message)}`);
  const head = [time, level.padEnd(5), message, ...extra].filter((part) => part !== '').join(' ');
  const stack = typeof err?.stack === 'string' ? `\n${indent(err.stack)}` : '';
  return `${head}${stack}\n`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

/** A logger that discards everything, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
