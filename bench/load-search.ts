import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { startDocentServer } from '../test/e2e/docent-process.ts';

export interface SearchLoadOptions {
  /** Base URL of a running server on this machine, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  readonly key: string;
  readonly collection: string;
  /** Queries sent in turn; each request takes the next one. */
  readonly queries: readonly string[];
  readonly connections?: number;
  readonly durationSeconds?: number;
  readonly topK?: number;
}

export interface SearchLoadResult {
  readonly connections: number;
  readonly durationSeconds: number;
  readonly requests: number;
  readonly requestsPerSecond: number;
  /** Latency percentiles in milliseconds. */
  readonly latencyMs: {
    readonly p50: number;
    readonly p95: number;
    readonly p99: number;
    readonly max: number;
  };
  /** Connection errors and timeouts. */
  readonly errors: number;
  readonly timeouts: number;
  /** Responses with a status other than 2xx. */
  readonly non2xx: number;
}

/**
 * Sends `POST /v1/search` from `connections` concurrent clients for `durationSeconds` with
 * autocannon and returns latency percentiles and error counts. Only for servers on loopback.
 */
export async function runSearchLoad(options: SearchLoadOptions): Promise<SearchLoadResult> {
  const target = new URL(options.url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname)) {
    throw new Error(`Refusing to load ${options.url}: the load run only targets servers on loopback.`);
  }
  if (options.queries.length === 0) throw new Error('runSearchLoad needs at least one query.');
  const connections = options.connections ?? 50;
  const durationSeconds = options.durationSeconds ?? 60;
  let next = 0;

  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections,
        duration: durationSeconds,
        timeout: 30,
        requests: [
          {
            method: 'POST',
            path: '/v1/search',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${options.key}` },
            setupRequest: (request) => {
              const query = options.queries[next % options.queries.length] ?? '';
              next += 1;
              return {
                ...request,
                body: JSON.stringify({ query, collection: options.collection, topK: options.topK ?? 10 }),
              };
            },
          },
        ],
      },
      (error, finished) =>
        error === null || error === undefined ? resolve(finished) : reject(error as Error),
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => latencies.push(responseTime));
  });
  latencies.sort((left, right) => left - right);

  return {
    connections,
    durationSeconds,
    requests: result.requests.total,
    requestsPerSecond: result.requests.average,
    latencyMs: {
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      max: latencies.at(-1) ?? 0,
    },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
  };
}

/** Nearest-rank percentile of sorted values; 0 for no values. */
function percentile(sorted: readonly number[], value: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((value / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? 0;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SCIFACT = path.resolve(ROOT, '../shared/data/scifact');

/** Abstracts and claims of SciFact when present, else a generated corpus, so the run works on a fresh clone. */
function loadCorpus(abstracts: number): {
  documents: Array<{ name: string; text: string }>;
  queries: string[];
} {
  if (existsSync(path.join(SCIFACT, 'corpus.jsonl'))) {
    const lines = readFileSync(path.join(SCIFACT, 'corpus.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .slice(0, abstracts);
    const records = lines.map((line) => JSON.parse(line) as { _id: string; title: string; text: string });
    const perFile = 50;
    const documents = [];
    for (let start = 0; start < records.length; start += perFile) {
      const text = records
        .slice(start, start + perFile)
        .map((record) => `# ${record.title}\n\n${record.text}\n`)
        .join('\n');
      documents.push({ name: `scifact-${start / perFile + 1}.md`, text });
    }
    const queries = readFileSync(path.join(SCIFACT, 'queries.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { text: string }).text);
    return { documents, queries };
  }
  console.warn(`${SCIFACT} is absent; loading a generated corpus instead.`);
  const topics = ['harbour', 'lighthouse', 'tide', 'compass', 'sail', 'anchor', 'rudder', 'keel'];
  const documents = topics.map((topic, index) => ({
    name: `${topic}.md`,
    text: Array.from(
      { length: 40 },
      (_, line) =>
        `The ${topic} note ${line} mentions ${topics[(index + line) % topics.length]} and weather.`,
    ).join('\n\n'),
  }));
  return { documents, queries: topics.map((topic) => `what about the ${topic}`) };
}

/**
 * Starts a server on loopback with a temporary data folder, ingests a corpus through the API,
 * runs the load and prints the result as JSON.
 * Usage: npx tsx bench/load-search.ts [connections] [seconds] [abstracts]
 */
async function main(): Promise<void> {
  const [connections = 50, durationSeconds = 60, abstracts = 1000] = process.argv.slice(2).map(Number);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'docent-load-'));
  const server = await startDocentServer({
    DOCENT_DATA_DIR: dataDir,
    DOCENT_RATE_LIMIT_PER_MINUTE: '0',
    DOCENT_LOG_LEVEL: 'warn',
  });
  try {
    const corpus = loadCorpus(abstracts);
    const form = new FormData();
    form.append('collection', 'load');
    for (const document of corpus.documents) form.append('files', new Blob([document.text]), document.name);
    const started = Date.now();
    const upload = await fetch(`${server.url}/v1/documents`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${server.key}` },
      body: form,
    });
    if (upload.status !== 202) throw new Error(`Upload failed with ${upload.status}: ${await upload.text()}`);
    await waitUntilIndexed(server.url, server.key, corpus.documents.length);
    const collections = (await (
      await fetch(`${server.url}/v1/collections`, { headers: { Authorization: `Bearer ${server.key}` } })
    ).json()) as { collections: Array<{ name: string; chunkCount: number }> };
    const chunks = collections.collections.find((collection) => collection.name === 'load')?.chunkCount ?? 0;
    console.error(
      `Indexed ${corpus.documents.length} files (${chunks} chunks) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );

    const result = await runSearchLoad({
      url: server.url,
      key: server.key,
      collection: 'load',
      queries: corpus.queries,
      connections,
      durationSeconds,
    });
    console.log(JSON.stringify({ chunks, ...result }, null, 2));
  } catch (error) {
    console.error(`The server printed:\n${server.output().slice(-4000)}`);
    throw error;
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function waitUntilIndexed(url: string, key: string, count: number): Promise<void> {
  const deadline = Date.now() + 30 * 60_000;
  while (Date.now() < deadline) {
    // Embedding in the server process can stall it for seconds; a failed poll is simply repeated.
    const response = await fetch(`${url}/v1/documents?collection=load`, {
      headers: { Authorization: `Bearer ${key}` },
    }).catch(() => undefined);
    if (response === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    const { documents } = (await response.json()) as {
      documents: Array<{ status: string; errorMessage: string | null }>;
    };
    const failed = documents.filter((document) => document.status === 'failed');
    if (failed.length > 0)
      throw new Error(`Ingest failed: ${failed.map((document) => document.errorMessage).join('; ')}`);
    if (documents.filter((document) => document.status === 'indexed').length === count) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error('Ingest did not finish within 30 minutes');
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
