import { createDeflateRaw, deflateRawSync } from 'node:zlib';
import JSZip from 'jszip';
import { afterAll, describe, expect, it } from 'vitest';
import { DocentError } from '../../core/errors.ts';
import { closeParseWorkers, parseDocument, type ParseLimits } from '../../ingest/parse/index.ts';

// Decompression and parser bombs (kind 2). Each input must end, within the parse time limit, in a
// DocentError with a specific code, or in a parse result; and the next ordinary file still parses.
// The single-entry DOCX bomb and the PDF page limit are also in ingest/parse/parse-document.test.ts.

const limits: ParseLimits = {
  timeoutMs: 30_000,
  maxMemoryMb: 192,
  maxPages: 1000,
  maxUnzippedMb: 8,
  ocrLanguages: 'eng',
};

/** Codes a hostile document may end in; INTERNAL or a plain Error would be a fault. */
export const DOCUMENT_FAILURE_CODES = new Set([
  'EMPTY_DOCUMENT',
  'UNSUPPORTED_MEDIA_TYPE',
  'ENCRYPTED_DOCUMENT',
  'NEEDS_OCR',
  'UNDECODABLE_TEXT',
  'PARSE_FAILED',
  'PARSE_LIMIT_EXCEEDED',
]);

const encoder = new TextEncoder();

async function outcome(
  bytes: Uint8Array,
  filename: string,
): Promise<{ parsed: boolean; code?: string; message?: string }> {
  try {
    await parseDocument({ bytes, filename }, limits);
    return { parsed: true };
  } catch (error) {
    expect(error, `${filename} failed with a non-Docent error`).toBeInstanceOf(DocentError);
    const failure = error as DocentError;
    expect(DOCUMENT_FAILURE_CODES.has(failure.code), `${filename}: ${failure.code} ${failure.message}`).toBe(
      true,
    );
    return { parsed: false, code: failure.code, message: failure.message };
  }
}

async function expectStillParses(): Promise<void> {
  const document = await parseDocument(
    { bytes: encoder.encode('An ordinary file after the bomb.'), filename: 'after.txt' },
    limits,
  );
  expect(document.text).toBe('An ordinary file after the bomb.');
}

const CONTENT_TYPES =
  '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>';
const RELS =
  '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>';

function wordDocument(body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${body}</w:body></w:document>`;
}

/** A minimal DOCX whose main part is `documentXml`, plus any extra entries. */
async function docx(documentXml: string, extra: Record<string, string> = {}): Promise<Uint8Array> {
  const zip = new JSZip();
  zip.file('[Content_Types].xml', CONTENT_TYPES);
  zip.file('_rels/.rels', RELS);
  zip.file('word/document.xml', documentXml);
  for (const [name, content] of Object.entries(extra)) zip.file(name, content);
  return zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE' });
}

/**
 * Writes a ZIP archive of deflated entries that declares `declaredSize` as every entry's
 * uncompressed size, whatever the data inflates to. CRC-32 fields are left 0; readers that
 * check them fail the archive, which is an acceptable outcome too.
 */
function writeZip(entries: ReadonlyArray<{ name: string; data: Buffer; declaredSize: number }>): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(entry.data.length, 18);
    local.writeUInt32LE(entry.declaredSize, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(entry.data.length, 20);
    central.writeUInt32LE(entry.declaredSize, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, entry.data);
    centrals.push(central, name);
    offset += local.length + name.length + entry.data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...locals, directory, end]));
}

/** A PDF with `pages` empty pages in one flat page tree, written by hand so it builds in milliseconds. */
function manyPagePdf(pages: number): Uint8Array {
  const objects: string[] = [];
  const kids = Array.from({ length: pages }, (_, index) => `${index + 3} 0 R`).join(' ');
  objects.push('<< /Type /Catalog /Pages 2 0 R >>');
  objects.push(`<< /Type /Pages /Count ${pages} /Kids [${kids}] >>`);
  for (let index = 0; index < pages; index += 1)
    objects.push('<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>');
  return writePdf(objects);
}

/** A one-page PDF whose page dictionary holds an array nested `depth` levels deep. */
function deeplyNestedPdf(depth: number): Uint8Array {
  const nested = `${'['.repeat(depth)}1${']'.repeat(depth)}`;
  return writePdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Count 1 /Kids [3 0 R] >>',
    `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Bomb ${nested} >>`,
  ]);
}

/** A PDF whose page tree is a chain of `depth` intermediate Pages nodes. */
function deepPageTreePdf(depth: number): Uint8Array {
  const objects = ['<< /Type /Catalog /Pages 2 0 R >>'];
  for (let level = 0; level < depth; level += 1) {
    const self = level + 2;
    const parent = level === 0 ? '' : `/Parent ${self - 1} 0 R `;
    objects.push(`<< /Type /Pages ${parent}/Count 1 /Kids [${self + 1} 0 R] >>`);
  }
  objects.push(`<< /Type /Page /Parent ${depth + 1} 0 R /MediaBox [0 0 200 200] >>`);
  return writePdf(objects);
}

function writePdf(objects: readonly string[]): Uint8Array {
  let body = '%PDF-1.7\n';
  const offsets: number[] = [];
  objects.forEach((object, index) => {
    offsets.push(body.length);
    body += `${index + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xref = body.length;
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) body += `${String(offset).padStart(10, '0')} 00000 n \n`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return encoder.encode(body);
}

