import { describe, expect, it } from 'vitest';
import { describeEmbedderConformance } from '../conformance.ts';
import { dot } from '../vector.ts';
import { UseLiteEmbedder } from './use-lite-embedder.ts';

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
