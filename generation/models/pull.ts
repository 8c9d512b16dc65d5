import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { DocentError } from '../../core/errors.ts';
import { dtypeFileSuffix, type GenerationDtype } from '../llm/dtypes.ts';
import { resolvePreset } from './presets.ts';

export interface PullOptions {
  /** Preset name (`qwen2.5-0.5b`) or repository id (`org/name`). */
  readonly model: string;
  readonly modelsDir: string;
  /** Base URL of a Hugging Face-compatible hub (HF_ENDPOINT). */
  readonly endpoint: string;
  /** Weight variant; defaults to the preset's, else `q4`. */
  readonly dtype?: GenerationDtype;
  readonly revision?: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: PullProgress) => void;
  /** Replaceable for tests; defaults to the global fetch. */
  readonly fetch?: typeof fetch;
}

export interface PullProgress {
  readonly file: string;
  readonly receivedBytes: number;
  readonly totalBytes: number | undefined;
}

export interface PulledFile {
  readonly path: string;
  readonly bytes: number;
  /** `skipped`: already present and verified; `resumed`: continued a partial download. */
  readonly status: 'downloaded' | 'resumed' | 'skipped';
  readonly sha256Verified: boolean;
}

export interface PullResult {
  readonly id: string;
  readonly directory: string;
  readonly dtype: GenerationDtype;
  readonly files: readonly PulledFile[];
}

interface Sibling {
  readonly rfilename: string;
  readonly size?: number;
  readonly lfs?: { readonly sha256?: string; readonly oid?: string; readonly size?: number };
}

const REQUIRED_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];
const OPTIONAL_FILES = [
  'generation_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'chat_template.json',
];
const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/**
 * Downloads a model in the Transformers.js layout into `<modelsDir>/<org>/<name>`: the tokenizer
 * and config files and the ONNX weights of one dtype (with their external data files). Lists the
 * repository with `GET /api/models/<id>?blobs=true`, fetches `/<id>/resolve/<revision>/<file>`,
 * resumes partial files with HTTP Range requests, checks sizes and the LFS sha256 where the
 * listing gives them, and moves each file into place only when complete.
 *
 * Raises NOT_FOUND for an unknown repository or a missing weight file, INTERNAL for a failed
 * transfer or a checksum mismatch, CANCELLED when the signal aborts.
 */
export async function pullModel(options: PullOptions): Promise<PullResult> {
  const { id, dtype: presetDtype } = resolvePreset(options.model);
  if (!REPO_ID.test(id) || id.includes('..')) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      `Model "${options.model}" is neither a preset name nor an org/name repository id.`,
    );
  }
  const dtype = options.dtype ?? presetDtype ?? 'q4';
  const revision = options.revision ?? 'main';
  const fetchFn = options.fetch ?? fetch;
  const endpoint = options.endpoint.replace(/\/+$/, '');
  const directory = path.join(options.modelsDir, ...id.split('/'));

  const siblings = await listRepository(fetchFn, endpoint, id, revision, options.signal);
  const selected = selectFiles(siblings, dtype, id);

  const files: PulledFile[] = [];
  for (const sibling of selected) {
    const url = `${endpoint}/${id}/resolve/${encodeURIComponent(revision)}/${sibling.rfilename.split('/').map(encodeURIComponent).join('/')}`;
    files.push(
      await downloadFile(
        fetchFn,
        url,
        path.join(directory, ...sibling.rfilename.split('/')),
        sibling,
        options,
      ),
    );
  }
  return { id, directory, dtype, files };
}

async function listRepository(
  fetchFn: typeof fetch,
  endpoint: string,
  id: string,
  revision: string,
  signal: AbortSignal | undefined,
): Promise<Sibling[]> {
  const revisionPath = revision === 'main' ? '' : `/revision/${encodeURIComponent(revision)}`;
  const url = `${endpoint}/api/models/${id}${revisionPath}?blobs=true`;
  const response = await request(fetchFn, url, { signal });
  if (response.status === 404 || response.status === 401) {
    throw new DocentError(
      'NOT_FOUND',
      `Model repository ${id} was not found at ${endpoint} (HTTP ${response.status}); check the id or HF_ENDPOINT.`,
    );
  }
  if (!response.ok) throw new DocentError('INTERNAL', `Listing ${url} failed with HTTP ${response.status}.`);
  const body = (await response.json()) as { siblings?: Sibling[] };
  if (!Array.isArray(body.siblings))
    throw new DocentError('INTERNAL', `The listing at ${url} has no "siblings" file list.`);
  return body.siblings;
}

