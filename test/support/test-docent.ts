import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../core/config.ts';
import { silentLogger } from '../../core/logger.ts';
import type { Embedder } from '../../ingest/embed/embedder.ts';
import { Docent } from '../../services/docent.ts';
import type { Generator } from '../../generation/types.ts';

/**
 * A deterministic bag-of-words embedder: each lower-cased word adds to one of `dimension`
 * hashed buckets. Texts sharing words get similar vectors, which is all engine tests need.
 */
export class BagOfWordsEmbedder implements Embedder {
  readonly id: string;

  constructor(readonly dimension = 64) {
    this.id = `test-bow-${dimension}`;
  }

  embed(texts: readonly string[]): Promise<Float32Array[]> {
    return Promise.resolve(
      texts.map((text) => {
        const vector = new Float32Array(this.dimension);
        for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
          let hash = 2166136261;
          for (const character of word) hash = Math.imul(hash ^ (character.codePointAt(0) ?? 0), 16777619);
          const bucket = (hash >>> 0) % this.dimension;
          vector[bucket] = (vector[bucket] ?? 0) + 1;
        }
        const norm = Math.hypot(...vector) || 1;
        return vector.map((value) => value / norm);
      }),
    );
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Opens an engine on a fresh temporary data folder; `dispose` closes it and removes the folder. */
export async function openTestDocent(
  options: {
    dataDir?: string;
    env?: Record<string, string>;
    embedders?: Embedder[];
    generator?: Generator;
  } = {},
): Promise<{ docent: Docent; dataDir: string; dispose: () => Promise<void>; reopen: () => Promise<Docent> }> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'docent-test-'));
  const embedders = options.embedders ?? [new BagOfWordsEmbedder()];
  const defaultEmbedder = embedders[0];
  if (defaultEmbedder === undefined) throw new Error('openTestDocent needs at least one embedder');
  const config = loadConfig({
    DOCENT_DATA_DIR: dataDir,
    DOCENT_EMBEDDER: defaultEmbedder.id,
    ...options.env,
  });

  const open = (): Promise<Docent> =>
    Docent.open({
      config,
      logger: silentLogger,
      createEmbedder: (spec) => {
        const found = embedders.find((embedder) => embedder.id === spec);
        return found === undefined
          ? Promise.reject(new Error(`unknown test embedder ${spec}`))
          : Promise.resolve(found);
      },
      generator: options.generator,
    });

  let docent = await open();
  return {
    get docent() {
      return docent;
    },
    dataDir,
    reopen: async () => {
      await docent.close();
      docent = await open();
      return docent;
    },
    dispose: async () => {
      await docent.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
