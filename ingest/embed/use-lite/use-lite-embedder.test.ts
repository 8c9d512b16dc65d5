import { describe, expect, it } from 'vitest';
import { describeEmbedderConformance } from '../conformance.ts';
import { dot, normalizeInPlace } from '../vector.ts';
import { USE_LITE_MAX_TOKENS, UseLiteEmbedder } from './use-lite-embedder.ts';

const processListenersAtStart =
  process.listenerCount('uncaughtException') + process.listenerCount('unhandledRejection');

describeEmbedderConformance('UseLiteEmbedder', () => UseLiteEmbedder.load({ batchSize: 3 }));
describeEmbedderConformance('UseLiteEmbedder windowed', () =>
  UseLiteEmbedder.load({ batchSize: 3, windowed: true }),
);

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

describe('UseLiteEmbedder windows', () => {
  const words = Array.from({ length: 200 }, (_value, i) => `word${i % 17}`).join(' ');

  it('reads tokens after the 128th', async () => {
    const embedder = await UseLiteEmbedder.load({ batchSize: 8, windowed: true });
    const [full, extended] = await embedder.embed(
      [words, `${words} and a completely different ending about pasta`],
      'document',
    );
    await embedder.close();
    expect(embedder.id).toBe('use-lite-windowed');
    expect(Array.from(extended ?? [])).not.toEqual(Array.from(full ?? []));
  });

  it('weights each window by its tokens', async () => {
    const [first, windowed] = await Promise.all([
      UseLiteEmbedder.load({ batchSize: 8 }),
      UseLiteEmbedder.load({ batchSize: 8, windowed: true }),
    ]);
    const text = words.split(' ').slice(0, 80).join(' ');
    const tokens = first.tokenize(text);
    expect(tokens.length).toBeGreaterThan(USE_LITE_MAX_TOKENS);
    expect(tokens.length).toBeLessThanOrEqual(2 * USE_LITE_MAX_TOKENS);
    const [head = [], tail = []] = [tokens.slice(0, USE_LITE_MAX_TOKENS), tokens.slice(USE_LITE_MAX_TOKENS)];
    const [headVector, tailVector] = (await first.embedTokens([head, tail])).map(normalizeInPlace);
    const [vector] = await windowed.embed([text], 'document');
    await Promise.all([first.close(), windowed.close()]);

    const expected = normalizeInPlace(
      (headVector ?? new Float32Array()).map(
        (value, i) => head.length * value + tail.length * (tailVector?.[i] ?? 0),
      ),
    );
    expect(dot(vector ?? new Float32Array(), expected)).toBeGreaterThan(0.99999);
  });

  it('keeps vectors across call sizes', async () => {
    // With a batch size of 1, at most four windows go into one model call.
    const [small, large] = await Promise.all([
      UseLiteEmbedder.load({ batchSize: 1, windowed: true }),
      UseLiteEmbedder.load({ batchSize: 8, windowed: true }),
    ]);
    const text = `${words} ${words}`;
    expect(small.tokenize(text).length).toBeGreaterThan(4 * USE_LITE_MAX_TOKENS);
    const [[split], [whole]] = await Promise.all([
      small.embed([text], 'document'),
      large.embed([text], 'document'),
    ]);
    await Promise.all([small.close(), large.close()]);
    expect(dot(split ?? new Float32Array(), whole ?? new Float32Array())).toBeGreaterThan(0.99999);
  });

  it('matches use-lite on a short text', async () => {
    const [first, windowed] = await Promise.all([
      UseLiteEmbedder.load({ batchSize: 8 }),
      UseLiteEmbedder.load({ batchSize: 8, windowed: true }),
    ]);
    const texts = ['How old is the universe?', ''];
    const [fromFirst, fromWindowed] = await Promise.all([
      first.embed(texts, 'document'),
      windowed.embed(texts, 'document'),
    ]);
    await Promise.all([first.close(), windowed.close()]);
    texts.forEach((_text, i) => {
      expect(dot(fromFirst[i] ?? new Float32Array(), fromWindowed[i] ?? new Float32Array())).toBeGreaterThan(
        0.99999,
      );
    });
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
