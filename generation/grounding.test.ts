import { describe, expect, it } from 'vitest';
import { checkCitations } from './grounding.ts';
import type { SourceChunk } from './types.ts';

/** Builds source number `n` whose text starts at offset `start` of its document. */
function source(n: number, text: string, start = 100): SourceChunk {
  return {
    n,
    chunkId: n * 10,
    documentId: `doc-${n}`,
    source: `doc-${n}.txt`,
    page: n,
    start,
    end: start + text.length,
    text,
    headingPath: [],
    score: 1 / n,
  };
}

const apt = source(
  1,
  'Debian keeps packages in archives.\nYou can upgrade the whole system to a newer release by pointing\n"/etc/apt/sources.list" at the new release and running "apt update; apt dist-upgrade". Back up first.',
  500,
);
const coffee = source(
  2,
  'Espresso is brewed by forcing hot water through finely ground coffee. Crema forms on top.',
  40,
);

function expectOffsetsMatch(
  citations: ReturnType<typeof checkCitations>['citations'],
  sources: readonly SourceChunk[],
): void {
  for (const citation of citations) {
    const chunk = sources.find((candidate) => candidate.n === citation.n);
    expect(chunk, `source ${citation.n}`).toBeDefined();
    if (chunk === undefined) continue;
    expect(citation.text).toBe(chunk.text.slice(citation.start - chunk.start, citation.end - chunk.start));
    expect(citation.start).toBeGreaterThanOrEqual(chunk.start);
    expect(citation.end).toBeLessThanOrEqual(chunk.end);
    expect(citation.chunkId).toBe(chunk.chunkId);
    expect(citation.documentId).toBe(chunk.documentId);
    expect(citation.page).toBe(chunk.page);
  }
}

