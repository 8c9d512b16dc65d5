/**
 * Reading-order reconstruction for one PDF page from positioned text items. Items are grouped
 * into segments (runs on one baseline without a wide gap). Segments are grouped into columns
 * (split at a vertical gutter that no body line crosses) and lines. Lines become headings,
 * paragraphs, lists and table rows. Coordinates are PDF user space: y grows upwards, units are points.
 */

export interface PositionedText {
  readonly text: string;
  /** Left edge and baseline. */
  readonly x: number;
  readonly y: number;
  readonly width: number;
  /** Font size in points. */
  readonly size: number;
  readonly rtl: boolean;
  /** True when the item's font is monospaced (pdf.js reports its fallback family as `monospace`). */
  readonly monospace?: boolean;
}

export interface Segment {
  readonly items: PositionedText[];
  readonly x0: number;
  readonly x1: number;
  readonly y: number;
  readonly size: number;
  readonly text: string;
}

export interface Line {
  readonly segments: Segment[];
  readonly x0: number;
  readonly x1: number;
  readonly y: number;
  readonly size: number;
  /** True when every item of the line is set in a monospaced font. */
  readonly monospace: boolean;
}

export type LayoutBlock =
  | { readonly kind: 'heading'; readonly text: string; readonly size: number }
  | { readonly kind: 'paragraph' | 'list' | 'code'; readonly text: string }
  | { readonly kind: 'table'; readonly rows: string[] };

