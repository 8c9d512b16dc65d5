import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDocentServer, type DocentServerProcess } from './docent-process.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';
const SAMPLE_PDF = path.resolve(ROOT, '../shared/data/docs/docling/pdf/sources/multi_page.pdf');
const hasPdf = existsSync(SAMPLE_PDF);

const NOTES = `# Lighthouse keeping

The Fresnel lens lets a lighthouse beam reach sailors forty kilometres out at sea.
Keepers trimmed the lamp wick every four hours through the night.

# Markup that must stay text

<script>window.injected = true;</script><b>not bold</b>
`;
/** A file name with markup: the portal must show it as text, not run it. */
const HOSTILE_NAME = '<img src=x onerror=alert(1)>notes.txt';

if (!hasPdf) console.warn(`Skipping the PDF upload: ${SAMPLE_PDF} is absent (it comes with ../shared/data).`);

describe.skipIf(!existsSync(CHROMIUM))(
  `portal in ${CHROMIUM} (install it with apt-get install chromium)`,
  () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'docent-e2e-'));
    const filesDir = mkdtempSync(path.join(tmpdir(), 'docent-e2e-files-'));
    let server: DocentServerProcess;
    let browser: Browser;
    let page: Page;
    const dialogs: string[] = [];
    const missing: string[] = [];

    beforeAll(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      writeFileSync(path.join(filesDir, HOSTILE_NAME), NOTES);
      server = await startDocentServer({ DOCENT_DATA_DIR: dataDir });
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      });
      page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on('response', (response) => {
        if (response.status() === 404) missing.push(response.url());
      });
      page.on('dialog', (dialog) => {
        // The portal asks before deleting; any other dialog (an alert) would mean injected script ran.
        if (dialog.type() === 'confirm') {
          void dialog.accept();
          return;
        }
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
    });

    afterAll(async () => {
      await browser?.close();
      await server?.stop();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(filesDir, { recursive: true, force: true });
    });

    it('takes the key from the link and uploads files', async () => {
      await page.goto(`${server.url}/#key=${server.key}`);
      await page.waitForSelector('#whoami:has-text("admin key")');
      expect(page.url()).not.toContain(server.key);

      await page.fill('#upload-collection', 'e2e');
      const files = [path.join(filesDir, HOSTILE_NAME), ...(hasPdf ? [SAMPLE_PDF] : [])];
      await page.setInputFiles('#file-input', files);
      await page.waitForFunction(
        (count) => document.querySelectorAll('.file-row[data-state="done"]').length === count,
        files.length,
        { timeout: 120_000 },
      );
      await page.screenshot({ path: path.join(ARTIFACTS, 'portal-upload.png'), fullPage: true });
      const details = await page.locator('.file-row .detail').allTextContents();
      expect(details.every((text) => /\d+ chunks?/.test(text))).toBe(true);
    });

    it('lists documents with hostile names as text', async () => {
      await page.goto(`${server.url}/#documents`);
      await page.waitForSelector('#documents-body tr[data-document-id]');
      const names = await page.locator('#documents-body tr td:first-child').allTextContents();
      expect(names).toContain(HOSTILE_NAME);
      expect(await page.locator('#documents-body img').count()).toBe(0);
      await page.screenshot({ path: path.join(ARTIFACTS, 'portal-documents.png'), fullPage: true });
    });

    async function askAndOpenCitation(
      question: string,
    ): Promise<{ answer: string; marked: string; page: string }> {
      await page.goto(`${server.url}/#ask`);
      await page.waitForSelector('#ask-collection option[value="e2e"]', { state: 'attached' });
      await page.selectOption('#ask-collection', 'e2e');
      await page.check('#show-chunks');
      await page.fill('#ask-question', question);
      await page.click('#ask-submit');
      await page.waitForSelector('#answer[data-state="done"] button.citation', { timeout: 60_000 });
      await page.locator('#answer button.citation').first().click();
      await page.waitForSelector('#citation-text mark');
      await page.waitForSelector('#retrieved-body tr');
      return {
        answer: (await page.textContent('#answer')) ?? '',
        marked: (await page.locator('#citation-text mark').first().textContent()) ?? '',
        page: (await page.textContent('#citation-page')) ?? '',
      };
    }

    it('streams an answer and highlights the cited span', async () => {
      const result = await askAndOpenCitation('How far does the Fresnel lens beam reach?');
      expect(result.answer).toContain('forty kilometres');
      expect(result.marked).toContain('Fresnel lens');
      expect(result.page).toContain('No page numbers');
      await page.screenshot({ path: path.join(ARTIFACTS, 'portal-ask-text.png'), fullPage: true });
    });

    it('shows document markup as text, never running it', async () => {
      await askAndOpenCitation('What markup must stay text? not bold script');
      const retrieved = (await page.textContent('#retrieved-body')) ?? '';
      expect(retrieved).toContain('<script>window.injected = true;</script><b>not bold</b>');
      expect(
        await page.evaluate(() => (window as unknown as { injected?: boolean }).injected),
      ).toBeUndefined();
      expect(await page.locator('#answer b, #citation-text b, #retrieved-body b').count()).toBe(0);
      expect(dialogs).toEqual([]);
    });

    it.skipIf(!hasPdf)('cites a page of the uploaded PDF', async () => {
      const result = await askAndOpenCitation('In which year was the typewriter patented?');
      expect(result.answer).toContain('1868');
      expect(result.page).toMatch(/^Page \d+$/);
      expect(result.marked.length).toBeGreaterThan(0);
      await page.screenshot({ path: path.join(ARTIFACTS, 'portal-ask-pdf.png'), fullPage: true });
    });

    it('runs a reindex from the admin page', async () => {
      await page.goto(`${server.url}/#admin`);
      await page.waitForSelector('#reindex-collection option[value="e2e"]', { state: 'attached' });
      await page.selectOption('#reindex-collection', 'e2e');
      await page.click('#reindex-form button[type="submit"]');
      await page.waitForSelector('#reindex-status:has-text("Reindex finished")', { timeout: 120_000 });
      await page.waitForSelector('#keys-body tr');
      await page.screenshot({ path: path.join(ARTIFACTS, 'portal-admin.png'), fullPage: true });
    });

    it('deletes a document from the documents page', async () => {
      await page.goto(`${server.url}/#documents`);
      const row = page.locator('#documents-body tr', { hasText: 'notes.txt' });
      await row.locator('button', { hasText: 'Delete' }).click();
      await page.waitForFunction(
        () =>
          ![...document.querySelectorAll('#documents-body td')].some((cell) =>
            cell.textContent?.includes('notes.txt'),
          ),
        undefined,
        { timeout: 30_000 },
      );
      expect(dialogs).toEqual([]);
    });

    it('serves every file it links', async () => {
      // Headless Chromium does not fetch the page icon by itself, so the test fetches it.
      const icon = (await page.getAttribute('link[rel="icon"]', 'href')) ?? '';
      expect(icon).not.toBe('');
      const response = await page.request.get(new URL(icon, server.url).toString());
      expect(response.status()).toBe(200);
      expect(missing).toEqual([]);
    });
  },
);
