import { describe, expect, it } from 'vitest';
import { formatLogLine } from './logger.ts';

const time = Date.UTC(2026, 11, 5, 9, 30, 15);

describe('formatLogLine', () => {
  it('writes time, level, message and fields', () => {
    const line = JSON.stringify({
      level: 30,
      time,
      pid: 7,
      hostname: 'h',
      name: 'docent',
      msg: 'Listening',
      port: 8080,
      url: 'http://127.0.0.1:8080',
    });
    expect(formatLogLine(line)).toBe('09:30:15 INFO  Listening port=8080 url=http://127.0.0.1:8080\n');
  });

  it('adds the error message and stack', () => {
    const err = { type: 'Error', message: 'disk full', stack: 'Error: disk full\n    at write' };
    const line = JSON.stringify({ level: 50, time, msg: 'Write failed', documentId: 'd1', err });
    expect(formatLogLine(line)).toBe(
      '09:30:15 ERROR Write failed documentId=d1 err="disk full"\n    Error: disk full\n        at write\n',
    );
  });

  it('keeps a line that is not JSON', () => {
    expect(formatLogLine('plain text\n')).toBe('plain text\n');
    expect(formatLogLine('[1,2]\n')).toBe('[1,2]\n');
  });
});