const CJK = /[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]/u;
const RTL = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]/u;
const NUMERIC_END = /[\d%)]\s*$/u;
const NUMERIC_START = /^\s*[-+−(]?[\d.,]*\d/u;
const LIST_MARKER = /^(?:[•◦▪▫●○■□‣⁃∙·–—*-]\s|\(?\d{1,3}[.)]\s|\(?[a-z][.)]\s)/u;

/** Splits the items of one baseline into segments wherever the horizontal gap exceeds `gapFactor` font sizes. */
export function buildSegments(items: readonly PositionedText[], gapFactor = 1.0): Segment[] {
  const lines = groupByBaseline(
    items.filter((item) => item.text.trim() !== ''),
    (item) => item.y,
    (item) => item.size,
  );
  const segments: Segment[] = [];
  for (const lineItems of lines) {
    lineItems.sort((a, b) => a.x - b.x);
    const rtl = isMostlyRtl(lineItems.map((item) => item.text).join(''));
    let current: PositionedText[] = [];
    let right = -Infinity;
    for (const item of lineItems) {
      const gap = item.x - right;
      const size = Math.max(item.size, 4);
      const previous = current.at(-1);
      // Numbers in neighbouring table cells often sit closer than a word gap of prose allows.
      const numericCells =
        previous !== undefined &&
        gap > 0.45 * size &&
        NUMERIC_END.test(previous.text) &&
        NUMERIC_START.test(item.text);
      if (current.length > 0 && (gap > gapFactor * size || numericCells)) {
        segments.push(makeSegment(current, rtl));
        current = [];
      }
      current.push(item);
      right = Math.max(right, item.x + item.width);
    }
    if (current.length > 0) segments.push(makeSegment(current, rtl));
  }
  return segments;
}

/** Builds a segment, ordering its items right to left when its whole line is mostly right-to-left script. */
function makeSegment(items: PositionedText[], rtl: boolean): Segment {
  const ordered = rtl ? [...items].sort((a, b) => b.x + b.width - (a.x + a.width)) : items;
  let text = '';
  let previous: PositionedText | undefined;
  for (const item of ordered) {
    if (previous !== undefined) {
      const gap = rtl ? previous.x - (item.x + item.width) : item.x - (previous.x + previous.width);
      const last = text.slice(-1);
      const next = item.text[0] ?? '';
      const needsSpace =
        !/\s/.test(last) &&
        !/\s/.test(next) &&
        ((gap > 0.12 * Math.max(item.size, 1) && !(CJK.test(last) && CJK.test(next))) ||
          changesDirection(last, next));
      if (needsSpace) text += ' ';
    }
    text += item.text;
    previous = item;
  }
  const x0 = Math.min(...items.map((item) => item.x));
  const x1 = Math.max(...items.map((item) => item.x + item.width));
  const size = median(items.map((item) => item.size));
  if (rtl) text = repairLamAlef(text);
  return {
    items,
    x0,
    x1,
    y: median(items.map((item) => item.y)),
    size,
    text: text.replace(/\s+/g, ' ').trim(),
  };
}

/**
 * Restores the order of a lam-alef ligature in the Arabic definite article: fonts that map the
 * ligature glyph to two characters come out of visual-order text reversed, e.g. "اإلنتاجية" for
 * "الإنتاجية". Only the hamza forms are repaired, because an alef is never followed by a hamza
 * alef in Arabic, while "ال" inside a word is often correct.
 */
function repairLamAlef(text: string): string {
  return text.replace(/ا([أإآ])ل/gu, 'ال$1');
}

/** Groups values whose baselines lie within half a font size of each other, top line first. */
function groupByBaseline<T>(
  values: readonly T[],
  baseline: (value: T) => number,
  size: (value: T) => number,
): T[][] {
  const sorted = [...values].sort((a, b) => baseline(b) - baseline(a));
  const groups: { y: number; size: number; members: T[] }[] = [];
  for (const value of sorted) {
    const y = baseline(value);
    const tolerance = 0.5 * Math.min(size(value), 20);
    const group = groups.find(
      (candidate) => Math.abs(candidate.y - y) <= Math.max(tolerance, 0.5 * Math.min(candidate.size, 20)),
    );
    if (group === undefined) groups.push({ y, size: size(value), members: [value] });
    else group.members.push(value);
  }
  return groups.map((group) => group.members);
}

/**
 * Orders segments for reading. Where a vertical gutter separates two columns of body text, the
 * page is read in horizontal bands, split by segments that cross the gutter (such as titles).
 * Each band is read left column first, then right column, recursively for more columns.
 */
export function orderSegments(segments: readonly Segment[], depth = 0): Segment[][] {
  const split = depth < 3 ? findGutter(segments) : undefined;
  if (split === undefined) return [segments.slice()];

  const regions: Segment[][] = [];
  let left: Segment[] = [];
  let right: Segment[] = [];
  const flush = (): void => {
    if (left.length > 0) regions.push(...orderSegments(left, depth + 1));
    if (right.length > 0) regions.push(...orderSegments(right, depth + 1));
    left = [];
    right = [];
  };
  for (const segment of [...segments].sort((a, b) => b.y - a.y)) {
    if (segment.x1 <= split.start + 1) left.push(segment);
    else if (segment.x0 >= split.end - 1) right.push(segment);
    else {
      flush();
      regions.push([segment]);
    }
  }
  flush();
  return regions;
}

interface Gutter {
  readonly start: number;
  readonly end: number;
}

function findGutter(segments: readonly Segment[]): Gutter | undefined {
  if (segments.length < 8) return undefined;
  const minX = Math.floor(Math.min(...segments.map((segment) => segment.x0)));
  const maxX = Math.ceil(Math.max(...segments.map((segment) => segment.x1)));
  const width = maxX - minX;
  if (width < 100) return undefined;

  const coverage = new Array<number>(width + 1).fill(0);
  for (const segment of segments) {
    for (
      let x = Math.max(0, Math.floor(segment.x0) - minX);
      x <= Math.min(width, Math.ceil(segment.x1) - minX);
      x += 1
    )
      coverage[x]! += 1;
  }

  // Search the middle of the text area for the widest run of least coverage.
  const from = Math.floor(width * 0.2);
  const to = Math.ceil(width * 0.8);
  let best: { start: number; end: number; count: number } | undefined;
  let x = from;
  while (x <= to) {
    const count = coverage[x]!;
    let end = x;
    while (end + 1 <= to && coverage[end + 1] === count) end += 1;
    if (best === undefined || count < best.count || (count === best.count && end - x > best.end - best.start))
      best = { start: x, end, count };
    x = end + 1;
  }
  if (best === undefined) return undefined;

  const gutter = { start: best.start + minX, end: best.end + 1 + minX };
  const bodySize = median(segments.map((segment) => segment.size));
  if (gutter.end - gutter.start < Math.max(0.8 * bodySize, 6)) return undefined;

  const left = segments.filter((segment) => segment.x1 <= gutter.start + 1);
  const right = segments.filter((segment) => segment.x0 >= gutter.end - 1);
  const crossing = segments.length - left.length - right.length;
  if (left.length < 4 || right.length < 4 || crossing > 0.25 * (left.length + right.length)) return undefined;

  // Most characters of a column of body text sit on lines that fill its width, while in the
  // columns of a table they sit in narrower cells.
  const leftWidth = gutter.start - Math.min(...left.map((segment) => segment.x0));
  const rightWidth = Math.max(...right.map((segment) => segment.x1)) - gutter.end;
  const fills = (side: Segment[], columnWidth: number): boolean => {
    const total = side.reduce((sum, segment) => sum + segment.text.length, 0);
    const filling = side
      .filter((segment) => segment.x1 - segment.x0 >= 0.6 * columnWidth)
      .reduce((sum, segment) => sum + segment.text.length, 0);
    return filling >= 0.5 * total;
  };
  if (!fills(left, leftWidth) || !fills(right, rightWidth)) return undefined;
  if (Math.min(leftWidth, rightWidth) < 0.2 * width) return undefined;
  return gutter;
}

/** Groups the segments of one region into lines, top first; segments of a line are in reading order. */
export function buildLines(region: readonly Segment[]): Line[] {
  return groupByBaseline(
    region,
    (segment) => segment.y,
    (segment) => segment.size,
  ).map((segments) => {
    const rtl = isMostlyRtl(segments.map((segment) => segment.text).join(''));
    segments.sort((a, b) => (rtl ? b.x1 - a.x1 : a.x0 - b.x0));
    return {
      segments,
      x0: Math.min(...segments.map((segment) => segment.x0)),
      x1: Math.max(...segments.map((segment) => segment.x1)),
      y: Math.max(...segments.map((segment) => segment.y)),
      size: Math.max(...segments.map((segment) => segment.size)),
      monospace: segments.every((segment) => segment.items.every((item) => item.monospace === true)),
    };
  });
}

/** True between a right-to-left letter and a left-to-right letter or digit, which never touch in running text. */
function changesDirection(last: string, next: string): boolean {
  const isLtr = (character: string): boolean => /[\p{L}\p{N}]/u.test(character) && !RTL.test(character);
  return (RTL.test(last) && isLtr(next)) || (isLtr(last) && RTL.test(next));
}

function isMostlyRtl(text: string): boolean {
  let rtl = 0;
  let ltr = 0;
  for (const character of text) {
    if (RTL.test(character)) rtl += 1;
    else if (/\p{L}/u.test(character)) ltr += 1;
  }
  return rtl > ltr;
}

/**
 * Turns the lines of one region into blocks. Table rows (see `markTableRows`) keep their cells
 * separated by ` | `. A line set in a font larger than the body is a heading. Other lines join
 * into paragraphs (see `joinLines`), and a vertical gap, an indent or a list marker starts a new one.
 */
export function buildBlocks(lines: readonly Line[], bodySize: number): LayoutBlock[] {
  const blocks: LayoutBlock[] = [];
  const pitch = linePitch(lines);
  const left = Math.min(...lines.map((line) => line.x0));
  const right = Math.max(...lines.map((line) => line.x1));
  let paragraph: { text: string; list: boolean; last: Line } | undefined;
  let table: TableRow[] = [];
  let code: Line[] = [];

  const flushParagraph = (): void => {
    if (paragraph !== undefined)
      blocks.push({ kind: paragraph.list ? 'list' : 'paragraph', text: paragraph.text });
    paragraph = undefined;
  };
  const flushTable = (): void => {
    const texts = table.map((row) => row.cells.map((cell) => cell.text).join(' | '));
    if (texts.length > 1) blocks.push({ kind: 'table', rows: texts });
    else if (texts.length === 1) blocks.push({ kind: 'paragraph', text: texts[0]! });
    table = [];
  };
  const flushCode = (): void => {
    if (code.length > 0) blocks.push({ kind: 'code', text: codeText(code) });
    code = [];
  };
  const lineGapLimit = (line: Line, previous: Line): number =>
    pitch === undefined ? 1.8 * Math.max(line.size, previous.size) : 1.35 * pitch;

  const lineText = (line: Line): string => line.segments.map((segment) => segment.text).join(' ');
  // A section number and its title, set apart in a large font, align like two table cells.
  // Heading-sized lines are therefore never table rows.
  const isHeading = (line: Line): boolean => {
    const text = lineText(line);
    return line.size >= bodySize * 1.15 && text.length <= 200 && /\p{L}/u.test(text);
  };
  const headings = lines.map(isHeading);
  const rows = markTableRows(lines, headings);
  for (const [index, line] of lines.entries()) {
    const text = lineText(line);
    const heading = headings[index] === true;

    // Lines set entirely in a monospaced font are code; their indentation is kept.
    if (line.monospace) {
      flushParagraph();
      flushTable();
      const previous = code.at(-1);
      if (previous !== undefined && previous.y - line.y > 1.6 * lineGapLimit(line, previous)) flushCode();
      code.push(line);
      continue;
    }
    flushCode();

    const lastRow = table.at(-1);
    if (lastRow !== undefined && !heading && continuesCells(line, lastRow)) {
      for (const segment of line.segments) {
        const cell = overlappingCell(segment, lastRow)!;
        cell.text = joinLines(cell.text, segment.text);
      }
      lastRow.line = line;
      continue;
    }
    // A row below a wrapped cell has the wrapped line as its neighbour, so it aligns with the row above.
    if (rows[index] === true || (lastRow !== undefined && !heading && isTableRow(line, lastRow.anchor))) {
      flushParagraph();
      table.push({
        anchor: line,
        line,
        cells: line.segments.map((segment) => ({ x0: segment.x0, x1: segment.x1, text: segment.text })),
      });
      continue;
    }
    flushTable();

    if (heading) {
      const previous = blocks.at(-1);
      if (
        paragraph === undefined &&
        previous?.kind === 'heading' &&
        Math.abs(previous.size - line.size) < 0.5
      ) {
        blocks[blocks.length - 1] = {
          kind: 'heading',
          text: `${previous.text} ${text}`,
          size: previous.size,
        };
      } else {
        flushParagraph();
        blocks.push({ kind: 'heading', text, size: line.size });
      }
      continue;
    }

    const startsList = LIST_MARKER.test(text);
    if (paragraph !== undefined) {
      const previous = paragraph.last;
      const gap = previous.y - line.y;
      const previousText = previous.segments.map((segment) => segment.text).join(' ');
      const separated =
        gap < 0 || gap > lineGapLimit(line, previous) || Math.abs(line.size - previous.size) > 1.5;
      const indented =
        !paragraph.list && line.x0 - left > 0.8 * line.size && previous.x0 - left < 0.3 * line.size;
      const endedShort = previous.x1 < right - 0.15 * (right - left) && /[.!?:。」)]$/u.test(previousText);

      // Items of one list stay in one block, even when an item ends with a full stop.
      if (startsList && paragraph.list && !separated) {
        paragraph = { text: `${paragraph.text}\n${text}`, list: true, last: line };
        continue;
      }
      if (!startsList && !separated && !indented && !endedShort) {
        paragraph = { text: joinLines(paragraph.text, text), list: paragraph.list, last: line };
        continue;
      }
      flushParagraph();
    }
    paragraph = { text, list: startsList, last: line };
  }
  flushParagraph();
  flushTable();
  flushCode();
  return blocks;
}

