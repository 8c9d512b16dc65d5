import type { List, ListItem, Nodes, RootContent, Table } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmFromMarkdown } from 'mdast-util-gfm';
import { gfm } from 'micromark-extension-gfm';
import { DocumentBuilder } from './document-builder.ts';
import { htmlFragmentToText } from './html.ts';
import type { ParsedDocument } from './types.ts';

/**
 * Parses Markdown (CommonMark with GitHub extensions) into blocks taken from the syntax tree:
 * headings keep their depth, code blocks and tables stay whole, and inline syntax (emphasis,
 * link targets) is dropped from the text.
 */
export function parseMarkdown(source: string): ParsedDocument {
  const tree = fromMarkdown(source, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] });
  const builder = new DocumentBuilder();
  let title: string | undefined;

  for (const node of tree.children) {
    if (node.type === 'heading' && node.depth === 1 && title === undefined) title = inlineText(node);
    addNode(builder, node);
  }
  return builder.build('text/markdown', title);
}

function addNode(builder: DocumentBuilder, node: RootContent): void {
  switch (node.type) {
    case 'heading':
      builder.addBlock('heading', inlineText(node), { level: node.depth });
      return;
    case 'paragraph':
      builder.addBlock('paragraph', inlineText(node));
      return;
    case 'list':
      builder.addBlock('list', listText(node, 0));
      return;
    case 'table': {
      const rows = tableRows(node);
      builder.addBlock('table', rows.join('\n'), rows.length > 1 ? { header: rows[0]! } : {});
      return;
    }
    case 'code':
      builder.addBlock('code', node.value);
      return;
    case 'blockquote':
      builder.addBlock('quote', node.children.map((child) => blockText(child, 0)).join('\n\n'));
      return;
    case 'html':
      builder.addBlock('paragraph', htmlFragmentToText(node.value));
      return;
    case 'footnoteDefinition':
      builder.addBlock(
        'paragraph',
        `[^${node.label ?? node.identifier}]: ${node.children.map((child) => blockText(child, 0)).join(' ')}`,
      );
      return;
    default:
      // Thematic breaks, link definitions and front matter carry no document text.
      return;
  }
}

/** Renders any block node as plain text, indenting nested lists by `depth` levels. */
function blockText(node: Nodes, depth: number): string {
  switch (node.type) {
    case 'list':
      return listText(node, depth);
    case 'table':
      return tableRows(node).join('\n');
    case 'code':
      return node.value;
    case 'html':
      return htmlFragmentToText(node.value);
    case 'blockquote':
    case 'footnoteDefinition':
      return node.children.map((child) => blockText(child, depth)).join('\n');
    default:
      return inlineText(node);
  }
}

function listText(list: List, depth: number): string {
  const indent = '  '.repeat(depth);
  const start = list.start ?? 1;
  return list.children
    .map((item, index) => {
      const marker = list.ordered === true ? `${start + index}. ` : '- ';
      return `${indent}${marker}${listItemText(item, depth)}`;
    })
    .join('\n');
}

function listItemText(item: ListItem, depth: number): string {
  let checkbox = '';
  if (item.checked === true) checkbox = '[x] ';
  else if (item.checked === false) checkbox = '[ ] ';
  const parts: string[] = [];
  for (const child of item.children) {
    if (child.type === 'list') parts.push(`\n${listText(child, depth + 1)}`);
    else parts.push((parts.length > 0 ? '\n' + '  '.repeat(depth + 1) : '') + blockText(child, depth + 1));
  }
  return checkbox + parts.join('');
}

function tableRows(table: Table): string[] {
  return table.children.map((row) =>
    row.children.map((cell) => inlineText(cell).replace(/\s+/g, ' ').trim()).join(' | '),
  );
}

/** Concatenates the text of inline content, keeping image descriptions and hard breaks. */
function inlineText(node: Nodes): string {
  switch (node.type) {
    case 'text':
    case 'inlineCode':
      return node.value;
    case 'html':
      return htmlFragmentToText(node.value);
    case 'break':
      return '\n';
    case 'image':
      return node.alt ?? '';
    case 'footnoteReference':
      return `[^${node.label ?? node.identifier}]`;
    default:
      return 'children' in node ? node.children.map((child) => inlineText(child)).join('') : '';
  }
}