function selectFiles(siblings: readonly Sibling[], dtype: GenerationDtype, id: string): Sibling[] {
  const byName = new Map(siblings.map((sibling) => [sibling.rfilename, sibling]));
  const weights = `onnx/model${dtypeFileSuffix[dtype]}.onnx`;
  const missing = [...REQUIRED_FILES, weights].filter((file) => !byName.has(file));
  if (missing.length > 0) {
    const variants = siblings
      .map((sibling) => sibling.rfilename)
      .filter((file) => /^onnx\/model.*\.onnx$/.test(file));
    throw new DocentError(
      'NOT_FOUND',
      `Model ${id} lacks ${missing.join(', ')}. ONNX weights available: ${variants.join(', ') || 'none'}; pick another dtype (DOCENT_GENERATION_DTYPE) or model.`,
    );
  }
  const externalData = siblings.filter((sibling) => sibling.rfilename.startsWith(`${weights}_data`));
  return [...REQUIRED_FILES, ...OPTIONAL_FILES, weights]
    .map((file) => byName.get(file))
    .filter((sibling): sibling is Sibling => sibling !== undefined)
    .concat(externalData);
}

async function downloadFile(
  fetchFn: typeof fetch,
  url: string,
  target: string,
  sibling: Sibling,
  options: PullOptions,
): Promise<PulledFile> {
  const expectedSize = sibling.lfs?.size ?? sibling.size;
  const expectedSha = sibling.lfs?.sha256 ?? (sibling.lfs?.oid?.length === 64 ? sibling.lfs.oid : undefined);
  const partial = `${target}.part`;
  await mkdir(path.dirname(target), { recursive: true });

  // A complete file from an earlier pull is kept when it still matches the listing.
  const existing = await fileSize(target);
  if (existing !== undefined && (expectedSize === undefined || existing === expectedSize)) {
    if (expectedSha === undefined || (await sha256OfFile(target)) === expectedSha) {
      return {
        path: sibling.rfilename,
        bytes: existing,
        status: 'skipped',
        sha256Verified: expectedSha !== undefined,
      };
    }
  }

  let offset = (await fileSize(partial)) ?? 0;
  if (expectedSize !== undefined && offset > expectedSize) {
    await rm(partial, { force: true });
    offset = 0;
  }
  const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
  const response = await request(fetchFn, url, { headers, signal: options.signal });
  if (response.status === 416 && expectedSize !== undefined && offset === expectedSize) {
    await response.body?.cancel();
  } else {
    if (!response.ok || response.body === null) {
      throw new DocentError('INTERNAL', `Downloading ${url} failed with HTTP ${response.status}.`);
    }
    // A server that ignores Range sends the whole file with 200: start over.
    const resuming = offset > 0 && response.status === 206;
    if (!resuming) offset = 0;
    const lengthHeader = response.headers.get('content-length');
    const totalBytes = expectedSize ?? (lengthHeader === null ? undefined : offset + Number(lengthHeader));
    let received = offset;
    const progress = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        options.onProgress?.({ file: sibling.rfilename, receivedBytes: received, totalBytes });
        callback(null, chunk);
      },
    });
    try {
      await pipeline(
        Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
        progress,
        createWriteStream(partial, { flags: resuming ? 'a' : 'w' }),
        options.signal === undefined ? {} : { signal: options.signal },
      );
    } catch (error) {
      if (options.signal?.aborted === true)
        throw new DocentError(
          'CANCELLED',
          `Download of ${sibling.rfilename} was cancelled; run the pull again to resume.`,
          { cause: error },
        );
      throw new DocentError(
        'INTERNAL',
        `Download of ${sibling.rfilename} was interrupted after ${received} bytes; run the pull again to resume.`,
        { cause: error },
      );
    }
  }

  const bytes = (await fileSize(partial)) ?? 0;
  if (expectedSize !== undefined && bytes !== expectedSize) {
    throw new DocentError(
      'INTERNAL',
      `${sibling.rfilename} has ${bytes} bytes but the listing says ${expectedSize}; run the pull again to resume.`,
    );
  }
  if (expectedSha !== undefined) {
    const actual = await sha256OfFile(partial);
    if (actual !== expectedSha) {
      await rm(partial, { force: true });
      throw new DocentError(
        'INTERNAL',
        `${sibling.rfilename} failed its checksum: sha256 ${actual}, expected ${expectedSha}. The partial file was deleted; run the pull again.`,
      );
    }
  }
  await rename(partial, target);
  return {
    path: sibling.rfilename,
    bytes,
    status: offset > 0 ? 'resumed' : 'downloaded',
    sha256Verified: expectedSha !== undefined,
  };
}

async function request(
  fetchFn: typeof fetch,
  url: string,
  init: { headers?: Record<string, string>; signal?: AbortSignal | undefined },
): Promise<Response> {
  try {
    return await fetchFn(url, {
      headers: init.headers ?? {},
      redirect: 'follow',
      ...(init.signal === undefined ? {} : { signal: init.signal }),
    });
  } catch (error) {
    if (init.signal?.aborted === true)
      throw new DocentError('CANCELLED', `Request to ${url} was cancelled.`, { cause: error });
    throw new DocentError(
      'INTERNAL',
      `Request to ${url} failed: ${error instanceof Error ? error.message : String(error)}; check HF_ENDPOINT and the network.`,
      { cause: error },
    );
  }
}

async function fileSize(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch {
    return undefined;
  }
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}
