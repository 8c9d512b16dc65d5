// DOM helpers. Every piece of data goes in as text (textContent or a text node), never as
// HTML, so a document containing markup or scripts shows as plain text.

/**
 * Creates an element. `properties` are set as properties (e.g. className, type, onclick) or,
 * for names with a dash, as attributes; children are nodes or strings (added as text).
 */
export function h(tag, properties = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(properties)) {
    if (value === undefined || value === null) continue;
    if (name.includes('-')) element.setAttribute(name, String(value));
    else element[name] = value;
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
  }
  return element;
}

export function byId(id) {
  return document.getElementById(id);
}

export function clear(element) {
  element.replaceChildren();
}

/** A progress bar: `value` in [0, 1], or null for an indeterminate one. */
export function progressBar(value, label) {
  const bar = h('progress', { max: 1, 'aria-label': label });
  if (value !== null) bar.value = value;
  return bar;
}

export function formatTime(value) {
  if (value === null || value === undefined) return '';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleString();
}

/** Fills a <select> with collection names, keeping the current choice when it still exists. */
export function fillCollections(select, names, { allLabel } = {}) {
  const current = select.value;
  clear(select);
  if (allLabel !== undefined) select.append(h('option', { value: '' }, allLabel));
  for (const name of names) select.append(h('option', { value: name }, name));
  if ([...select.options].some((option) => option.value === current)) select.value = current;
}

/** Plain-language text for an error from the API. */
export function describeError(error) {
  const messages = {
    NETWORK: 'The server could not be reached. Check that it is running.',
    UNAUTHORIZED: 'The API key was not accepted. Enter a valid key.',
    FORBIDDEN: 'This API key may not do that.',
    RATE_LIMITED: 'Too many requests with this key. Wait a moment and try again.',
  };
  return messages[error?.code] ?? error?.message ?? String(error);
}
