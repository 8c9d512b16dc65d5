import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DocentError } from '../../core/errors.ts';
import { buildTinyEncoder, type TinyEncoder } from '../../test/fixtures/tiny-encoder.ts';
import { describeEmbedderConformance } from './conformance.ts';
import { TransformersEmbedder } from './transformers-embedder.ts';
import { dot } from './vector.ts';

const encoderPromise = buildTinyEncoder();

const load = async (
  options: Partial<Parameters<typeof TransformersEmbedder.load>[0]> = {},
): Promise<TransformersEmbedder> => {
  const encoder = await encoderPromise;
  return TransformersEmbedder.load({
    modelDirectory: encoder.directory,
    name: 'tiny',
    batchSize: 3,
    pooling: 'mean',
    prefix: 'none',
    ...options,
  });
};

describeEmbedderConformance('TransformersEmbedder (mean pooling)', () => load({ pooling: 'mean' }));
describeEmbedderConformance('TransformersEmbedder (CLS pooling)', () => load({ pooling: 'cls' }));
describeEmbedderConformance('TransformersEmbedder (e5 prefixes)', () => load({ prefix: 'e5' }));

describe('TransformersEmbedder', () => {
  let encoder: TinyEncoder;

  beforeAll(async () => {
    encoder = await encoderPromise;
  });

  afterAll(async () => {
    await rm(encoder.directory, { recursive: true, force: true });
  });

  it('reads dimension and maximum length from the model', async () => {
    const embedder = await load();
    expect(embedder.id).toBe('transformers:tiny');
    expect(embedder.dimension).toBe(32);
    expect(embedder.maxTokens).toBe(64);
    await embedder.close();
  });

  it('pools differently with mean and CLS', async () => {
    const mean = await load({ pooling: 'mean' });
    const cls = await load({ pooling: 'cls' });
    const [meanVector] = await mean.embed(['the cat sat on the mat'], 'document');
    const [clsVector] = await cls.embed(['the cat sat on the mat'], 'document');
    expect(dot(meanVector ?? new Float32Array(), clsVector ?? new Float32Array())).toBeLessThan(0.999);
  });

  it('prefixes e5 queries and passages', async () => {
    const plain = await load({ prefix: 'none' });
    const e5 = await load({ prefix: 'e5' });
    const text = 'the cat sat on the mat';
    const [plainVector] = await plain.embed([text], 'query');
    const [prefixedByHand] = await plain.embed([`query: ${text}`], 'document');
    const [query] = await e5.embed([text], 'query');
    const [passage] = await e5.embed([text], 'document');
    const [passageByHand] = await plain.embed([`passage: ${text}`], 'document');

    expect(Array.from(query ?? [])).toEqual(Array.from(prefixedByHand ?? []));
    expect(Array.from(passage ?? [])).toEqual(Array.from(passageByHand ?? []));
    expect(Array.from(query ?? [])).not.toEqual(Array.from(plainVector ?? []));
  });

  it('detects pooling and prefixes from the model', async () => {
    const directory = path.join(
      encoder.directory,
      '..',
      `${path.basename(encoder.directory)}-bge-small-en-v1.5`,
    );
    await cp(encoder.directory, directory, { recursive: true });
    const bge = await load({
      modelDirectory: directory,
      name: 'BAAI/bge-small-en-v1.5',
      pooling: 'auto',
      prefix: 'auto',
    });
    expect(bge.pooling).toBe('cls');
    expect(bge.prefixes.query).toMatch(/^Represent this sentence/);

    await mkdir(path.join(directory, '1_Pooling'));
    await writeFile(
      path.join(directory, '1_Pooling', 'config.json'),
      JSON.stringify({ pooling_mode_cls_token: false, pooling_mode_mean_tokens: true }),
    );
    const e5 = await load({
      modelDirectory: directory,
      name: 'intfloat/e5-small-v2',
      pooling: 'auto',
      prefix: 'auto',
    });
    expect(e5.pooling).toBe('mean');
    expect(e5.prefixes).toEqual({ query: 'query: ', document: 'passage: ' });
    await rm(directory, { recursive: true, force: true });
  });

  it('rejects a directory without an ONNX model', async () => {
    const directory = `${encoder.directory}-no-onnx`;
    await cp(encoder.directory, directory, { recursive: true });
    await rm(path.join(directory, 'onnx'), { recursive: true });
    const error: unknown = await load({ modelDirectory: directory }).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(DocentError);
    expect((error as DocentError).code).toBe('MODEL_NOT_FOUND');
    expect((error as DocentError).message).toContain('model.onnx');
    await rm(directory, { recursive: true, force: true });
  });

  it('rejects use after close', async () => {
    const embedder = await load();
    await embedder.close();
    await expect(embedder.embed(['text'], 'document')).rejects.toThrow(/closed/);
  });
});