interface TableRow {
  /** The line that started the row. */
  readonly anchor: Line;
  /** The row's last line, which moves down as wrapped cell text is added. */
  line: Line;
  readonly cells: { readonly x0: number; readonly x1: number; text: string }[];
}

/**
 * Tests whether a line continues cells of the row above, whose text wrapped: it sits within one
 * line pitch below, has fewer segments than the row has cells, leaves the first cell empty, and
 * each of its segments lies under a cell of the row.
 *
 * NOTE: wrapped text in a row's first cell cannot be told from a new row, so it starts one.
 */
function continuesCells(line: Line, row: TableRow): boolean {
  const [first] = row.cells;
  if (first === undefined || line.segments.length >= row.cells.length) return false;
  if (row.line.y - line.y > 1.5 * Math.max(line.size, row.line.size) || row.line.y <= line.y) return false;
  return line.segments.every((segment) => {
    const cell = overlappingCell(segment, row);
    return cell !== undefined && cell !== first;
  });
}

/** The cell of `row` that covers most of the segment's width, if it covers at least half of it. */
function overlappingCell(segment: Segment, row: TableRow): TableRow['cells'][number] | undefined {
  let best: TableRow['cells'][number] | undefined;
  let bestOverlap = 0;
  for (const cell of row.cells) {
    const overlap = Math.min(segment.x1, cell.x1) - Math.max(segment.x0, cell.x0);
    if (overlap > bestOverlap) [best, bestOverlap] = [cell, overlap];
  }
  return bestOverlap >= 0.5 * (segment.x1 - segment.x0) ? best : undefined;
}