afterAll(async () => {
  await closeParseWorkers();
});

describe('decompression bombs', () => {
  it('rejects a DOCX whose many entries add up past the limit', async () => {
    const extra = Object.fromEntries(
      Array.from({ length: 40 }, (_, index) => [`word/media/part${index}.xml`, 'A'.repeat(512 * 1024)]),
    );
    const bytes = await docx(wordDocument('<w:p><w:r><w:t>Small</w:t></w:r></w:p>'), extra);
    expect(bytes.length).toBeLessThan(200 * 1024);
    const result = await outcome(bytes, 'many-entries.docx');
    expect(result.code).toBe('PARSE_LIMIT_EXCEEDED');
    expect(result.message).toContain('DOCENT_PARSE_MAX_UNZIPPED_MB');
    await expectStillParses();
  });

  it('stops a DOCX whose entry sizes lie', async () => {
    // 256 MiB of one repeated paragraph, deflated to about a MiB, declared as 100 bytes.
    const paragraph = '<w:p><w:r><w:t>bomb</w:t></w:r></w:p>';
    const unit = Buffer.from(paragraph.repeat(Math.floor((1024 * 1024) / paragraph.length)));
    const head = Buffer.from(wordDocument('').replace('</w:body></w:document>', ''));
    const deflate = createDeflateRaw({ level: 1 });
    const compressed: Buffer[] = [];
    deflate.on('data', (chunk: Buffer) => compressed.push(chunk));
    const ended = new Promise((resolve) => deflate.on('end', resolve));
    deflate.write(head);
    for (let index = 0; index < 256; index += 1) deflate.write(unit);
    deflate.end(Buffer.from('</w:body></w:document>'));
    await ended;

    const bytes = writeZip([
      { name: '[Content_Types].xml', data: deflateRawSync(CONTENT_TYPES), declaredSize: 100 },
      { name: '_rels/.rels', data: deflateRawSync(RELS), declaredSize: 100 },
      { name: 'word/document.xml', data: Buffer.concat(compressed), declaredSize: 100 },
    ]);
    expect(bytes.length).toBeLessThan(4 * 1024 * 1024);

    const result = await outcome(bytes, 'lying.docx');
    expect(result.parsed).toBe(false);
    await expectStillParses();
  });

  it('bounds XML entity expansion in a DOCX', async () => {
    const entities = [
      '<!ENTITY a0 "lol lol lol lol lol lol lol lol lol lol">',
      ...Array.from({ length: 9 }, (_, index) => `<!ENTITY a${index + 1} "${`&a${index};`.repeat(10)}">`),
    ].join('');
    const xml = `<?xml version="1.0"?><!DOCTYPE w:document [${entities}]>${wordDocument(
      '<w:p><w:r><w:t>&a9;</w:t></w:r></w:p>',
    ).replace('<?xml version="1.0" encoding="UTF-8"?>', '')}`;
    const result = await outcome(await docx(xml), 'laughs.docx');
    if (!result.parsed) expect(result.code).toMatch(/PARSE_/);
    await expectStillParses();
  });
});

describe('parser bombs', () => {
  it('rejects a PDF with thousands of pages by its page count', async () => {
    const result = await outcome(manyPagePdf(5000), 'pages.pdf');
    expect(result.code).toBe('PARSE_LIMIT_EXCEEDED');
    expect(result.message).toContain('5000 pages');
    await expectStillParses();
  });

  it('fails a PDF with a deeply nested object on that file only', async () => {
    const result = await outcome(deeplyNestedPdf(200_000), 'nested.pdf');
    expect(result.parsed).toBe(false);
    await expectStillParses();
  });

  it('fails a PDF with a very deep page tree on that file only', async () => {
    const result = await outcome(deepPageTreePdf(20_000), 'deep-tree.pdf');
    expect(result.parsed).toBe(false);
    await expectStillParses();
  });

  it('bounds an HTML page with a million nested tags', async () => {
    const depth = 1_000_000;
    const html = `<!DOCTYPE html><html><body>${'<div>'.repeat(depth)}Deep text${'</div>'.repeat(depth)}</body></html>`;
    const result = await outcome(encoder.encode(html), 'nested.html');
    expect(result.code).toBe('PARSE_LIMIT_EXCEEDED');
    expect(result.message).toContain('levels deep');
    await expectStillParses();
  });

  it('parses HTML nested a thousand levels deep', async () => {
    const html = `<html><body>${'<div>'.repeat(1000)}Still readable${'</div>'.repeat(1000)}</body></html>`;
    const document = await parseDocument({ bytes: encoder.encode(html), filename: 'deep.html' }, limits);
    expect(document.text).toBe('Still readable');
  });

  it('bounds an HTML page with a million unclosed tags', async () => {
    const html = `<html><body>${'<span><b>'.repeat(500_000)}tail`;
    const result = await outcome(encoder.encode(html), 'unclosed.html');
    expect(result.code).toBe('PARSE_LIMIT_EXCEEDED');
    await expectStillParses();
  });
});
