/* global setTimeout, clearTimeout, URLSearchParams */
import { api } from './api.js';
import { byId, clear, describeError, fillCollections, formatTime, h } from './dom.js';

const STATUS_TEXT = {
  queued: 'Queued',
  processing: 'Processing',
  indexed: 'Indexed',
  failed: 'Failed',
  needs_ocr: 'Needs OCR',
};

let refreshTimer;

export function setUpDocuments() {
  byId('documents-refresh').addEventListener('click', () => void showDocuments());
  byId('documents-collection').addEventListener('change', () => void showDocuments());
}

/** Loads the document list; refreshes itself while documents are still being processed. */
export async function showDocuments() {
  clearTimeout(refreshTimer);
  const error = byId('documents-error');
  error.textContent = '';
  const select = byId('documents-collection');
  try {
    const { collections } = await api('/collections');
    fillCollections(
      select,
      collections.map((collection) => collection.name),
      { allLabel: 'All collections' },
    );
    const query = new URLSearchParams({ limit: '500' });
    if (select.value !== '') query.set('collection', select.value);
    const { documents } = await api(`/documents?${query}`);
    render(documents);
    if (documents.some((document) => document.status === 'queued' || document.status === 'processing')) {
      refreshTimer = setTimeout(() => void showDocuments(), 2000);
    }
  } catch (failure) {
    error.textContent = describeError(failure);
  }
}

function render(documents) {
  const body = byId('documents-body');
  clear(body);
  if (documents.length === 0) {
    body.append(
      h(
        'tr',
        {},
        h('td', { colSpan: 7, className: 'muted' }, 'No documents yet. Upload some on the Upload page.'),
      ),
    );
    return;
  }
  for (const document of documents) {
    const status = h(
      'td',
      { className: `status-${document.status}` },
      STATUS_TEXT[document.status] ?? document.status,
    );
    if (document.errorMessage) status.append(h('div', { className: 'error small' }, document.errorMessage));
    const remove = h('button', { type: 'button', className: 'danger small' }, 'Delete');
    remove.addEventListener('click', () => void deleteDocument(document, remove));
    body.append(
      h(
        'tr',
        { 'data-document-id': document.id },
        h('td', { title: document.title ?? '' }, document.source),
        h('td', {}, document.collection),
        status,
        h('td', { className: 'number' }, document.chunkCount),
        h('td', { className: 'number' }, document.pageCount > 0 ? document.pageCount : '–'),
        h('td', {}, formatTime(document.updatedAt)),
        h('td', {}, remove),
      ),
    );
  }
}

async function deleteDocument(document, button) {
  if (!window.confirm(`Delete "${document.source}" from ${document.collection}?`)) return;
  button.disabled = true;
  button.textContent = 'Deleting';
  try {
    const { jobId } = await api(`/documents/${encodeURIComponent(document.id)}`, { method: 'DELETE' });
    for (let attempt = 0; attempt < 50; attempt++) {
      const job = await api(`/jobs/${encodeURIComponent(jobId)}`);
      if (job.state === 'completed' || job.state === 'failed') break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  } catch (failure) {
    byId('documents-error').textContent = describeError(failure);
  }
  await showDocuments();
}
