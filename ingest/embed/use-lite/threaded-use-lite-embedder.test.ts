import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEmbedderConformance } from '../conformance.ts';
import { ThreadedUseLiteEmbedder } from './threaded-use-lite-embedder.ts';
import { UseLiteEmbedder } from './use-lite-embedder.ts';

describeEmbedderConformance('ThreadedUseLiteEmbedder', () =>
  ThreadedUseLiteEmbedder.load({ batchSize: 3, threads: 2 }),
);

describe('ThreadedUseLiteEmbedder', () => {
  let threaded: ThreadedUseLiteEmbedder;
  let single: UseLiteEmbedder;

  beforeAll(async () => {
    [threaded, single] = await Promise.all([
      ThreadedUseLiteEmbedder.load({ batchSize: 2, threads: 2 }),
      UseLiteEmbedder.load({ batchSize: 2 }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([threaded.close(), single.close()]);
  });

  it('matches the single-thread embedder', async () => {
    const texts = [
      'The cat sat on the mat.',
      'Markets fell.',
      'A storm is coming tonight.',
      'Soup and bread.',
      'x',
    ];
    const [fromThreads, fromMainThread] = await Promise.all([
      threaded.embed(texts, 'document'),
      single.embed(texts, 'document'),
    ]);
    expect(fromThreads).toHaveLength(texts.length);
    fromThreads.forEach((vector, i) => {
      const expected = fromMainThread[i] ?? new Float32Array();
      const maxDifference = Math.max(...vector.map((value, k) => Math.abs(value - (expected[k] ?? 0))));
      expect(maxDifference).toBeLessThan(1e-5);
    });
  });

  it('runs concurrent embed calls', async () => {
    const calls = Array.from({ length: 4 }, (_value, i) =>
      threaded.embed([`text number ${i}`, `another text ${i}`], 'document'),
    );
    const results = await Promise.all(calls);
    for (const vectors of results) expect(vectors).toHaveLength(2);
  });

  it('rejects an invalid thread count', async () => {
    await expect(ThreadedUseLiteEmbedder.load({ batchSize: 2, threads: 0 })).rejects.toThrow(/threads \(0\)/);
  });

  it('rejects use after close', async () => {
    const embedder = await ThreadedUseLiteEmbedder.load({ batchSize: 2, threads: 1 });
    await embedder.close();
    await expect(embedder.embed(['text'], 'document')).rejects.toThrow(/no running worker threads/);
  });
});

describe('ThreadedUseLiteEmbedder idle workers', () => {
  it('let the process exit without close', () => {
    const modulePath = fileURLToPath(new URL('./threaded-use-lite-embedder.ts', import.meta.url));
    const script = [
      `const { ThreadedUseLiteEmbedder } = await import(${JSON.stringify(pathToFileURL(modulePath).href)});`,
      'const embedder = await ThreadedUseLiteEmbedder.load({ batchSize: 2, threads: 2 });',
      "const vectors = await embedder.embed(['one', 'two', 'three'], 'document');",
      'console.log(vectors.length);',
    ].join('\n');
    const scriptPath = path.join(mkdtempSync(path.join(tmpdir(), 'docent-threads-')), 'no-close.mjs');
    writeFileSync(scriptPath, script);
    const output = execFileSync(process.execPath, ['--import', 'tsx', scriptPath], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    rmSync(path.dirname(scriptPath), { recursive: true, force: true });
    expect(output.trim()).toBe('3');
  });
});
