/* global setTimeout */
import { api, uploadFile } from './api.js';
import { byId, describeError, h, progressBar } from './dom.js';

/** Files uploaded at once; the rest wait their turn. */
const PARALLEL_UPLOADS = 2;
const POLL_MS = 700;

const FRIENDLY = {
  PAYLOAD_TOO_LARGE: 'This file is larger than the server accepts.',
  EMPTY_DOCUMENT: 'This file is empty or contains only spaces.',
  UNSUPPORTED_MEDIA_TYPE: 'This kind of file is not supported.',
  ENCRYPTED_DOCUMENT: 'This file is password-protected. Remove the password and upload it again.',
  NEEDS_OCR: 'This PDF has no text layer (it is scanned). It needs OCR before it can be searched.',
  UNDECODABLE_TEXT: 'The text of this file could not be decoded.',
  PARSE_FAILED: 'This file could not be read.',
  PARSE_LIMIT_EXCEEDED: 'This file exceeds a parsing limit (too many pages or too large when unpacked).',
};

function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function friendly(code, message) {
  const lead = FRIENDLY[code];
  return lead === undefined ? message : `${lead} (${message})`;
}

export function setUpUpload() {
  const zone = byId('drop-zone');
  const input = byId('file-input');
  const queue = [];
  let running = 0;

  const next = () => {
    while (running < PARALLEL_UPLOADS && queue.length > 0) {
      const task = queue.shift();
      running += 1;
      task().finally(() => {
        running -= 1;
        next();
      });
    }
  };
  const add = (files) => {
    const collection = byId('upload-collection').value.trim() || 'default';
    for (const file of files) {
      const row = new FileRow(file);
      byId('upload-list').prepend(row.element);
      queue.push(() => row.run(collection));
    }
    next();
  };

  input.addEventListener('change', () => {
    add([...input.files]);
    input.value = '';
  });
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    add([...event.dataTransfer.files]);
  });
}

/** One file's row: upload progress, then processing progress from its job, then the result. */
class FileRow {
  constructor(file) {
    this.file = file;
    this.status = h('span', { className: 'status' }, 'Waiting to upload');
    this.bar = progressBar(0, `Progress of ${file.name}`);
    this.detail = h('span', { className: 'detail' });
    this.element = h(
      'li',
      { className: 'file-row', 'data-filename': file.name },
      h('span', { className: 'name' }, file.name),
      this.bar,
      this.status,
      this.detail,
    );
  }

  async run(collection) {
    this.setStatus('Uploading', 'uploading');
    let result;
    try {
      result = await uploadFile(this.file, collection, (fraction) => {
        this.bar.value = fraction;
      });
    } catch (error) {
      this.fail(error.code ? friendly(error.code, describeError(error)) : describeError(error));
      return;
    }

    this.bar.value = 1;
    if (result.duplicate && result.jobId === null && result.status === 'indexed') {
      this.setStatus('Already in the collection', 'done');
      this.detail.textContent = `Same file as document ${result.documentId}.`;
      return;
    }
    this.setStatus('Processing', 'processing');
    this.bar.replaceWith((this.bar = progressBar(null, `Processing of ${this.file.name}`)));
    await this.follow(result.documentId, result.jobId);
  }

  async follow(documentId, jobId) {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      let document;
      try {
        // A duplicate of a file still being processed has no job of its own: follow the document only.
        const job = jobId === null ? null : await api(`/jobs/${encodeURIComponent(jobId)}`).catch(() => null);
        if (job?.progress && job.progress.total > 0) {
          this.bar.value = job.progress.done / job.progress.total;
          this.detail.textContent = `${job.progress.done} of ${job.progress.total} chunks embedded`;
        }
        if (job?.state === 'delayed')
          this.detail.textContent = `Retrying after an error: ${job.failedReason ?? ''}`;
        document = await api(`/documents/${encodeURIComponent(documentId)}`);
      } catch (error) {
        this.fail(describeError(error));
        return;
      }
      if (document.status === 'indexed') {
        this.bar.value = 1;
        this.setStatus('Indexed', 'done');
        const pages = document.pageCount > 0 ? `, ${plural(document.pageCount, 'page')}` : '';
        this.detail.textContent = `${plural(document.chunkCount, 'chunk')}${pages}`;
        return;
      }
      if (document.status === 'failed' || document.status === 'needs_ocr') {
        this.fail(friendly(document.errorCode, document.errorMessage ?? 'Processing failed.'));
        return;
      }
    }
  }

  setStatus(text, state) {
    this.status.textContent = text;
    this.element.dataset.state = state;
  }

  fail(message) {
    this.setStatus('Failed', 'failed');
    this.detail.textContent = message;
    this.detail.classList.add('error');
  }
}
