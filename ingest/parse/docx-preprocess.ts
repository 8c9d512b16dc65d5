import type { AnyNode, Document as XmlDocument, Element } from 'domhandler';
import {
  append,
  findAll,
  getAttributeValue,
  getOuterHTML,
  prependChild,
  replaceElement,
  textContent,
} from 'domutils';
import { ElementType } from 'htmlparser2';
import JSZip from 'jszip';
import { parseMarkup } from './markup.ts';

/**
 * Rewrites the main part of a DOCX so that mammoth keeps two things it otherwise drops. Numbered
 * headings and list items get their numbers ("2.1 Scope"), computed from numbering.xml, because
 * mammoth turns them into plain `<ol>` lists. Equations (Office Math) become a linear text form
 * such as `x^{2}+\frac{a}{b}`. Returns undefined when the document has neither, so the original
 * bytes can be used as they are.
 *
 * NOTE: elements are matched by the conventional `w:` and `m:` prefixes, which Word and
 * LibreOffice write for both Transitional and Strict documents; a file that binds the
 * WordprocessingML namespace to another prefix is passed through unchanged.
 */
export async function preprocessDocx(bytes: Uint8Array): Promise<Uint8Array | undefined> {
  const zip = await JSZip.loadAsync(bytes);
  const mainPath = await findMainDocumentPath(zip);
  const mainFile = zip.file(mainPath);
  if (mainFile === null) return undefined;

  const xml = await mainFile.async('string');
  const directory = mainPath.slice(0, mainPath.lastIndexOf('/') + 1);
  const numberingXml = await zip.file(`${directory}numbering.xml`)?.async('string');
  const hasMath = xml.includes('<m:oMath');
  if (!hasMath && numberingXml === undefined) return undefined;

  const document = parseXml(xml);
  let changed = false;
  if (numberingXml !== undefined) {
    const stylesXml = await zip.file(`${directory}styles.xml`)?.async('string');
    changed =
      labelNumberedParagraphs(
        document,
        parseXml(numberingXml),
        stylesXml === undefined ? undefined : parseXml(stylesXml),
      ) || changed;
  }
  if (hasMath) changed = linearizeMath(document) || changed;
  if (!changed) return undefined;

  zip.file(mainPath, getOuterHTML(document, { xmlMode: true, encodeEntities: 'utf8' }));
  return zip.generateAsync({ type: 'uint8array', compression: 'STORE' });
}

function parseXml(xml: string): XmlDocument {
  return parseMarkup(xml, { xmlMode: true });
}

async function findMainDocumentPath(zip: JSZip): Promise<string> {
  const relationships = await zip.file('_rels/.rels')?.async('string');
  const target =
    relationships === undefined
      ? undefined
      : /<Relationship\b[^>]*Type="[^"]*\/officeDocument"[^>]*Target="\/?([^"]+)"/.exec(relationships)?.[1];
  const alternative =
    relationships === undefined
      ? undefined
      : /<Relationship\b[^>]*Target="\/?([^"]+)"[^>]*Type="[^"]*\/officeDocument"/.exec(relationships)?.[1];
  return target ?? alternative ?? 'word/document.xml';
}

function child(element: Element, name: string): Element | undefined {
  return element.children.find((node): node is Element => isElement(node) && node.name === name);
}

function children(element: Element, name: string): Element[] {
  return element.children.filter((node): node is Element => isElement(node) && node.name === name);
}

function value(element: Element | undefined, name: string): string | undefined {
  if (element === undefined) return undefined;
  const found = child(element, name);
  return found === undefined ? undefined : getAttributeValue(found, 'w:val');
}

function isElement(node: AnyNode): node is Element {
  return node.type === ElementType.Tag;
}

/** Parses a small XML fragment into its first element, for inserting runs. */
function fragment(xml: string): Element {
  const parsed = parseXml(xml).children.find(isElement);
  if (parsed === undefined) throw new Error(`invalid XML fragment: ${xml}`);
  return parsed;
}

