/* global AbortController */
import { api, postEvents } from './api.js';
import { byId, clear, describeError, fillCollections, h } from './dom.js';

/** State of the answer on screen: its sources (numbered from 1) and citations as they arrive. */
const state = { sources: [], citations: [], text: '', controller: null };

export function setUpAsk() {
  byId('ask-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void ask();
  });
  byId('ask-stop').addEventListener('click', () => state.controller?.abort());
  byId('show-chunks').addEventListener('change', (event) => {
    byId('retrieved').hidden = !event.target.checked;
  });
}

export async function showAsk() {
  try {
    const { collections } = await api('/collections');
    fillCollections(
      byId('ask-collection'),
      collections.map((collection) => collection.name),
    );
  } catch (error) {
    byId('ask-error').textContent = describeError(error);
  }
}

async function ask() {
  const question = byId('ask-question').value.trim();
  const collection = byId('ask-collection').value;
  if (question === '') return;
  if (collection === '') {
    byId('ask-error').textContent = 'There is no collection yet. Upload documents first.';
    return;
  }

  state.controller?.abort();
  const controller = new AbortController();
  Object.assign(state, { sources: [], citations: [], text: '', controller });
  byId('ask-error').textContent = '';
  byId('citation-panel').hidden = true;
  byId('answer').dataset.state = 'streaming';
  renderAnswer();
  setBusy(true);

  const request = { question, collection, topK: 5 };
  void showRetrieved(question, collection, request.topK);
  try {
    await postEvents('/ask', { ...request, stream: true }, onEvent, controller.signal);
  } catch (error) {
    if (error.name !== 'AbortError') byId('ask-error').textContent = describeError(error);
  } finally {
    byId('answer').dataset.state = 'done';
    setBusy(false);
  }
}

function onEvent(name, data) {
  if (name === 'sources') state.sources = data.sources;
  else if (name === 'token') state.text += data.text;
  else if (name === 'citation') state.citations.push(data);
  else if (name === 'done') {
    state.text = data.answer;
    state.citations = data.citations;
  } else if (name === 'error') byId('ask-error').textContent = describeError(data);
  renderAnswer();
}

/** Renders the answer text with each [n] as a button that opens source n. */
function renderAnswer() {
  const answer = byId('answer');
  clear(answer);
  const parts = state.text.split(/(\[\d+\])/);
  for (const part of parts) {
    const match = /^\[(\d+)\]$/.exec(part);
    const source = match ? state.sources.find((candidate) => candidate.n === Number(match[1])) : undefined;
    if (source === undefined) {
      answer.append(part);
      continue;
    }
    const button = h(
      'button',
      { type: 'button', className: 'citation', 'data-n': source.n, title: source.source },
      `[${source.n}]`,
    );
    button.addEventListener('click', () => openCitation(source.n));
    answer.append(button);
  }
}

/** Shows source n with the spans its citations quote highlighted. */
function openCitation(n) {
  const source = state.sources.find((candidate) => candidate.n === n);
  if (source === undefined) return;
  byId('citation-panel').hidden = false;
  byId('citation-title').textContent = `[${n}] ${source.source}`;
  byId('citation-page').textContent =
    source.page === null ? 'No page numbers in this format' : `Page ${source.page}`;

  const spans = state.citations
    .filter((citation) => citation.n === n)
    .map((citation) => [
      Math.max(0, citation.start - source.start),
      Math.min(source.text.length, citation.end - source.start),
    ])
    .filter(([start, end]) => end > start)
    .sort((a, b) => a[0] - b[0]);
  const text = byId('citation-text');
  clear(text);
  let position = 0;
  for (const [start, end] of spans) {
    if (start < position) continue;
    text.append(source.text.slice(position, start), h('mark', {}, source.text.slice(start, end)));
    position = end;
  }
  text.append(source.text.slice(position));
  text.querySelector('mark')?.scrollIntoView({ block: 'nearest' });
}

/** Fills the retrieved-chunks table from /search with the same query, which reports each retriever's rank. */
async function showRetrieved(query, collection, topK) {
  const body = byId('retrieved-body');
  clear(body);
  try {
    const { results } = await api('/search', { method: 'POST', body: { query, collection, topK } });
    for (const result of results) {
      body.append(
        h(
          'tr',
          {},
          h('td', { className: 'number' }, `${result.fusedRank} (${result.fusedScore.toFixed(4)})`),
          h('td', { className: 'number' }, rankText(result.denseRank, result.denseScore)),
          h('td', { className: 'number' }, rankText(result.sparseRank, result.sparseScore)),
          h('td', {}, result.source),
          h('td', { className: 'number' }, result.page ?? ''),
          h('td', { className: 'chunk-text small' }, result.text),
        ),
      );
    }
  } catch (error) {
    body.append(h('tr', {}, h('td', { colSpan: 6, className: 'error' }, describeError(error))));
  }
}

function rankText(rank, score) {
  return rank === null ? '–' : `${rank} (${score.toFixed(4)})`;
}

function setBusy(busy) {
  byId('ask-submit').disabled = busy;
  byId('ask-stop').hidden = !busy;
}
