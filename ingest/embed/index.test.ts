import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DocentError } from '../../core/errors.ts';
import { buildTinyEncoder } from '../../test/fixtures/tiny-encoder.ts';
import { createEmbedder } from './index.ts';

describe('createEmbedder', () => {
  let modelsDir: string;

  beforeAll(async () => {
    modelsDir = await mkdtemp(path.join(tmpdir(), 'docent-models-'));
    await buildTinyEncoder(path.join(modelsDir, 'test-org', 'tiny-encoder'));
  });

  afterAll(async () => {
    await rm(modelsDir, { recursive: true, force: true });
  });

  it('creates a hash embedder', async () => {
    const embedder = await createEmbedder('hash:96', { modelsDir, batchSize: 8 });
    expect(embedder.id).toBe('hash:96');
    expect(embedder.dimension).toBe(96);
  });

  it.each(['use-lite', 'use-lite-windowed'])('creates %s on one or more threads', async (spec) => {
    const single = await createEmbedder(spec, { modelsDir, batchSize: 8 });
    const threaded = await createEmbedder(spec, { modelsDir, batchSize: 8, threads: 2 });
    expect(single.constructor.name).toBe('UseLiteEmbedder');
    expect(threaded.constructor.name).toBe('ThreadedUseLiteEmbedder');
    for (const embedder of [single, threaded]) {
      expect(embedder.id).toBe(spec);
      expect(embedder.dimension).toBe(512);
      await embedder.close();
    }
  });

  it('resolves org/name under modelsDir', async () => {
    const embedder = await createEmbedder('transformers:test-org/tiny-encoder', { modelsDir, batchSize: 8 });
    expect(embedder.id).toBe('transformers:test-org/tiny-encoder');
    expect(embedder.dimension).toBe(32);
    await embedder.close();
  });

  it('accepts an absolute model directory', async () => {
    const directory = path.join(modelsDir, 'test-org', 'tiny-encoder');
    const embedder = await createEmbedder(`transformers:${directory}`, {
      modelsDir: '/nonexistent',
      batchSize: 8,
    });
    expect(embedder.id).toBe(`transformers:${directory}`);
    await embedder.close();
  });

  it.each([
    ['', /Unknown embedder spec ""/],
    ['use-full', /Unknown embedder spec "use-full".*use-lite/],
    ['hash:', /invalid dimension ""/],
    ['hash:12x', /invalid dimension "12x"/],
    ['hash:1', /dimension \(1\)/],
    ['transformers:', /names no model/],
    ['transformers:org/../../outside', /outside DOCENT_MODELS_DIR/],
  ])('rejects spec %j', async (spec, message) => {
    await expectDocentError(createEmbedder(spec, { modelsDir, batchSize: 8 }), 'INVALID_ARGUMENT', message);
  });

  it('rejects a missing model directory', async () => {
    const promise = createEmbedder('transformers:test-org/absent', { modelsDir, batchSize: 8 });
    await expectDocentError(promise, 'MODEL_NOT_FOUND', path.join(modelsDir, 'test-org', 'absent'));
  });

  it('rejects a directory without config.json', async () => {
    await mkdir(path.join(modelsDir, 'empty-model'));
    await writeFile(path.join(modelsDir, 'empty-model', 'README.md'), 'not a model');
    await expectDocentError(
      createEmbedder('transformers:empty-model', { modelsDir, batchSize: 8 }),
      'MODEL_NOT_FOUND',
      'config.json',
    );
  });

  it('rejects an invalid batch size', async () => {
    await expectDocentError(
      createEmbedder('hash:8', { modelsDir, batchSize: 0 }),
      'INVALID_ARGUMENT',
      'batchSize (0)',
    );
  });
});

/** Awaits `promise` and checks that it rejects with a DocentError of `code` whose message matches. */
async function expectDocentError(
  promise: Promise<unknown>,
  code: string,
  message: RegExp | string,
): Promise<void> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(DocentError);
  expect((error as DocentError).code).toBe(code);
  expect((error as DocentError).message).toMatch(message);
}