describe('checkCitations', () => {
  it('keeps a supported sentence and maps its span', () => {
    const sources = [apt, coffee];
    const result = checkCitations(
      'Point /etc/apt/sources.list at the new release, then run apt update and apt dist-upgrade [1].',
      sources,
    );

    expect(result.sentences).toHaveLength(1);
    expect(result.sentences[0]?.supported).toBe(true);
    expect(result.sentences[0]?.support).toBeGreaterThan(0.8);
    expect(result.citations).toHaveLength(1);
    expect(result.citations[0]?.n).toBe(1);
    expect(result.citations[0]?.text).toContain('apt dist-upgrade');
    expect(result.citations[0]?.text).not.toContain('Back up first');
    expect(result.supportedAnswer).toBe(
      'Point /etc/apt/sources.list at the new release, then run apt update and apt dist-upgrade [1].',
    );
    expectOffsetsMatch(result.citations, sources);
  });

  it('drops an unsupported sentence', () => {
    const result = checkCitations(
      'Run apt dist-upgrade after editing sources.list [1]. The moon is made of green cheese [1].',
      [apt, coffee],
    );

    expect(result.sentences.map((sentence) => sentence.supported)).toEqual([true, false]);
    expect(result.supportedAnswer).toBe('Run apt dist-upgrade after editing sources.list [1].');
    expect(result.supportedAnswer).not.toContain('cheese');
  });

  it('drops a sentence that cites the wrong source', () => {
    const result = checkCitations('Espresso is brewed by forcing hot water through ground coffee [1].', [
      apt,
      coffee,
    ]);

    expect(result.sentences[0]?.supported).toBe(false);
    expect(result.sentences[0]?.citedSources).toEqual([1]);
    expect(result.supportedAnswer).toBe('');
    expect(result.citations).toEqual([]);
  });

  it('re-attributes a wrong citation when asked', () => {
    const result = checkCitations(
      'Espresso is brewed by forcing hot water through ground coffee [1].',
      [apt, coffee],
      { reattributeMiscited: true },
    );

    expect(result.sentences[0]?.supported).toBe(true);
    expect(result.supportedAnswer).toBe('Espresso is brewed by forcing hot water through ground coffee [2].');
    expect(result.citations.map((citation) => citation.n)).toEqual([2]);
  });

  it('removes a citation of a source not provided', () => {
    const sources = [apt, coffee];
    const result = checkCitations('Crema forms on top of espresso [2][7].', sources);

    expect(result.sentences[0]?.citedSources).toEqual([2]);
    expect(result.sentences[0]?.invalidSources).toEqual([7]);
    expect(result.supportedAnswer).toBe('Crema forms on top of espresso [2].');
    expect(result.citations.map((citation) => citation.n)).toEqual([2]);
    expectOffsetsMatch(result.citations, sources);
  });

  it('drops a sentence citing only a missing source', () => {
    const result = checkCitations('Crema forms on top [9].', [apt, coffee]);

    expect(result.sentences[0]?.supported).toBe(false);
    expect(result.sentences[0]?.invalidSources).toEqual([9]);
    expect(result.citations).toEqual([]);
  });

  it('attributes an uncited supported sentence', () => {
    const result = checkCitations('Crema forms on top.', [apt, coffee]);

    expect(result.sentences[0]?.supported).toBe(true);
    expect(result.supportedAnswer).toBe('Crema forms on top [2].');
  });

  it('honours uncited drop and keep', () => {
    expect(checkCitations('Crema forms on top.', [coffee], { uncited: 'drop' }).supportedAnswer).toBe('');
    const kept = checkCitations('Bananas are yellow.', [coffee], { uncited: 'keep' });
    expect(kept.supportedAnswer).toBe('Bananas are yellow.');
    expect(kept.citations).toEqual([]);
  });

  it('gives a marker after the period to its sentence', () => {
    const result = checkCitations('Crema forms on top.[2] Run apt update.[1]', [apt, coffee]);

    expect(result.sentences.map((sentence) => sentence.citedSources)).toEqual([[2], [1]]);
    expect(result.sentences.map((sentence) => sentence.text)).toEqual([
      'Crema forms on top.',
      'Run apt update.',
    ]);
    expect(result.supportedAnswer).toBe('Crema forms on top [2]. Run apt update [1].');
  });

  it('keeps line breaks between kept sentences', () => {
    const result = checkCitations('- Crema forms on top [2]\n- Unicorns brew tea [2]\n- Run apt update [1]', [
      apt,
      coffee,
    ]);

    expect(result.supportedAnswer).toBe('- Crema forms on top [2]\n- Run apt update [1]');
  });

  it('respects the support threshold', () => {
    const answer = 'Espresso uses hot water and a grinder, a tamper and a scale [2].';
    expect(checkCitations(answer, [coffee], { minSupport: 0.9 }).sentences[0]?.supported).toBe(false);
    expect(checkCitations(answer, [coffee], { minSupport: 0.3 }).sentences[0]?.supported).toBe(true);
  });

  it('drops a sentence with a wrong number', () => {
    const tower = source(1, 'The Eiffel Tower was completed in 1889 for the World Fair.');
    const result = checkCitations(
      'The Eiffel Tower was completed in 1925 [1]. It was built for the World Fair [1].',
      [tower],
    );

    expect(result.sentences.map((sentence) => sentence.supported)).toEqual([false, true]);
    expect(result.sentences[0]?.support).toBe(0);
    expect(result.supportedAnswer).toBe('It was built for the World Fair [1].');
  });

  it('skips the number check when disabled', () => {
    const tower = source(1, 'The Eiffel Tower was completed in 1889 for the World Fair.');
    const result = checkCitations('The Eiffel Tower was completed in 1925 [1].', [tower], {
      checkNumbers: false,
    });

    expect(result.sentences[0]?.supported).toBe(true);
  });

  it('keeps numbered list items', () => {
    const steps = source(
      1,
      'Edit /etc/apt/sources.list to name the new release. Then run apt update and apt full-upgrade.',
    );
    const answer =
      'To upgrade:\n1. Edit /etc/apt/sources.list to name the new release [1].\n2. Run apt update and apt full-upgrade [1].';
    const result = checkCitations(answer, [steps]);

    expect(result.sentences.map((sentence) => sentence.supported)).toEqual([true, true, true]);
    expect(result.supportedAnswer).toContain(
      '\n1. Edit /etc/apt/sources.list to name the new release [1].\n2. Run apt update',
    );
  });

  it('grounds Chinese text character by character', () => {
    const chinese = source(1, '长城是中国古代的军事防御工程。它的总长度超过两万公里。', 7);
    const sources = [chinese, coffee];
    const result = checkCitations('长城总长度超过两万公里[1]。月亮是奶酪做的[1]。', sources);

    expect(result.sentences.map((sentence) => sentence.supported)).toEqual([true, false]);
    expect(result.citations[0]?.text).toContain('它的总长度超过两万公里。');
    expect(result.supportedAnswer).toBe('长城总长度超过两万公里 [1]。');
    expectOffsetsMatch(result.citations, sources);
  });

  it('keeps offsets exact across multi-sentence spans', () => {
    const wrapped = source(
      3,
      'Install the package.\n\nThen edit the\nconfiguration file in /etc/docent.\n   Restart the service afterwards.  Logs go to journald.',
      1234,
    );
    const sources = [wrapped];
    const result = checkCitations(
      'Edit the configuration file in /etc/docent and restart the service [3].',
      sources,
    );

    expect(result.citations).toHaveLength(1);
    expect(result.citations[0]?.text).toContain('configuration file');
    expect(result.citations[0]?.text).toContain('Restart the service');
    expect(result.citations[0]?.text).not.toContain('journald');
    expectOffsetsMatch(result.citations, sources);
  });

  it('keeps a sentence with no content terms', () => {
    const result = checkCitations('In short: crema forms on top [2].', [coffee]);
    expect(result.sentences.every((sentence) => sentence.supported)).toBe(true);
  });

  it('returns nothing for an empty answer', () => {
    const result = checkCitations('', [coffee]);
    expect(result).toEqual({ sentences: [], supportedAnswer: '', citations: [] });
  });
});

describe('checkCitations with a leading marker', () => {
  it('keeps the sentence text intact', () => {
    const sources = [
      {
        n: 1,
        chunkId: 1,
        documentId: 'd',
        source: 'tower.txt',
        page: null,
        start: 0,
        end: 52,
        text: 'The Eiffel Tower was completed in 1889 in Paris.',
        headingPath: [],
        score: 1,
      },
    ];
    const result = checkCitations('[1] The Eiffel Tower was completed in 1889.', sources);
    expect(result.supportedAnswer).toContain('completed in 1889');
    expect(result.supportedAnswer).not.toContain('in 1 [1]');
  });
});