/** Renders code lines one per line, indented by their offset from the leftmost line in character widths. */
function codeText(lines: readonly Line[]): string {
  const left = Math.min(...lines.map((line) => line.x0));
  const widths = lines.flatMap((line) =>
    line.segments.map((segment) => (segment.x1 - segment.x0) / Math.max(1, [...segment.text].length)),
  );
  const characterWidth = Math.max(median(widths), 0.1);
  return lines
    .map(
      (line) =>
        ' '.repeat(Math.min(80, Math.round((line.x0 - left) / characterWidth))) +
        line.segments.map((segment) => segment.text).join(' '),
    )
    .join('\n');
}

/**
 * Marks the lines that are table rows. First, a line of two or more segments aligned with such a
 * neighbour is a row. Then, repeatedly, a line of two or more segments next to a row is one too,
 * because a cell spanning two rows sits between their baselines and aligns with neither. Heading
 * lines are never rows, nor the neighbours that rows align with.
 */
function markTableRows(lines: readonly Line[], headings: readonly boolean[]): boolean[] {
  const candidate = (index: number): Line | undefined =>
    headings[index] === true ? undefined : lines[index];
  const rows = lines.map(
    (line, index) =>
      headings[index] !== true &&
      (isTableRow(line, candidate(index - 1)) || isTableRow(line, candidate(index + 1))),
  );
  let changed = true;
  while (changed) {
    changed = false;
    lines.forEach((line, index) => {
      if (rows[index] === true || line.segments.length < 2 || headings[index] === true) return;
      if (rows[index - 1] === true || rows[index + 1] === true) {
        rows[index] = true;
        changed = true;
      }
    });
  }
  return rows;
}

