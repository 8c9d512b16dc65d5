import { describe, expect, it } from 'vitest';
import { describeEmbedderConformance } from '../conformance.ts';
import { dot } from '../vector.ts';
import { USE_LITE_MAX_TOKENS, UseLiteEmbedder } from './use-lite-embedder.ts';

const processListenersAtStart =
  process.listenerCount('uncaughtException') + process.listenerCount('unhandledRejection');

describeEmbedderConformance('UseLiteEmbedder', () => UseLiteEmbedder.load({ batchSize: 3 }));

describe('UseLiteEmbedder', () => {
  it('ranks paraphrases above unrelated sentences', async () => {
    const embedder = await UseLiteEmbedder.load({ batchSize: 8 });
    const [question, answer, distractor] = await embedder.embed(
      [
        'How old is the universe?',
        'The cosmos formed about 13.8 billion years ago.',
        'My favourite pasta recipe uses fresh basil.',
      ],
      'document',
    );
    await embedder.close();

    if (question === undefined || answer === undefined || distractor === undefined)
      throw new Error('missing vectors');
    expect(embedder.id).toBe('use-lite');
    expect(embedder.dimension).toBe(512);
    expect(dot(question, answer)).toBeGreaterThan(dot(question, distractor) + 0.1);
  });
});

describe('UseLiteEmbedder truncation', () => {
  it('ignores tokens after the 128th', async () => {
    const embedder = await UseLiteEmbedder.load({ batchSize: 8 });
    const words = Array.from({ length: 200 }, (_value, i) => `word${i % 17}`).join(' ');
    expect(embedder.tokenize(words).length).toBeGreaterThan(USE_LITE_MAX_TOKENS);

    const [full, extended] = await embedder.embed(
      [words, `${words} and a completely different ending about pasta`],
      'document',
    );
    await embedder.close();
    expect(Array.from(extended ?? [])).toEqual(Array.from(full ?? []));
  });
});

describe('UseLiteEmbedder process listeners', () => {
  it('leaves no process error listeners', async () => {
    const embedder = await UseLiteEmbedder.load({ batchSize: 8 });
    await embedder.embed(['text'], 'document');
    await embedder.close();
    const listeners =
      process.listenerCount('uncaughtException') + process.listenerCount('unhandledRejection');
    expect(listeners).toBe(processListenersAtStart);
  });
});
