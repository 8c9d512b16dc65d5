import { describe, expect, it } from 'vitest';
import { contentTerms, splitSentences, stem, tokenize } from './text.ts';

describe('splitSentences', () => {
  it('keeps offsets into the original text', () => {
    const text = '  First sentence here.\n\nSecond one!  Third?';
    const sentences = splitSentences(text);

    expect(sentences.map((sentence) => sentence.text)).toEqual([
      'First sentence here.',
      'Second one!',
      'Third?',
    ]);
    for (const sentence of sentences) expect(text.slice(sentence.start, sentence.end)).toBe(sentence.text);
  });

  it('joins hard-wrapped lines', () => {
    const text = 'You can upgrade by\n    changing the sources and\n    running apt. Then reboot.';

    expect(splitSentences(text).map((sentence) => sentence.text)).toEqual([
      'You can upgrade by\n    changing the sources and\n    running apt.',
      'Then reboot.',
    ]);
  });

  it('does not split after initials and abbreviations', () => {
    const text =
      'It is known in English by John C. Messenger. Mr. Smith lives near Paris, e.g. in Versailles.';

    expect(splitSentences(text).map((sentence) => sentence.text)).toEqual([
      'It is known in English by John C. Messenger.',
      'Mr. Smith lives near Paris, e.g. in Versailles.',
    ]);
  });

  it('keeps a list number with its item', () => {
    const text = 'Steps:\n1. Edit the file.\n2. Run the command.';

    expect(splitSentences(text).map((sentence) => sentence.text)).toEqual([
      'Steps:',
      '1. Edit the file.',
      '2. Run the command.',
    ]);
  });

  it('splits Chinese sentences', () => {
    expect(splitSentences('长城很长。它在中国！').map((sentence) => sentence.text)).toEqual([
      '长城很长。',
      '它在中国！',
    ]);
  });
});

describe('tokenize', () => {
  it('case folds, stems and keeps offsets', () => {
    const text = 'Upgrading the Packages';
    const tokens = tokenize(text);

    expect(tokens.map((token) => token.term)).toEqual(['upgrad', 'the', 'packag']);
    expect(tokens.map((token) => text.slice(token.start, token.end))).toEqual([
      'Upgrading',
      'the',
      'Packages',
    ]);
  });

  it('makes each Han character a token', () => {
    expect(tokenize('Docent支持中文').map((token) => token.term)).toEqual(['docent', '支', '持', '中', '文']);
  });
});

describe('stem', () => {
  it('conflates inflected forms', () => {
    expect(new Set(['upgrade', 'upgrades', 'upgraded', 'upgrading'].map(stem)).size).toBe(1);
    expect(stem('died')).toBe(stem('die'));
    expect(stem('translation')).toBe(stem('translate'));
    expect(stem('running')).toBe('run');
  });
});

describe('contentTerms', () => {
  it('drops stopwords and repeats', () => {
    expect(contentTerms('How do I upgrade the system to the newer release?')).toEqual([
      'upgrad',
      'system',
      'newer',
      'releas',
    ]);
  });
});
