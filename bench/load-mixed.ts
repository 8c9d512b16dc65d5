import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { seededRandom } from '../test/reliability/parse-fuzz.ts';
import { freePort, ServerProcess } from '../test/reliability/server-process.ts';

export type LoadKind = 'search' | 'ask' | 'upload';

export interface MixedLoadOptions {
  /** Length of each run, in milliseconds; 60 s for the benchmark. */
  readonly durationMs?: number;
  /** Concurrent clients, each sending one request at a time. */
  readonly clients?: number;
  /** Runs on the same server; RSS growth compares the last run with the first. */
  readonly runs?: number;
  /** Share of each request kind; the rest of 1 after search and ask is uploads. */
  readonly searchShare?: number;
  readonly askShare?: number;
  /** DOCENT_EMBEDDER of the server; `hash:256` keeps the load on the server rather than the model. */
  readonly embedder?: string;
  readonly seed?: number;
}

export interface KindStats {
  readonly requests: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
}

export interface MixedLoadRun {
  readonly requests: number;
  readonly errors: number;
  readonly requestsPerSecond: number;
  readonly byKind: Record<LoadKind, KindStats>;
  /** Resident set size of the server process after the run and its ingest jobs finished, in MiB. */
  readonly serverRssMb: number;
}

export interface MixedLoadReport {
  readonly clients: number;
  readonly durationMs: number;
  readonly embedder: string;
  readonly runs: MixedLoadRun[];
  /** Server RSS after the last run divided by RSS after the first. */
  readonly rssGrowth: number;
  /** Up to ten failed requests, e.g. `upload 503 {...}`. */
  readonly errorSamples: string[];
}

const QUERIES = [
  'harbour tide tables',
  'when does the ferry leave',
  'lighthouse keeper duties',
  'storm warning procedure',
  'cargo weight limit',
  'ship inspection checklist',
];

function seedText(index: number): string {
  return [
    `# Harbour note ${index}`,
    `The ferry number ${index} leaves at ${6 + (index % 12)} o'clock when the tide is high.`,
    `Storm warnings are raised by the lighthouse keeper of pier ${index}.`,
    `Cargo over ${index + 10} tonnes needs an inspection checklist signed by the harbour master.`,
  ].join('\n\n');
}

/**
 * Starts `docent serve` on a free 127.0.0.1 port with a fresh data folder and the extractive
 * answerer, then runs `clients` concurrent clients that mix search, ask and upload requests for
 * `durationMs`, `runs` times. Reports requests, errors (any status but 2xx, or a failed
 * connection), latency per kind and the server's RSS after each run.
 */
export async function runMixedLoad(options: MixedLoadOptions = {}): Promise<MixedLoadReport> {
  const durationMs = options.durationMs ?? 60_000;
  const clients = options.clients ?? 50;
  const runCount = options.runs ?? 2;
  const searchShare = options.searchShare ?? 0.6;
  const askShare = options.askShare ?? 0.3;
  const embedder = options.embedder ?? 'hash:256';
  const random = seededRandom(options.seed ?? 42);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'docent-load-'));
  const server = new ServerProcess(await freePort(), {
    DOCENT_DATA_DIR: dataDir,
    DOCENT_EMBEDDER: embedder,
    DOCENT_GENERATOR: 'extractive',
    DOCENT_RATE_LIMIT_PER_MINUTE: '0',
    DOCENT_LOG_LEVEL: 'warn',
  });
  const errorSamples: string[] = [];
  let uploads = 0;

  try {
    await server.start();
    const seedForm = new FormData();
    seedForm.set('collection', 'load');
    for (let index = 0; index < 20; index += 1)
      seedForm.append('files', new Blob([seedText(index)]), `harbour-${index}.txt`);
    const seeded = await server.call('POST', '/documents', seedForm);
    if (seeded.status !== 202)
      throw new Error(`Seeding the load collection failed: ${JSON.stringify(seeded.body)}`);
    await settle(server);

    const runs: MixedLoadRun[] = [];
    for (let run = 0; run < runCount; run += 1) {
      const latencies: Record<LoadKind, number[]> = { search: [], ask: [], upload: [] };
      const errors: Record<LoadKind, number> = { search: 0, ask: 0, upload: 0 };
      const deadline = Date.now() + durationMs;

      const client = async (): Promise<void> => {
        while (Date.now() < deadline) {
          const draw = random();
          let kind: LoadKind = 'upload';
          if (draw < searchShare) kind = 'search';
          else if (draw < searchShare + askShare) kind = 'ask';
          const query = QUERIES[Math.floor(random() * QUERIES.length)]!;
          const started = performance.now();
          let status = 0;
          let detail = '';
          try {
            if (kind === 'search') {
              ({ status } = await server.call('POST', '/search', { query, collection: 'load', topK: 5 }));
            } else if (kind === 'ask') {
              ({ status } = await server.call('POST', '/ask', { question: `${query}?`, collection: 'load' }));
            } else {
              uploads += 1;
              const form = new FormData();
              form.set('collection', 'load');
              form.append(
                'files',
                new Blob([`${seedText(1000 + uploads)}\n\nUpload ${uploads} of run ${run}.`]),
                `upload-${uploads}.txt`,
              );
              const response = await server.call('POST', '/documents', form);
              status = response.status;
              detail = JSON.stringify(response.body).slice(0, 200);
            }
          } catch (error) {
            detail = (error as Error).message;
          }
          latencies[kind].push(performance.now() - started);
          if (status < 200 || status >= 300) {
            errors[kind] += 1;
            if (errorSamples.length < 10) errorSamples.push(`${kind} ${status} ${detail}`);
          }
        }
      };
      const started = Date.now();
      await Promise.all(Array.from({ length: clients }, client));
      const elapsedMs = Date.now() - started;
      await settle(server);
      await new Promise((resolve) => setTimeout(resolve, 1000));

      const byKind = Object.fromEntries(
        (['search', 'ask', 'upload'] as const).map((kind) => [
          kind,
          kindStats(latencies[kind], errors[kind]),
        ]),
      ) as Record<LoadKind, KindStats>;
      const requests = Object.values(latencies).reduce((sum, list) => sum + list.length, 0);
      runs.push({
        requests,
        errors: Object.values(errors).reduce((sum, count) => sum + count, 0),
        requestsPerSecond: requests / (elapsedMs / 1000),
        byKind,
        serverRssMb: residentMb(server.pid),
      });
    }
    const first = runs[0]?.serverRssMb ?? 0;
    const last = runs.at(-1)?.serverRssMb ?? 0;
    return {
      clients,
      durationMs,
      embedder,
      runs,
      rssGrowth: first > 0 ? last / first : Number.NaN,
      errorSamples,
    };
  } finally {
    await server.stop(30_000);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Waits until no document of the load collection is queued or processing. */
async function settle(server: ServerProcess): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    let pending = 0;
    for (const status of ['queued', 'processing']) {
      const response = await server.call('GET', `/documents?collection=load&limit=1000&status=${status}`);
      pending += (response.body as { documents: unknown[] }).documents.length;
    }
    if (pending === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('Ingest of the load uploads did not finish within 120 s');
}

function kindStats(latencies: number[], errors: number): KindStats {
  const sorted = [...latencies].sort((left, right) => left - right);
  const at = (quantile: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))] ?? 0;
  return { requests: sorted.length, errors, p50Ms: at(0.5), p95Ms: at(0.95) };
}

/** Reads VmRSS of a process from /proc (Linux), in MiB; 0 where /proc is missing. */
function residentMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kilobytes = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? 0);
    return kilobytes / 1024;
  } catch {
    return 0;
  }
}
