/* global localStorage, XMLHttpRequest, TextDecoder, FormData */
// The portal's only link to the server: the API key and calls to /v1.

const KEY_STORAGE = 'docent.apiKey';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function getKey() {
  return localStorage.getItem(KEY_STORAGE) ?? '';
}

export function setKey(key) {
  localStorage.setItem(KEY_STORAGE, key.trim());
}

export function forgetKey() {
  localStorage.removeItem(KEY_STORAGE);
}

/** Called with the error when the server rejects the key, so that the page can ask for another. */
let onUnauthorized = () => {};
export function handleUnauthorized(callback) {
  onUnauthorized = callback;
}

function headers(extra = {}) {
  return { Authorization: `Bearer ${getKey()}`, ...extra };
}

async function toError(response) {
  let code = 'HTTP_' + response.status;
  let message = `The server answered ${response.status} ${response.statusText}.`;
  try {
    const body = await response.json();
    if (body?.error) ({ code, message } = body.error);
  } catch {
    // Not JSON: keep the status line.
  }
  const error = new ApiError(response.status, code, message);
  if (response.status === 401) onUnauthorized(error);
  return error;
}

/** Sends a JSON request to /v1 and returns the parsed body; raises ApiError with the server's message. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const response = await fetch(`/v1${path}`, {
    method,
    headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await toError(response);
  if (response.status === 204) return null;
  return response.json();
}

/**
 * Uploads one file with XMLHttpRequest, which reports upload progress (fetch does not).
 * Resolves with the per-file result of POST /v1/documents.
 */
export function uploadFile(file, collection, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', '/v1/documents');
    request.setRequestHeader('Authorization', `Bearer ${getKey()}`);
    request.responseType = 'json';
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    request.onerror = () =>
      reject(new ApiError(0, 'NETWORK', 'The upload failed: the server could not be reached.'));
    request.onload = () => {
      const body = request.response;
      const fileResult = body?.documents?.[0];
      if (request.status === 202 || (request.status === 422 && fileResult)) {
        if (fileResult?.error) reject(new ApiError(422, fileResult.error.code, fileResult.error.message));
        else resolve(fileResult);
        return;
      }
      const error = new ApiError(
        request.status,
        body?.error?.code ?? 'HTTP_' + request.status,
        body?.error?.message ?? `The server answered ${request.status}.`,
      );
      if (request.status === 401) onUnauthorized(error);
      reject(error);
    };
    const form = new FormData();
    form.append('collection', collection);
    form.append('files', file, file.name);
    request.send(form);
  });
}

/**
 * POSTs to a server-sent events endpoint and calls `onEvent(name, data)` for each event.
 * EventSource cannot send a body or headers, so the stream is read from fetch.
 */
export async function postEvents(path, body, onEvent, signal) {
  const response = await fetch(`/v1${path}`, {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await toError(response);

  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let boundary;
    while ((boundary = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      let name = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) name = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data !== '') onEvent(name, JSON.parse(data));
    }
  }
}
