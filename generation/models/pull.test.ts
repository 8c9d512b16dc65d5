import { createHash } from 'node:crypto';
import { readFile, mkdtemp, rm, stat, readdir, writeFile, mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildTinyCausalLm } from '../../test/fixtures/tiny-causal-lm.ts';
import { listModels } from './list.ts';
import { pullModel } from './pull.ts';

const REPO = 'fixture-org/tiny-chat';

interface ServedFile {
  readonly name: string;
  readonly data: Buffer;
}

/** A loopback stand-in for the hub: the repository listing, file downloads with Range, and fault injection. */
class FakeHub {
  server: Server | undefined;
  files: ServedFile[] = [];
  requests: { url: string; range: string | undefined }[] = [];
  /** File whose next download is cut off after this many bytes. */
  interrupt: { name: string; afterBytes: number } | undefined;
  /** Sha256 reported for these files instead of the real one. */
  wrongSha = new Set<string>();

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((request, response) => this.handle(request, response));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    this.requests.push({ url: url.pathname, range: request.headers.range });

    if (url.pathname === `/api/models/${REPO}`) {
      const siblings = this.files.map((file) => ({
        rfilename: file.name,
        size: file.data.length,
        ...(file.name.endsWith('.onnx')
          ? {
              lfs: {
                sha256: this.wrongSha.has(file.name)
                  ? '0'.repeat(64)
                  : createHash('sha256').update(file.data).digest('hex'),
                size: file.data.length,
              },
            }
          : {}),
      }));
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ id: REPO, siblings }));
      return;
    }

    const prefix = `/${REPO}/resolve/main/`;
    const file = this.files.find((item) => url.pathname === prefix + item.name);
    if (file === undefined) {
      response.writeHead(404).end('not found');
      return;
    }

    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    if (range !== null) start = Number(range[1]);
    const body = file.data.subarray(start);
    response.writeHead(range === null ? 200 : 206, {
      'content-length': String(body.length),
      ...(range === null
        ? {}
        : { 'content-range': `bytes ${start}-${file.data.length - 1}/${file.data.length}` }),
    });
    if (this.interrupt?.name === file.name) {
      const cut = this.interrupt.afterBytes;
      this.interrupt = undefined;
      // The pause lets the client receive the first bytes before the connection drops.
      response.write(body.subarray(0, cut), () => setTimeout(() => response.destroy(), 200));
      return;
    }
    response.end(body);
  }
}

describe('pullModel against a loopback hub', () => {
  const hub = new FakeHub();
  let fixtureDir: string;
  let modelsDir: string;

  beforeAll(async () => {
    fixtureDir = await mkdtemp(path.join(tmpdir(), 'docent-hub-'));
    const fixture = await buildTinyCausalLm({
      modelsDir: fixtureDir,
      id: REPO,
      corpus: ['hello world'],
      behaviour: { kind: 'copy' },
      variants: ['q4', 'fp32'],
    });
    for (const name of [
      'config.json',
      'generation_config.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'onnx/model_q4.onnx',
      'onnx/model.onnx',
    ]) {
      hub.files.push({ name, data: await readFile(path.join(fixture.directory, name)) });
    }
    await hub.start();
  });
  afterAll(async () => {
    await hub.stop();
    await rm(fixtureDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    modelsDir = await mkdtemp(path.join(tmpdir(), 'docent-pulled-'));
    hub.requests = [];
    hub.wrongSha.clear();
    hub.interrupt = undefined;
  });

  it('downloads the files of one dtype and verifies them', async () => {
    const result = await pullModel({ model: REPO, modelsDir, endpoint: hub.endpoint, dtype: 'q4' });
    expect(result.files.map((file) => file.path).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'onnx/model_q4.onnx',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    expect(result.files.find((file) => file.path === 'onnx/model_q4.onnx')?.sha256Verified).toBe(true);
    const served = hub.files.find((file) => file.name === 'onnx/model_q4.onnx')?.data;
    expect(await readFile(path.join(modelsDir, REPO, 'onnx/model_q4.onnx'))).toEqual(served);

    const models = await listModels(modelsDir);
    expect(models.map((model) => [model.id, model.dtypes])).toEqual([[REPO, ['q4']]]);

    const again = await pullModel({ model: REPO, modelsDir, endpoint: hub.endpoint, dtype: 'q4' });
    expect(again.files.every((file) => file.status === 'skipped')).toBe(true);
  });

  it('resumes an interrupted download with a Range request', async () => {
    const weights = hub.files.find((file) => file.name === 'onnx/model_q4.onnx');
    hub.interrupt = { name: 'onnx/model_q4.onnx', afterBytes: 4096 };
    await expect(pullModel({ model: REPO, modelsDir, endpoint: hub.endpoint })).rejects.toMatchObject({
      code: 'INTERNAL',
    });
    const partial = await stat(path.join(modelsDir, REPO, 'onnx/model_q4.onnx.part'));
    expect(partial.size).toBeGreaterThan(0);
    expect(partial.size).toBeLessThan(weights?.data.length ?? 0);

    const result = await pullModel({ model: REPO, modelsDir, endpoint: hub.endpoint });
    expect(result.files.find((file) => file.path === 'onnx/model_q4.onnx')?.status).toBe('resumed');
    expect(hub.requests.some((request) => request.range === `bytes=${partial.size}-`)).toBe(true);
    expect(await readFile(path.join(modelsDir, REPO, 'onnx/model_q4.onnx'))).toEqual(weights?.data);
    expect(await readdir(path.join(modelsDir, REPO, 'onnx'))).toEqual(['model_q4.onnx']);
  });

  it('rejects a file whose sha256 does not match and leaves no file behind', async () => {
    hub.wrongSha.add('onnx/model_q4.onnx');
    await expect(pullModel({ model: REPO, modelsDir, endpoint: hub.endpoint })).rejects.toThrow(/checksum/);
    expect(await readdir(path.join(modelsDir, REPO, 'onnx'))).toEqual([]);
  });

  it('names the available variants when the dtype is missing', async () => {
    await expect(
      pullModel({ model: REPO, modelsDir, endpoint: hub.endpoint, dtype: 'fp16' }),
    ).rejects.toThrow(/onnx\/model_q4\.onnx/);
  });

  it('reports an unknown repository as NOT_FOUND', async () => {
    await expect(
      pullModel({ model: 'fixture-org/missing', modelsDir, endpoint: hub.endpoint }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('rejects an id that is not org/name', async () => {
    await expect(pullModel({ model: '../etc', modelsDir, endpoint: hub.endpoint })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

describe('listModels', () => {
  it('skips directories without a causal LM layout', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'docent-list-'));
    await mkdir(path.join(dir, 'org', 'embedder', 'onnx'), { recursive: true });
    await writeFile(path.join(dir, 'org', 'embedder', 'config.json'), '{}');
    expect(await listModels(dir)).toEqual([]);
    expect(await listModels(path.join(dir, 'absent'))).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });
});