function textRun(text: string): Element {
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return fragment(`<w:r><w:t xml:space="preserve">${escaped}</w:t></w:r>`);
}

// ---------------------------------------------------------------------------------------------
// Numbered headings

interface NumberingLevel {
  readonly start: number;
  readonly format: string;
  readonly text: string;
  readonly legal: boolean;
}

interface Numbering {
  /** Levels of each abstract numbering definition, by abstractNumId then level. */
  readonly abstract: Map<string, Map<number, NumberingLevel>>;
  /** Numbering instances: numId to abstractNumId and start overrides per level. */
  readonly instances: Map<string, { abstractId: string; startOverrides: Map<number, number> }>;
}

interface StyleInfo {
  readonly name: string;
  readonly basedOn: string | undefined;
  readonly numId: string | undefined;
  readonly level: number | undefined;
}

/**
 * Prefixes each numbered paragraph (headings and ordered list items) with its number as Word
 * shows it, e.g. "2.3.1.": one counter per abstract numbering definition and level, deeper levels
 * restarting when a shallower one advances. Bulleted paragraphs are left alone.
 */
function labelNumberedParagraphs(
  document: XmlDocument,
  numberingDocument: XmlDocument,
  stylesDocument: XmlDocument | undefined,
): boolean {
  const numbering = readNumbering(numberingDocument);
  const styles = readStyles(stylesDocument);
  const counters = new Map<string, (number | undefined)[]>();
  const seenInstances = new Set<string>();
  let changed = false;

  for (const paragraph of findAll((element) => element.name === 'w:p', document.children)) {
    const properties = child(paragraph, 'w:pPr');
    const styleId = value(properties, 'w:pStyle');
    const reference = numberingReference(properties, styleId, styles);
    if (reference === undefined) continue;
    const instance = numbering.instances.get(reference.numId);
    const levels = instance === undefined ? undefined : numbering.abstract.get(instance.abstractId);
    const level = levels?.get(reference.level);
    if (instance === undefined || levels === undefined || level === undefined) continue;

    const counter = counters.get(instance.abstractId) ?? [];
    counters.set(instance.abstractId, counter);
    if (!seenInstances.has(reference.numId)) {
      seenInstances.add(reference.numId);
      for (const overridden of instance.startOverrides.keys()) counter[overridden] = undefined;
    }
    const startOf = (index: number): number =>
      instance.startOverrides.get(index) ?? levels.get(index)?.start ?? 1;
    // Word shows an unused shallower level at its start value and counts from there afterwards.
    for (let index = 0; index < reference.level; index += 1) counter[index] ??= startOf(index);
    const current = counter[reference.level];
    counter[reference.level] = current === undefined ? startOf(reference.level) : current + 1;
    counter.length = reference.level + 1;

    if (level.format === 'bullet' || level.format === 'none') continue;
    const label = level.text.replace(/%(\d)/g, (_, digit: string) => {
      const index = Number(digit) - 1;
      const format = level.legal ? 'decimal' : (levels.get(index)?.format ?? 'decimal');
      return formatNumber(counter[index] ?? startOf(index), format);
    });
    if (label.trim() === '') continue;

    const run = textRun(`${label.trim()} `);
    if (properties === undefined) prependChild(paragraph, run);
    else append(properties, run);
    changed = true;
  }
  return changed;
}

function numberingReference(
  properties: Element | undefined,
  styleId: string | undefined,
  styles: Map<string, StyleInfo>,
): { numId: string; level: number } | undefined {
  const direct = properties === undefined ? undefined : child(properties, 'w:numPr');
  if (direct !== undefined) {
    const numId = value(direct, 'w:numId');
    if (numId === undefined || numId === '0') return undefined;
    return { numId, level: Number(value(direct, 'w:ilvl') ?? '0') };
  }

  // Numbering inherited from the paragraph style or one it is based on.
  const seen = new Set<string>();
  let style = styleId === undefined ? undefined : styles.get(styleId);
  while (style !== undefined && !seen.has(style.name)) {
    seen.add(style.name);
    if (style.numId !== undefined)
      return style.numId === '0' ? undefined : { numId: style.numId, level: style.level ?? 0 };
    style = style.basedOn === undefined ? undefined : styles.get(style.basedOn);
  }
  return undefined;
}

