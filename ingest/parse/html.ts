// domhandler is htmlparser2's DOM; only its types are imported, the guards below stand in for its helpers.
import type { AnyNode, Element, Text } from 'domhandler';
import { findAll, findOne, getAttributeValue, hasAttrib, textContent } from 'domutils';
import { ElementType } from 'htmlparser2';
import { decodeText } from './decode.ts';
import { parseMarkup } from './markup.ts';
import { DocumentBuilder } from './document-builder.ts';
import type { ParsedDocument } from './types.ts';

/** Elements whose content is never document text. */
const IGNORED_TAGS = new Set([
  'script',
  'style',
  'noscript',
  'template',
  'svg',
  'math',
  'canvas',
  'iframe',
  'object',
  'embed',
  'head',
  'button',
  'select',
  'input',
  'textarea',
  'map',
]);

/** Page furniture, dropped unless it sits inside the main content (an article's own header, say). */
const BOILERPLATE_TAGS = new Set(['nav', 'aside', 'header', 'footer']);
const BOILERPLATE_ROLES = new Set(['navigation', 'banner', 'contentinfo', 'complementary', 'search']);

const BLOCK_TAGS = new Set([
  'address',
  'article',
  'body',
  'center',
  'details',
  'dialog',
  'div',
  'fieldset',
  'figcaption',
  'figure',
  'form',
  'hgroup',
  'html',
  'legend',
  'main',
  'section',
  'summary',
  'caption',
  'tbody',
  'thead',
  'tfoot',
  'tr',
  'td',
  'th',
  'li',
  'dd',
  'dt',
  'hr',
]);

const HEADING_LEVELS: Record<string, number> = { h1: 1, h2: 2, h3: 3, h4: 4, h5: 5, h6: 6 };

export interface HtmlOptions {
  /** Keep only `<main>` or a single `<article>` when present, and drop navigation, headers and footers. */
  readonly extractMainContent: boolean;
  readonly mediaType: string;
  /** True when ordered list items already begin with their number (as in converted DOCX), so items get a `- ` marker. */
  readonly numbersInText?: boolean;
}

/**
 * Decodes HTML bytes with the charset the document declares (byte order mark first, then
 * `<meta charset>` or `http-equiv` Content-Type), falling back to detection.
 */
export function decodeHtml(bytes: Uint8Array): string {
  return decodeText(bytes, declaredCharset(bytes)).text;
}

/**
 * Parses HTML into blocks: headings with their level, paragraphs, lists, tables (one row a line,
 * cells separated by ` | `, the first row in `header`), `<pre>` kept verbatim as code, quotes.
 */
export function parseHtml(html: string, options: HtmlOptions): ParsedDocument {
  const document = parseMarkup(html, {
    decodeEntities: true,
    lowerCaseTags: true,
    lowerCaseAttributeNames: true,
  });
  const builder = new DocumentBuilder();

  const root = options.extractMainContent ? findContentRoot(document.children) : undefined;
  const walker = new BlockWalker(builder, options.extractMainContent, options.numbersInText ?? false);
  if (root !== undefined) walker.walk(root, true);
  else for (const node of document.children) walker.walk(node, false);
  walker.flush();

  const titleElement = findOne((element) => element.name === 'title', document.children, true);
  const title = titleElement === null ? firstHeading(document.children) : collapse(textContent(titleElement));
  return builder.build(options.mediaType, title);
}

/** Extracts the text of an HTML fragment (e.g. raw HTML inside Markdown), without structure. */
export function htmlFragmentToText(html: string): string {
  const document = parseMarkup(html, { decodeEntities: true });
  return inlineText(document.children).trim();
}

class BlockWalker {
  private inline = '';

  constructor(
    private readonly builder: DocumentBuilder,
    private readonly dropBoilerplate: boolean,
    private readonly numbersInText: boolean,
  ) {}

  /** `insideMain` is true below `<main>` or `<article>`, where headers and footers are content. */
  walk(node: AnyNode, insideMain: boolean): void {
    if (isText(node)) {
      this.inline += node.data.replace(/\s+/g, ' ');
      return;
    }
    if (!isTag(node) || isHidden(node)) return;

    const tag = node.name;
    if (IGNORED_TAGS.has(tag)) return;
    if (this.dropBoilerplate && !insideMain && isBoilerplate(node)) return;
    const inside = insideMain || tag === 'main' || tag === 'article';

    const level = HEADING_LEVELS[tag];
    if (level !== undefined) {
      this.flush();
      this.builder.addBlock('heading', collapse(inlineText(node.children)), { level });
      return;
    }

    switch (tag) {
      case 'br':
        this.inline += '\n';
        return;
      case 'a': {
        // A link made only of an image is named by the image's alt text.
        if (textContent(node).trim() === '') {
          const alt = findAll((element) => element.name === 'img', node.children)
            .map((image) => getAttributeValue(image, 'alt') ?? '')
            .join(' ');
          this.inline += ` ${alt} `;
          return;
        }
        break;
      }
      case 'ul':
      case 'ol':
      case 'dl':
      case 'menu':
        this.flush();
        this.builder.addBlock('list', listText(node, 0, this.numbersInText));
        return;
      case 'table':
        this.flush();
        this.addTable(node);
        return;
      case 'pre':
        this.flush();
        this.builder.addBlock('code', preText(node.children));
        return;
      case 'blockquote':
        this.flush();
        this.builder.addBlock('quote', blockText(node.children));
        return;
      case 'p':
        this.flush();
        for (const child of node.children) this.walk(child, inside);
        this.flush();
        return;
      default:
        break;
    }

    if (BLOCK_TAGS.has(tag)) {
      this.flush();
      for (const child of node.children) this.walk(child, inside);
      this.flush();
      return;
    }
    for (const child of node.children) this.walk(child, inside);
  }

