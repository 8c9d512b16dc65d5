import { describe, expect, it } from 'vitest';
import { TextStream } from './text-stream.ts';

/** Decodes token ids as UTF-8 bytes, so a multi-byte character can arrive split across tokens. */
const byteTokenizer = {
  decode: (tokens: number[]) => new TextDecoder().decode(Uint8Array.from(tokens)),
};
const bytes = (text: string) => Array.from(new TextEncoder().encode(text));

describe('TextStream', () => {
  it('holds back an incomplete UTF-8 character', () => {
    const stream = new TextStream(byteTokenizer, []);
    const euro = bytes('€');
    expect(stream.push([...bytes('a'), ...euro.slice(0, 2)])).toBe('a');
    expect(stream.push(euro.slice(2))).toBe('€');
  });

  it('cuts at a stop sequence split across tokens', () => {
    const stream = new TextStream(byteTokenizer, ['END']);
    expect(stream.push(bytes('one E'))).toBe('one ');
    expect(stream.push(bytes('N'))).toBe('');
    expect(stream.push(bytes('D more'))).toBe('');
    expect(stream.stopped).toBe(true);
    expect(stream.text).toBe('one ');
    expect(stream.finish()).toBe('');
  });

  it('releases a held tail that did not become a stop sequence', () => {
    const stream = new TextStream(byteTokenizer, ['END']);
    expect(stream.push(bytes('send E'))).toBe('send ');
    expect(stream.push(bytes('ggs'))).toBe('Eggs');
    expect(stream.finish()).toBe('');
    expect(stream.text).toBe('send Eggs');
  });
});