function readNumbering(document: XmlDocument): Numbering {
  const abstract = new Map<string, Map<number, NumberingLevel>>();
  for (const definition of findAll((element) => element.name === 'w:abstractNum', document.children)) {
    const id = getAttributeValue(definition, 'w:abstractNumId');
    if (id === undefined) continue;
    const levels = new Map<number, NumberingLevel>();
    for (const level of children(definition, 'w:lvl')) {
      levels.set(Number(getAttributeValue(level, 'w:ilvl') ?? '0'), {
        start: Number(value(level, 'w:start') ?? '1'),
        format: value(level, 'w:numFmt') ?? 'decimal',
        text: value(level, 'w:lvlText') ?? '',
        legal: child(level, 'w:isLgl') !== undefined,
      });
    }
    abstract.set(id, levels);
  }

  const instances = new Map<string, { abstractId: string; startOverrides: Map<number, number> }>();
  for (const instance of findAll((element) => element.name === 'w:num', document.children)) {
    const id = getAttributeValue(instance, 'w:numId');
    const abstractId = value(instance, 'w:abstractNumId');
    if (id === undefined || abstractId === undefined) continue;
    const startOverrides = new Map<number, number>();
    for (const override of children(instance, 'w:lvlOverride')) {
      const start = value(override, 'w:startOverride');
      if (start !== undefined)
        startOverrides.set(Number(getAttributeValue(override, 'w:ilvl') ?? '0'), Number(start));
    }
    instances.set(id, { abstractId, startOverrides });
  }
  return { abstract, instances };
}

function readStyles(document: XmlDocument | undefined): Map<string, StyleInfo> {
  const styles = new Map<string, StyleInfo>();
  if (document === undefined) return styles;
  for (const style of findAll((element) => element.name === 'w:style', document.children)) {
    const id = getAttributeValue(style, 'w:styleId');
    if (id === undefined) continue;
    const numberingProperties = child(child(style, 'w:pPr') ?? style, 'w:numPr');
    const level = value(numberingProperties, 'w:ilvl');
    styles.set(id, {
      name: value(style, 'w:name') ?? id,
      basedOn: value(style, 'w:basedOn'),
      numId: value(numberingProperties, 'w:numId'),
      level: level === undefined ? undefined : Number(level),
    });
  }
  return styles;
}

function formatNumber(number: number, format: string): string {
  switch (format) {
    case 'lowerLetter':
      return letters(number).toLowerCase();
    case 'upperLetter':
      return letters(number);
    case 'lowerRoman':
      return roman(number).toLowerCase();
    case 'upperRoman':
      return roman(number);
    case 'decimalZero':
      return String(number).padStart(2, '0');
    default:
      return String(number);
  }
}

/** Word's letter numbering: A to Z, then AA to ZZ, and so on. */
function letters(number: number): string {
  if (number < 1) return String(number);
  const letter = String.fromCharCode(65 + ((number - 1) % 26));
  return letter.repeat(Math.floor((number - 1) / 26) + 1);
}

