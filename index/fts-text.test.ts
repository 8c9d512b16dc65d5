import { describe, expect, it } from 'vitest';
import { toIndexText, toMatchExpression } from './fts-text.ts';

describe('toIndexText', () => {
  it('expands CJK runs into characters and bigrams', () => {
    expect(toIndexText('東京都').split(/\s+/).filter(Boolean)).toEqual(['東', '京', '都', '東京', '京都']);
  });

  it('keeps Latin text as it is', () => {
    expect(toIndexText('apt dist-upgrade')).toBe('apt dist-upgrade');
  });
});

describe('toMatchExpression', () => {
  it('quotes every term so FTS5 syntax is inert', () => {
    const expression = toMatchExpression('NEAR(a b) OR "x" AND col:y* ^z');
    expect(expression).toMatch(/^"[^"]+"( OR "[^"]+")*$/);
    expect(expression).toContain('"near"');
    expect(expression).toContain('"col"');
  });

  it('drops stopwords but keeps them when nothing else is left', () => {
    expect(toMatchExpression('how do I upgrade')).toBe('"upgrade"');
    expect(toMatchExpression('the')).toBe('"the"');
  });

  it('returns undefined when there is no searchable term', () => {
    expect(toMatchExpression('  ?!* ')).toBeUndefined();
    expect(toMatchExpression('')).toBeUndefined();
  });

  it('uses one character for a single-character CJK query', () => {
    expect(toMatchExpression('猫')).toBe('"猫"');
  });

  it('uses bigrams for longer CJK runs mixed with Latin words', () => {
    expect(toMatchExpression('東京 Tower')).toBe('"東京" OR "tower"');
  });
});
