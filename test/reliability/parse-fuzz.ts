import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Document, HeadingLevel, Packer, Paragraph, Table, TableCell, TableRow } from 'docx';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { DocentError } from '../../core/errors.ts';
import { parseDocument, type ParseLimits } from '../../ingest/parse/index.ts';

export type FuzzFormat = 'pdf' | 'docx' | 'html' | 'csv';

export interface FuzzSeed {
  readonly name: string;
  readonly format: FuzzFormat;
  readonly bytes: Uint8Array;
}

export interface FuzzOptions {
  /** Wall-clock budget for mutating and parsing, in milliseconds. */
  readonly budgetMs: number;
  readonly seed: number;
  readonly seeds: readonly FuzzSeed[];
  readonly limits: ParseLimits;
  /** Parses in flight at once; the parse pool runs at most one worker per CPU. */
  readonly concurrency?: number;
}

export interface FuzzFailure {
  readonly name: string;
  readonly mutation: string;
  readonly reason: string;
}

export interface FuzzReport {
  readonly files: number;
  readonly parsed: number;
  /** Count of each DocentError code the parser raised. */
  readonly codes: Record<string, number>;
  /** Files that ended in anything but a parse result or a DocentError with a document code. */
  readonly failures: FuzzFailure[];
  /** The slowest single parse, in milliseconds, and the file and mutation behind it. */
  readonly slowestMs: number;
  readonly slowest: string;
  /** The first files stopped by a time, memory or size limit, with the limit's message. */
  readonly limitHits: string[];
}

/** Codes that name what is wrong with one document; INTERNAL or a plain Error would be a fault. */
export const DOCUMENT_FAILURE_CODES: ReadonlySet<string> = new Set([
  'EMPTY_DOCUMENT',
  'UNSUPPORTED_MEDIA_TYPE',
  'ENCRYPTED_DOCUMENT',
  'NEEDS_OCR',
  'UNDECODABLE_TEXT',
  'PARSE_FAILED',
  'PARSE_LIMIT_EXCEEDED',
]);

const EXTENSIONS: Record<FuzzFormat, string> = { pdf: '.pdf', docx: '.docx', html: '.html', csv: '.csv' };

/**
 * Feeds mutated copies of the seed files (byte flips, truncation, splices of two files of one
 * format, repeated or inserted ranges) through `parseDocument` until the budget is spent. The
 * mutations are drawn from a seeded generator, so a run with the same seed and seeds repeats.
 */
export async function runParseFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const byFormat = new Map<FuzzFormat, FuzzSeed[]>();
  for (const seed of options.seeds) byFormat.set(seed.format, [...(byFormat.get(seed.format) ?? []), seed]);

  const deadline = Date.now() + options.budgetMs;
  const codes: Record<string, number> = {};
  const failures: FuzzFailure[] = [];
  let files = 0;
  let parsed = 0;
  let slowestMs = 0;
  let slowest = '';
  const limitHits: string[] = [];

  const next = (): { name: string; mutation: string; bytes: Uint8Array } => {
    const seed = pick(options.seeds);
    const partner = pick(byFormat.get(seed.format) ?? [seed]);
    const { mutation, bytes } = mutate(seed.bytes, partner.bytes, random);
    return { name: `${seed.name}#${files}${EXTENSIONS[seed.format]}`, mutation, bytes };
  };

  const lane = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const input = next();
      files += 1;
      const started = Date.now();
      try {
        const document = await parseDocument({ bytes: input.bytes, filename: input.name }, options.limits);
        const problem = offsetProblem(document.text.length, document.blocks, document.pages);
        if (problem === undefined) parsed += 1;
        else failures.push({ name: input.name, mutation: input.mutation, reason: problem });
      } catch (error) {
        if (error instanceof DocentError && DOCUMENT_FAILURE_CODES.has(error.code)) {
          codes[error.code] = (codes[error.code] ?? 0) + 1;
          if (error.code === 'PARSE_LIMIT_EXCEEDED' && limitHits.length < 10)
            limitHits.push(`${input.name} (${input.mutation}): ${error.message}`);
        } else {
          const reason = error instanceof DocentError ? `${error.code}: ${error.message}` : String(error);
          failures.push({ name: input.name, mutation: input.mutation, reason });
        }
      }
      const elapsed = Date.now() - started;
      if (elapsed > slowestMs) {
        slowestMs = elapsed;
        slowest = `${input.name} (${input.mutation})`;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 2 }, lane));
  return { files, parsed, codes, failures, slowestMs, slowest, limitHits };
}

function offsetProblem(
  length: number,
  blocks: ReadonlyArray<{ start: number; end: number }>,
  pages: ReadonlyArray<{ start: number; end: number }>,
): string | undefined {
  let previous = 0;
  for (const block of blocks) {
    if (block.start < previous || block.end <= block.start || block.end > length)
      return `block ${block.start}-${block.end} is out of order or outside the text of ${length} characters`;
    previous = block.end;
  }
  for (const page of pages) {
    if (page.start > page.end || page.end > length)
      return `page span ${page.start}-${page.end} lies outside the text of ${length} characters`;
  }
  return undefined;
}