function roman(number: number): string {
  if (number < 1 || number > 3999) return String(number);
  const numerals: [number, string][] = [
    [1000, 'M'],
    [900, 'CM'],
    [500, 'D'],
    [400, 'CD'],
    [100, 'C'],
    [90, 'XC'],
    [50, 'L'],
    [40, 'XL'],
    [10, 'X'],
    [9, 'IX'],
    [5, 'V'],
    [4, 'IV'],
    [1, 'I'],
  ];
  let rest = number;
  let text = '';
  for (const [amount, numeral] of numerals) {
    while (rest >= amount) {
      text += numeral;
      rest -= amount;
    }
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Office Math

/**
 * Replaces each equation (`m:oMathPara` or a free-standing `m:oMath`) by a text run holding its
 * linear form, in the LaTeX-like notation of fractions, scripts and roots that readers of
 * technical text recognise. Symbols stay Unicode (π, ∑).
 */
function linearizeMath(document: XmlDocument): boolean {
  const equations = findAll(
    (element) =>
      element.name === 'm:oMathPara' ||
      (element.name === 'm:oMath' &&
        element.parent !== null &&
        (element.parent as Element).name !== 'm:oMathPara'),
    document.children,
  );
  for (const equation of equations) {
    const text =
      equation.name === 'm:oMathPara'
        ? children(equation, 'm:oMath')
            .map((math) => mathText(math))
            .join(' ')
        : mathText(equation);
    const run = textRun(` ${text.trim()} `);
    if (equation.name === 'm:oMathPara' && (equation.parent as Element | null)?.name === 'w:p')
      replaceElement(equation, run);
    else if (equation.name === 'm:oMathPara')
      replaceElement(
        equation,
        fragment(`<w:p>${getOuterHTML(run, { xmlMode: true, encodeEntities: 'utf8' })}</w:p>`),
      );
    else replaceElement(equation, run);
  }
  return equations.length > 0;
}

function mathText(element: Element): string {
  const part = (name: string): string => {
    const found = child(element, name);
    return found === undefined ? '' : mathText(found);
  };
  const property = (properties: string, name: string, fallback: string): string => {
    const found = child(child(element, properties) ?? element, name);
    return found === undefined ? fallback : (getAttributeValue(found, 'm:val') ?? fallback);
  };

  switch (element.name) {
    case 'm:t':
      return textContent(element);
    case 'm:f':
      return `\\frac{${part('m:num')}}{${part('m:den')}}`;
    case 'm:sSup':
      return `${part('m:e')}^{${part('m:sup')}}`;
    case 'm:sSub':
      return `${part('m:e')}_{${part('m:sub')}}`;
    case 'm:sSubSup':
      return `${part('m:e')}_{${part('m:sub')}}^{${part('m:sup')}}`;
    case 'm:sPre':
      return `{}_{${part('m:sub')}}^{${part('m:sup')}}${part('m:e')}`;
    case 'm:rad': {
      const degree = part('m:deg');
      return degree === '' ? `\\sqrt{${part('m:e')}}` : `\\sqrt[${degree}]{${part('m:e')}}`;
    }
    case 'm:nary': {
      const operator = property('m:naryPr', 'm:chr', '∫');
      const lower = part('m:sub');
      const upper = part('m:sup');
      return `${operator}${lower === '' ? '' : `_{${lower}}`}${upper === '' ? '' : `^{${upper}}`} ${part('m:e')}`;
    }
    case 'm:d': {
      const open = property('m:dPr', 'm:begChr', '(');
      const close = property('m:dPr', 'm:endChr', ')');
      const separator = property('m:dPr', 'm:sepChr', '|');
      return `${open}${children(element, 'm:e')
        .map((inner) => mathText(inner))
        .join(separator)}${close}`;
    }
    case 'm:func':
      return `${part('m:fName')} ${part('m:e')}`;
    case 'm:limLow':
      return `${part('m:e')}_{${part('m:lim')}}`;
    case 'm:limUpp':
      return `${part('m:e')}^{${part('m:lim')}}`;
    case 'm:eqArr':
      return children(element, 'm:e')
        .map((row) => mathText(row))
        .join(' \\\\ ');
    case 'm:m':
      return children(element, 'm:mr')
        .map((row) =>
          children(row, 'm:e')
            .map((cell) => mathText(cell))
            .join(' & '),
        )
        .join(' \\\\ ');
    case 'm:rPr':
    case 'm:ctrlPr':
    case 'w:rPr':
      return '';
    default:
      if (element.name.endsWith('Pr')) return '';
      return element.children.map((node) => (isElement(node) ? mathText(node) : '')).join('');
  }
}