  flush(): void {
    const text = this.inline
      .split('\n')
      .map((line) => line.trim())
      .join('\n')
      .replace(/\n{2,}/g, '\n');
    this.inline = '';
    this.builder.addBlock('paragraph', text);
  }

  private addTable(table: Element): void {
    const caption = findOne((element) => element.name === 'caption', table.children, false);
    if (caption !== null) this.builder.addBlock('paragraph', collapse(inlineText(caption.children)));

    const rows = tableRows(table).map((cells) => cells.join(' | '));
    const nonEmpty = rows.filter((row) => row.replace(/[\s|]/g, '') !== '');
    if (nonEmpty.length === 0) return;
    this.builder.addBlock('table', nonEmpty.join('\n'), nonEmpty.length > 1 ? { header: nonEmpty[0]! } : {});
  }
}

/**
 * Returns the rows of a table (not of tables nested in its cells) as a grid: a cell spanning
 * several columns or rows is repeated in each, so that every row reads completely. A row made only
 * of cells that continue into the next rows (a row header over a group) is folded into those rows.
 */
export function tableRows(table: Element): string[][] {
  const rowElements: Element[] = [];
  const collectRows = (nodes: AnyNode[]): void => {
    for (const node of nodes) {
      if (!isTag(node)) continue;
      if (node.name === 'tr') rowElements.push(node);
      else if (node.name === 'thead' || node.name === 'tbody' || node.name === 'tfoot')
        collectRows(node.children);
    }
  };
  collectRows(table.children);

  const rows: string[][] = [];
  // Cells from earlier rows that still cover a column: text and how many more rows they cover.
  const carried = new Map<number, { text: string; rows: number }>();
  rowElements.forEach((rowElement, rowIndex) => {
    const cells: string[] = [];
    let onlySpanning = true;
    const fillCarried = (): void => {
      let entry = carried.get(cells.length);
      while (entry !== undefined) {
        cells.push(entry.text);
        entry.rows -= 1;
        if (entry.rows === 0) carried.delete(cells.length - 1);
        entry = carried.get(cells.length);
      }
    };

    for (const cell of rowElement.children) {
      if (!isTag(cell) || (cell.name !== 'td' && cell.name !== 'th')) continue;
      fillCarried();
      const text = collapse(blockText(cell.children).replace(/\n+/g, ' '));
      const columns = spanAttribute(cell, 'colspan', 100);
      const rowsLeft = rowElements.length - rowIndex - 1;
      const extraRows = Math.min(spanAttribute(cell, 'rowspan', 10_000) - 1, rowsLeft);
      if (extraRows <= 0) onlySpanning = false;
      for (let index = 0; index < columns; index += 1) {
        if (extraRows > 0) carried.set(cells.length, { text, rows: extraRows });
        cells.push(text);
      }
    }
    const lastColumn = Math.max(-1, ...carried.keys());
    while (cells.length <= lastColumn) {
      const entry = carried.get(cells.length);
      if (entry === undefined) cells.push('');
      else fillCarried();
    }

    const foldable =
      onlySpanning &&
      cells.length > 0 &&
      rowIndex < rowElements.length - 1 &&
      cells.every((_, column) => carried.has(column) || cells[column] === '');
    if (foldable) {
      // The carried cells already repeat this row's text in the rows below.
      return;
    }
    rows.push(cells);
  });
  return rows;
}

function spanAttribute(cell: Element, name: 'colspan' | 'rowspan', maximum: number): number {
  const value = Number.parseInt(getAttributeValue(cell, name) ?? '1', 10);
  return Number.isFinite(value) && value >= 1 ? Math.min(value, maximum) : 1;
}

