import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { DocentError } from '../../core/errors.ts';
import { decodeText, looksBinary, normaliseCharset } from './decode.ts';
import { detectFormat } from './detect.ts';

const japanese = '日本語のテキストです。文字コードの判定を確認します。東京都千代田区の天気は晴れです。';
const chinese = '这是一个用于测试编码检测的中文文档。我们希望它能被正确地解码成统一码文本。';

describe('decodeText', () => {
  it('decodes UTF-8 and strips its byte order mark', () => {
    expect(decodeText(new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0x69]))).toEqual({
      text: 'hi',
      encoding: 'utf-8',
    });
  });

  it('decodes UTF-32 with a byte order mark', () => {
    const bytes = iconv.encode('Hello, Welt', 'utf-32le', { addBOM: true });
    expect(decodeText(bytes)).toEqual({ text: 'Hello, Welt', encoding: 'utf-32le' });
  });

  it('decodes UTF-16 BE without a byte order mark', () => {
    expect(decodeText(iconv.encode('plain ascii text here', 'utf-16be'))).toEqual({
      text: 'plain ascii text here',
      encoding: 'utf-16be',
    });
  });

  it('decodes GB18030', () => {
    expect(decodeText(iconv.encode(chinese, 'gb18030')).text).toBe(chinese);
  });

  it('decodes Shift_JIS', () => {
    expect(decodeText(iconv.encode(japanese, 'shift_jis')).text).toBe(japanese);
  });

  it('prefers a declared charset', () => {
    const bytes = iconv.encode('Ærø – Smørrebrød', 'windows-1252');
    expect(decodeText(bytes, 'iso-8859-1')).toEqual({ text: 'Ærø – Smørrebrød', encoding: 'windows-1252' });
  });

  it('rejects a byte order mark over invalid content', () => {
    expect(() => decodeText(Uint8Array.from([0xfe, 0xff, 0xd8, 0x00, 0x00, 0x41]))).toThrow(DocentError);
  });
});

describe('normaliseCharset', () => {
  it('maps labels as browsers do', () => {
    expect(normaliseCharset('ISO-8859-1')).toBe('windows-1252');
    expect(normaliseCharset('GBK')).toBe('gb18030');
    expect(normaliseCharset('"utf8"')).toBe('utf-8');
    expect(normaliseCharset('no-such-charset')).toBeUndefined();
  });
});

describe('looksBinary', () => {
  it('tells binary from text', () => {
    expect(looksBinary(Uint8Array.from([0x00, 0x01, 0x02, 0x03]))).toBe(true);
    expect(looksBinary(new TextEncoder().encode('plain text'))).toBe(false);
    expect(looksBinary(iconv.encode('wide text here', 'utf-16le'))).toBe(false);
  });
});

describe('detectFormat', () => {
  const detect = (text: string, filename: string) =>
    detectFormat(new TextEncoder().encode(text), () => text, filename);

  it('trusts a text extension between text formats', async () => {
    expect((await detect('# Title\n\nbody', 'notes.txt')).format).toBe('text');
    expect((await detect('a,b\n1,2\n3,4', 'table.csv')).format).toBe('csv');
  });

  it('sniffs text formats without an extension', async () => {
    expect((await detect('# Title\n\n- item\n- item\n\n[link](https://example.com)', 'upload')).format).toBe(
      'markdown',
    );
    expect((await detect('a\tb\tc\n1\t2\t3\n4\t5\t6\n', 'upload')).format).toBe('tsv');
    expect((await detect('<html><body><p>x</p></body></html>', 'upload')).format).toBe('html');
    expect((await detect('Just a sentence.', 'upload')).format).toBe('text');
  });

  it('keeps HTML tags in Markdown as Markdown', async () => {
    expect((await detect('# Title\n\n<div>inline html</div>\n<p>more</p>', 'readme.md')).format).toBe(
      'markdown',
    );
  });

  it('reports a contradicting extension', async () => {
    const detection = await detect('<!DOCTYPE html><html><body>page</body></html>', 'report.pdf');
    expect(detection.format).toBe('html');
    expect(detection.mismatch).toContain('PDF');
  });
});