function mutate(
  bytes: Uint8Array,
  partner: Uint8Array,
  random: () => number,
): { mutation: string; bytes: Uint8Array } {
  const at = (limit: number): number => Math.floor(random() * Math.max(1, limit));
  const kind = at(5);
  if (kind === 0) {
    const copy = bytes.slice();
    const flips = 1 + at(32);
    for (let index = 0; index < flips; index += 1) copy[at(copy.length)] = at(256);
    return { mutation: `flip ${flips} bytes`, bytes: copy };
  }
  if (kind === 1) {
    const end = at(bytes.length);
    return { mutation: `truncate at ${end}`, bytes: bytes.slice(0, end) };
  }
  if (kind === 2) {
    const cut = at(bytes.length);
    const from = at(partner.length);
    const spliced = new Uint8Array(cut + partner.length - from);
    spliced.set(bytes.subarray(0, cut));
    spliced.set(partner.subarray(from), cut);
    return { mutation: `splice ${cut} + partner from ${from}`, bytes: spliced };
  }
  if (kind === 3) {
    const start = at(bytes.length);
    const end = Math.min(bytes.length, start + 1 + at(4096));
    const times = 2 + at(50);
    const range = bytes.subarray(start, end);
    const parts = [
      bytes.subarray(0, end),
      ...Array.from({ length: times - 1 }, () => range),
      bytes.subarray(end),
    ];
    return { mutation: `repeat ${start}-${end} ${times} times`, bytes: concat(parts) };
  }
  const position = at(bytes.length);
  const noise = Uint8Array.from({ length: 1 + at(512) }, () => at(256));
  return {
    mutation: `insert ${noise.length} random bytes at ${position}`,
    bytes: concat([bytes.subarray(0, position), noise, bytes.subarray(position)]),
  };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const result = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    result.set(part, offset);
    offset += part.length;
  }
  return result;
}

/** Small files of each format built in memory, so the fuzz test means something on a fresh clone. */
export async function generatedSeeds(): Promise<FuzzSeed[]> {
  const encoder = new TextEncoder();
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  for (let page = 1; page <= 3; page += 1) {
    const sheet = pdf.addPage([400, 300]);
    sheet.drawText(`Chapter ${page}`, { x: 30, y: 260, size: 16, font });
    for (let line = 0; line < 8; line += 1)
      sheet.drawText(`Line ${line} of page ${page} has ordinary words.`, {
        x: 30,
        y: 230 - line * 20,
        size: 10,
        font,
      });
  }
  const docx = await Packer.toBuffer(
    new Document({
      sections: [
        {
          children: [
            new Paragraph({ text: 'Quarterly report', heading: HeadingLevel.HEADING_1 }),
            new Paragraph('Revenue rose in the north and fell in the south.'),
            new Table({
              rows: [
                new TableRow({
                  children: ['Region', 'Revenue'].map(
                    (text) => new TableCell({ children: [new Paragraph(text)] }),
                  ),
                }),
                new TableRow({
                  children: ['North', '120'].map(
                    (text) => new TableCell({ children: [new Paragraph(text)] }),
                  ),
                }),
              ],
            }),
          ],
        },
      ],
    }),
  );
  const html = `<!DOCTYPE html><html><head><title>Fuzz page</title><meta charset="utf-8"></head><body>
<nav>Home | About</nav><main><h1>Heading</h1><p>First paragraph with <b>bold</b> &amp; entities &#x4e2d;.</p>
<ul><li>one</li><li>two</li></ul><table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>
<pre>code  block</pre></main><script>var x = 1;</script></body></html>`;
  const csv =
    'id,name,comment\n1,Alice,"said ""hi"", then left"\n2,Bob,"line one\nline two"\n3,Carol,plain\n';
  return [
    { name: 'generated-pdf', format: 'pdf', bytes: await pdf.save() },
    { name: 'generated-docx', format: 'docx', bytes: new Uint8Array(docx) },
    { name: 'generated-html', format: 'html', bytes: encoder.encode(html) },
    { name: 'generated-csv', format: 'csv', bytes: encoder.encode(csv) },
  ];
}

/** PDF, DOCX, HTML and CSV files under `directory` up to `maxBytes` each, sorted by path. */
export function directorySeeds(directory: string, maxBytes: number): FuzzSeed[] {
  const seeds: FuzzSeed[] = [];
  for (const relative of readdirSync(directory, { recursive: true }).map(String).sort()) {
    const extension = path.extname(relative).slice(1).toLowerCase();
    if (extension !== 'pdf' && extension !== 'docx' && extension !== 'html' && extension !== 'csv') continue;
    const file = path.join(directory, relative);
    const size = statSync(file).size;
    if (size === 0 || size > maxBytes) continue;
    seeds.push({ name: relative, format: extension, bytes: new Uint8Array(readFileSync(file)) });
  }
  return seeds;
}

/** A seeded xorshift32 generator returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 0x9e3779b9;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}