function listText(list: Element, depth: number, numbersInText = false): string {
  const indent = '  '.repeat(depth);
  const lines: string[] = [];
  let number = Number.parseInt(getAttributeValue(list, 'start') ?? '1', 10) || 1;

  for (const item of list.children) {
    if (!isTag(item) || isHidden(item)) continue;
    if (item.name === 'dt' || item.name === 'dd') {
      const text = collapse(blockText(item.children));
      if (text !== '') lines.push(`${indent}${item.name === 'dd' ? '  ' : ''}${text}`);
      continue;
    }
    if (item.name !== 'li') continue;

    const marker = list.name === 'ol' && !numbersInText ? `${number}. ` : '- ';
    number += 1;
    const own: AnyNode[] = [];
    const nested: string[] = [];
    for (const child of item.children) {
      if (isTag(child) && (child.name === 'ul' || child.name === 'ol' || child.name === 'dl'))
        nested.push(listText(child, depth + 1, numbersInText));
      else own.push(child);
    }
    const text = blockText(own)
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .join(`\n${indent}  `);
    lines.push(`${indent}${marker}${text}`, ...nested);
  }
  return lines.join('\n');
}

/** Text of block content with one line per block element and whitespace collapsed within lines. */
function blockText(nodes: AnyNode[]): string {
  let text = '';
  const visit = (node: AnyNode): void => {
    if (isText(node)) {
      text += node.data.replace(/\s+/g, ' ');
      return;
    }
    if (!isTag(node) || isHidden(node) || IGNORED_TAGS.has(node.name)) return;
    if (node.name === 'br') {
      text += '\n';
      return;
    }
    if (node.name === 'pre') {
      text += `\n${preText(node.children)}\n`;
      return;
    }
    if (node.name === 'table') {
      text += `\n${tableRows(node)
        .map((cells) => cells.join(' | '))
        .join('\n')}\n`;
      return;
    }
    if (node.name === 'ul' || node.name === 'ol' || node.name === 'dl') {
      text += `\n${listText(node, 0)}\n`;
      return;
    }
    const isBlock = BLOCK_TAGS.has(node.name) || node.name === 'p' || HEADING_LEVELS[node.name] !== undefined;
    if (isBlock) text += '\n';
    for (const child of node.children) visit(child);
    if (isBlock) text += '\n';
    else if (node.name === 'td' || node.name === 'th') text += ' ';
  };
  for (const node of nodes) visit(node);
  return text
    .split('\n')
    .map((line) => line.replace(/ {2,}/g, ' ').trim())
    .filter((line) => line !== '')
    .join('\n');
}

function inlineText(nodes: AnyNode[]): string {
  return blockText(nodes).replace(/\n+/g, ' ');
}

function preText(nodes: AnyNode[]): string {
  let text = '';
  const visit = (node: AnyNode): void => {
    if (isText(node)) text += node.data;
    else if (isTag(node)) {
      if (node.name === 'br') text += '\n';
      else if (!IGNORED_TAGS.has(node.name)) for (const child of node.children) visit(child);
    }
  };
  for (const node of nodes) visit(node);
  return text;
}

function isTag(node: AnyNode): node is Element {
  return node.type === ElementType.Tag || node.type === ElementType.Script || node.type === ElementType.Style;
}

function isText(node: AnyNode): node is Text {
  return node.type === ElementType.Text;
}

function collapse(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function isHidden(element: Element): boolean {
  if (hasAttrib(element, 'hidden') || getAttributeValue(element, 'aria-hidden') === 'true') return true;
  const style = getAttributeValue(element, 'style');
  return style !== undefined && /display\s*:\s*none|visibility\s*:\s*hidden/i.test(style);
}

function isBoilerplate(element: Element): boolean {
  if (BOILERPLATE_TAGS.has(element.name)) return true;
  const role = getAttributeValue(element, 'role');
  return role !== undefined && BOILERPLATE_ROLES.has(role.toLowerCase());
}

/** Finds the `<main>` element (or `role="main"`), else the only `<article>`, else returns undefined (use the whole page). */
function findContentRoot(nodes: AnyNode[]): Element | undefined {
  const main = findOne(
    (element) => element.name === 'main' || getAttributeValue(element, 'role') === 'main',
    nodes,
    true,
  );
  if (main !== null && textContent(main).trim() !== '') return main;
  const articles = findAll((element) => element.name === 'article', nodes);
  if (articles.length === 1 && textContent(articles[0]!).trim() !== '') return articles[0];
  return undefined;
}

function firstHeading(nodes: AnyNode[]): string | undefined {
  const heading = findOne((element) => element.name === 'h1', nodes, true);
  return heading === null ? undefined : collapse(textContent(heading));
}

/** Reads the charset an HTML document declares in its first 4 KiB, if any. */
function declaredCharset(bytes: Uint8Array): string | undefined {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 4096)).toString(
    'latin1',
  );
  const meta = /<meta[^>]+charset\s*=\s*["']?\s*([\w:.-]+)/i.exec(head);
  return meta?.[1];
}
