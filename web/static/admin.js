/* global setTimeout */
import { api } from './api.js';
import { byId, clear, describeError, fillCollections, formatTime, h, progressBar } from './dom.js';

export function setUpAdmin() {
  byId('reindex-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void startReindex();
  });
  byId('jobs-refresh').addEventListener('click', () => void showJobs());
  byId('jobs-state').addEventListener('change', () => void showJobs());
  byId('key-create-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void createKey();
  });
}

export async function showAdmin() {
  byId('admin-error').textContent = '';
  try {
    const { collections } = await api('/collections');
    fillCollections(
      byId('reindex-collection'),
      collections.map((collection) => collection.name),
      { allLabel: 'All collections' },
    );
  } catch (error) {
    byId('admin-error').textContent = describeError(error);
  }
  await Promise.all([showJobs(), showKeys()]);
}

async function startReindex() {
  const status = byId('reindex-status');
  clear(status);
  const collection = byId('reindex-collection').value;
  const embedder = byId('reindex-embedder').value.trim();
  const body = {};
  if (collection !== '') body.collection = collection;
  if (embedder !== '') body.embedder = embedder;
  try {
    const { jobId } = await api('/admin/reindex', { method: 'POST', body });
    const bar = progressBar(null, 'Reindex progress');
    const text = h('span', { className: 'detail' }, 'Waiting to start');
    status.append(bar, text);
    for (;;) {
      const job = await api(`/jobs/${encodeURIComponent(jobId)}`);
      if (job.progress && job.progress.total > 0) {
        bar.value = job.progress.done / job.progress.total;
        text.textContent = `${job.progress.done} of ${job.progress.total} chunks embedded`;
      }
      if (job.state === 'completed') {
        bar.value = 1;
        text.textContent = 'Reindex finished: queries now use the new dense index.';
        break;
      }
      if (job.state === 'failed') {
        text.textContent = `Reindex failed: ${job.failedReason ?? 'unknown reason'}. The old index is still in use.`;
        text.classList.add('error');
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 700));
    }
  } catch (error) {
    status.append(h('p', { className: 'error' }, describeError(error)));
  }
  await showJobs();
}

async function showJobs() {
  const body = byId('jobs-body');
  const state = byId('jobs-state').value;
  try {
    const { jobs } = await api(`/jobs?limit=100${state === '' ? '' : `&state=${encodeURIComponent(state)}`}`);
    clear(body);
    if (jobs.length === 0) body.append(h('tr', {}, h('td', { colSpan: 6, className: 'muted' }, 'No jobs.')));
    for (const job of jobs) {
      const progress = job.progress ? `${job.progress.done} / ${job.progress.total}` : '';
      body.append(
        h(
          'tr',
          { className: `job-${job.state}` },
          h('td', {}, job.type),
          h('td', {}, job.state),
          h('td', { className: 'number' }, progress),
          h('td', { className: 'number' }, `${job.attemptsMade} of ${job.maxAttempts}`),
          h('td', {}, formatTime(job.createdAt)),
          h('td', { className: job.failedReason ? 'error small' : '' }, job.failedReason ?? ''),
        ),
      );
    }
  } catch (error) {
    clear(body);
    body.append(h('tr', {}, h('td', { colSpan: 6, className: 'error' }, describeError(error))));
  }
}

async function showKeys() {
  const body = byId('keys-body');
  try {
    const { keys } = await api('/admin/keys');
    clear(body);
    for (const key of keys) {
      const revoke = h('button', { type: 'button', className: 'danger small' }, 'Revoke');
      revoke.addEventListener('click', () => void revokeKey(key));
      body.append(
        h(
          'tr',
          {},
          h('td', { className: 'small' }, key.id),
          h('td', {}, key.role),
          h('td', {}, key.collections === null ? 'all' : key.collections.join(', ')),
          h('td', {}, key.label ?? ''),
          h('td', {}, formatTime(key.lastUsedAt)),
          h('td', {}, revoke),
        ),
      );
    }
  } catch (error) {
    clear(body);
    body.append(h('tr', {}, h('td', { colSpan: 6, className: 'error' }, describeError(error))));
  }
}

async function createKey() {
  const collections = byId('key-collections')
    .value.split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const label = byId('key-label').value.trim();
  const body = { role: byId('key-role').value };
  if (collections.length > 0) body.collections = collections;
  if (label !== '') body.label = label;
  const notice = byId('new-key');
  try {
    const created = await api('/admin/keys', { method: 'POST', body });
    notice.hidden = false;
    notice.textContent = `New ${created.role} key (shown only now, copy it): ${created.key}`;
  } catch (error) {
    byId('admin-error').textContent = describeError(error);
  }
  await showKeys();
}

async function revokeKey(key) {
  if (!window.confirm(`Revoke the ${key.role} key ${key.id}? Clients using it will be rejected.`)) return;
  try {
    await api(`/admin/keys/${encodeURIComponent(key.id)}`, { method: 'DELETE' });
  } catch (error) {
    byId('admin-error').textContent = describeError(error);
  }
  await showKeys();
}