/**
 * Tests whether a line of two or more segments aligns with a neighbouring line of two or more
 * segments: one of its later segments starts, ends or is centred where a neighbour segment does.
 * Wide gaps in a single justified line do not make it a row.
 */
function isTableRow(line: Line, neighbour: Line | undefined): boolean {
  if (neighbour === undefined || line.segments.length < 2 || neighbour.segments.length < 2) return false;
  const tolerance = 0.6 * Math.max(line.size, neighbour.size);
  const [first, ...later] = [...line.segments].sort((a, b) => a.x0 - b.x0);
  if (first === undefined) return false;
  return later.some((segment) =>
    neighbour.segments.some(
      (other) =>
        Math.abs(segment.x0 - other.x0) < tolerance ||
        Math.abs(segment.x1 - other.x1) < tolerance ||
        Math.abs((segment.x0 + segment.x1) / 2 - (other.x0 + other.x1) / 2) < tolerance,
    ),
  );
}

/** Estimates the usual distance between baselines of running text in a region; undefined with fewer than three samples. */
function linePitch(lines: readonly Line[]): number | undefined {
  const gaps: number[] = [];
  for (let index = 1; index < lines.length; index += 1) {
    const previous = lines[index - 1]!;
    const line = lines[index]!;
    const gap = previous.y - line.y;
    if (
      previous.segments.length === 1 &&
      line.segments.length === 1 &&
      Math.abs(previous.size - line.size) < 0.5 &&
      gap > 0
    )
      gaps.push(gap);
  }
  if (gaps.length < 3) return undefined;
  return Math.max(median(gaps), 0.9 * median(lines.map((line) => line.size)));
}

/**
 * Joins two lines of running text: a line-end hyphen followed by a lower-case letter splits a
 * word and is removed, a soft hyphen is removed, and Chinese, Japanese or Korean characters join
 * without a space.
 */
export function joinLines(previous: string, next: string): string {
  if (previous.endsWith('\u00AD')) return previous.slice(0, -1) + next;
  if (/\p{L}-$/u.test(previous) && /^\p{Ll}/u.test(next)) return previous.slice(0, -1) + next;
  // A hyphen before a capital or digit belongs to a compound such as "Lucene-BM25".
  if (/\p{L}-$/u.test(previous) && /^[\p{Lu}\p{N}]/u.test(next)) return previous + next;
  if (CJK.test(previous.slice(-1)) && CJK.test(next[0] ?? '')) return previous + next;
  return `${previous} ${next}`;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
